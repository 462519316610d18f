"""The Fine-tune tab in a real browser, on a tiny random Llama typed in as hf:<folder> and an uploaded chat file:
a LoRA run plots its loss as it trains and ends done; a second run waits in the queue behind it and is
cancelled; a run cancelled after a checkpoint resumes from it (the page reloaded meanwhile) and finishes, its steps
continuing beyond the checkpoint.

Runs are held at known steps by a gate file (PHARMATUNE_STEP_GATE: while it holds N, training waits after step N),
so what the page must show while a run is still going never depends on how fast this machine trains."""
import json
import re
import time

from tests.conftest import ROOT

SCREENSHOTS = ROOT / ".cache"
CHAT = [{"messages": [{"role": "user", "content": f"Which enzyme does aspirin inhibit? (case {i})"},
                      {"role": "assistant", "content": "Aspirin irreversibly inhibits cyclooxygenase (COX-1 and COX-2)."}]}
        for i in range(40)]


def text_of(page, selector) -> str:
    return page.locator(selector).inner_text()


def wait_for_text(page, selector, needle, timeout=60, fail_on=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = text_of(page, selector)
        if needle in text:
            return text
        if fail_on and fail_on in text:
            raise AssertionError(f"{selector} says {fail_on!r} while waiting for {needle!r}: {text!r}")
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} not in {selector} after {timeout} s: {text_of(page, selector)!r}")


def step_of(page) -> int:
    """The step counter of the figures table ('12/60'), 0 before the first step."""
    # whole numbers only: while an update is in flight Gradio's overlay adds "processing | 0.2/0.1s" to the element
    found = re.search(r"(?<![\d.])(\d+)/(\d+)(?![\d.])", text_of(page, "#ft-figures"))
    return int(found.group(1)) if found else 0


def settles_at(page, step, timeout=30) -> bool:
    """The counter shows `step` once the page's last update has landed (a finished run's figures may still be
    re-rendering when its status already says done)."""
    deadline = time.time() + timeout
    while step_of(page) != step and time.time() < deadline:
        time.sleep(0.2)
    return step_of(page) == step


def wait_for_step(page, step, timeout=90):
    """Until the figures show `step` (a run held there by the gate) while the status still says running."""
    deadline = time.time() + timeout
    while step_of(page) != step or "running" not in text_of(page, "#ft-status"):
        status = text_of(page, "#ft-status")
        assert time.time() < deadline and "done" not in status and "failed" not in status, (step_of(page), status)
        time.sleep(0.2)


def plot_has_data(page, selector) -> bool:
    """A LinePlot with data draws a chart (vega); an empty one shows only its placeholder."""
    return page.locator(f"{selector} canvas, {selector} svg.marks").count() > 0


def fill(page, elem_id, value):
    box = page.locator(f"#{elem_id} input")
    box.fill(str(value))
    box.press("Tab")


def start(page, **numbers) -> str:
    for elem_id, value in numbers.items():
        fill(page, "ft-" + elem_id.replace("_", "-"), value)

    def started_id():
        found = re.search(r"Started (training-[0-9a-f-]+)", text_of(page, "#ft-message"))
        return found.group(1) if found else None

    before = started_id()
    page.locator("#ft-start").click()
    deadline = time.time() + 60
    while (run_id := started_id()) in (None, before):  # the message still shows the previous run until it changes
        assert time.time() < deadline and "⚠️" not in text_of(page, "#ft-message"), text_of(page, "#ft-message")
        time.sleep(0.2)
    wait_for_text(page, "#ft-status", run_id, 30)
    return run_id


def test_train_watch_cancel_and_resume(start_app, page, tmp_path, monkeypatch, gate, tiny_llama):
    monkeypatch.setenv("PHARMATUNE_RUNS", str(tmp_path / "runs"))
    # One thread per training child: a tiny model gains nothing from more, and on a busy 2-core machine two
    # spinning threads per process made each step ~15x slower.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    tiny = tiny_llama  # the session's tiny random Llama (tests/conftest.py), built once for every test using it
    data = tmp_path / "aspirin_chat.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in CHAT), encoding="utf-8")
    gate.write_text("3")  # the first run stops after step 3 until the test moves the gate on
    app = start_app("--no-preload", env={"PHARMATUNE_STEP_GATE": str(gate)})
    assert (tiny / "config.json").is_file()
    page.goto(app.url)
    page.get_by_role("tab", name="Fine-tune").click()
    base = page.locator("#ft-base-model input")
    assert base.input_value() == "builtin:smollm2-135m-instruct"  # the default
    base.fill(f"hf:{tiny}")
    base.press("Enter")
    page.locator("#ft-upload input[type=file]").set_input_files(str(data))
    wait_for_text(page, "#ft-message", "Uploaded: training reads", 30)
    assert page.locator("#ft-dataset input").input_value().endswith("-aspirin_chat.jsonl")

    # Check: validation, planned steps and the time assumption, without starting anything
    # Step counts are small on purpose: what is checked (counter, plots, queue, checkpoints, resume) needs a run
    # held at known steps, not a long one; each further step is only time.
    fill(page, "ft-max-steps", 30)
    fill(page, "ft-batch-size", 4)
    fill(page, "ft-grad-accum", 2)
    page.locator("#ft-check").click()
    checked = wait_for_text(page, "#ft-check-result", "Planned steps: 30", 60, fail_on="Not ready")
    assert "40 training examples" in checked and "Time: unknown until the first steps" in checked
    page.get_by_text("Config and command line").click()
    assert page.locator("#ft-command textarea").input_value() == "python -m training run CONFIG.yaml"
    assert f"base_model: hf:{tiny}" in text_of(page, "#ft-config")

    # 1. a LoRA run: the loss plot and the step counter follow it as it trains
    assert not plot_has_data(page, "#ft-loss-plot")  # nothing to plot yet
    first = start(page)
    wait_for_step(page, 3)
    gate.write_text("6")
    wait_for_step(page, 6)  # the counter moved on with the run, which is still running (held at step 6)
    deadline = time.time() + 60
    while not plot_has_data(page, "#ft-loss-plot"):  # the chart draws a moment after the figures change
        assert time.time() < deadline, "the loss plot stayed empty"
        time.sleep(0.1)
    assert "running" in text_of(page, "#ft-status")

    # 2. a second run waits in the queue behind the first (still held at step 6), and is cancelled there
    second = start(page, max_steps=100000, batch_size=2, grad_accum=1)
    status = wait_for_text(page, "#ft-status", "position 1 in the training queue", 60, fail_on="done")
    assert "queued" in status
    queue = text_of(page, "#ft-queue")
    assert first in queue and second in queue and queue.index(first) < queue.index(second)  # oldest first
    page.locator("#ft-cancel").click()
    wait_for_text(page, "#ft-status", "cancelled", 30)
    assert f"Cancelled {second}." in text_of(page, "#ft-message")
    assert second not in text_of(page, "#ft-queue")
    assert first in text_of(page, "#ft-queue")  # the first run is still there, held at step 6
    gate.unlink()  # and now runs to its end

    # back to the first run (the run picker), until it is done
    page.locator("#ft-run input").click()
    page.get_by_role("option", name=re.compile(first)).click()
    status = wait_for_text(page, "#ft-status", "done", 300, fail_on="failed")
    assert first in status and "done: 30 steps" in status and "trainable parameters (" in status
    assert settles_at(page, 30)
    assert plot_has_data(page, "#ft-loss-plot") and plot_has_data(page, "#ft-lr-plot")
    assert plot_has_data(page, "#ft-grad-plot")
    assert f"run:{first}" in text_of(page, "#ft-reference")
    page.screenshot(path=str(SCREENSHOTS / "finetune-tab.png"), full_page=True)
    page.locator("#ft-files").click()
    files = wait_for_text(page, "#ft-files-list", "adapter/adapter_model.safetensors", 20)
    assert "config.yaml" in files and "events.jsonl" in files and "summary.json" in files
    page.locator("#ft-card").click()
    wait_for_text(page, "#ft-card-text", "Fine-tuned with PharmaTune", 20)
    assert page.locator("#ft-card-text h1").inner_text() == first
    assert "library_name: peft" in text_of(page, "#ft-card-text")

    # 3. cancelled after a checkpoint, then resumed: it continues from the checkpoint and finishes
    gate.write_text("20")  # held after step 20, whose checkpoint is written first
    third = start(page, max_steps=40, grad_accum=2, save_every=10)
    wait_for_step(page, 20)
    wait_for_text(page, "#ft-figures", "checkpoints at step 10, 20", 30)
    page.locator("#ft-cancel").click()
    cancelled = wait_for_text(page, "#ft-status", "cancelled", 30)
    assert "last checkpoint is step 20" in cancelled and settles_at(page, 20)
    gate.write_text("30")  # the resumed run is held after step 30, so the reloaded page finds it running
    page.locator("#ft-resume").click()
    wait_for_text(page, "#ft-message", f"Resuming {third} from checkpoint step 20", 30)
    wait_for_text(page, "#ft-status", "running", 60, fail_on="failed")
    page.reload()  # the page re-attaches to the active run
    page.get_by_role("tab", name="Fine-tune").click()
    wait_for_text(page, "#ft-status", third, 30)
    wait_for_text(page, "#ft-figures", "resumed from step 20", 60)
    wait_for_step(page, 30)  # its steps continue beyond the checkpoint
    gate.unlink()
    done = wait_for_text(page, "#ft-status", "done", 180, fail_on="failed")
    assert "done: 40 steps" in done and settles_at(page, 40)
    assert "Traceback" not in page.content()
