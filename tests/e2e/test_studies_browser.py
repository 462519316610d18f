"""The Studies tab in a real browser, on a tiny random Llama typed in as hf:<folder> and chat files typed as paths:
a bad search space is named before anything starts; a tiny search (8 trials × 4 steps, evaluated every step,
successive halving) shows pruned trials in the live table while it runs, then compute saved, the best
configuration, the report and its plots (the images really load); a reloaded page re-attaches, and "Train this"
starts a training job.

The search is held by a gate file (PHARMATUNE_STEP_GATE) while the test looks at it running: at 4 it stops no
trial of phase 1 (4 steps each) and holds phase 2's full-length run (6 steps) after step 4, once every phase-1
trial has finished."""
import json
import re
import time

from tests.conftest import ROOT
from tests.e2e.test_finetune_browser import text_of, wait_for_text

SCREENSHOTS = ROOT / ".cache"
CHAT = [{"messages": [{"role": "user", "content": f"Which enzyme does aspirin inhibit? (case {i})"},
                      {"role": "assistant", "content": "Aspirin irreversibly inhibits cyclooxygenase (COX-1 and COX-2)."}]}
        for i in range(16)]


def fill(page, elem_id, value, enter=False):
    box = page.locator(f"#{elem_id}").locator("input, textarea").first
    box.fill(str(value))
    box.press("Enter" if enter else "Tab")


def loaded_images(page, selector) -> int:
    """Images in the element that the browser actually decoded (a broken URL has naturalWidth 0)."""
    return page.evaluate(f"""() => Array.from(document.querySelectorAll('{selector} img'))
                              .filter(i => i.complete && i.naturalWidth > 0).length""")


def test_a_tiny_search_shows_pruned_trials_live_then_its_report(start_app, page, tmp_path, monkeypatch, gate,
                                                                tiny_llama):
    monkeypatch.setenv("PHARMATUNE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one thread per child: a tiny model gains nothing from more
    tiny = tiny_llama  # the session's tiny random Llama (tests/conftest.py)
    train, val = tmp_path / "train.jsonl", tmp_path / "val.jsonl"
    for path, rows in ((train, CHAT), (val, CHAT[:8])):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    gate.write_text("4")
    app = start_app("--no-preload", env={"PHARMATUNE_STEP_GATE": str(gate)})
    page.goto(app.url)
    page.get_by_role("tab", name="Studies").click()
    assert "Hyperparameter search" in text_of(page, "#st-kind")
    fill(page, "st-base-model", f"hf:{tiny}", enter=True)
    fill(page, "st-dataset", str(train), enter=True)
    fill(page, "st-eval-dataset", str(val))
    for elem_id, value in (("st-max-steps", 6), ("st-max-length", 64), ("st-eval-every", 1), ("st-trials", 8),
                           ("st-trial-steps", 4), ("st-top-k", 1)):
        fill(page, elem_id, value)

    # a misspelt parameter in the search space is named before anything starts
    space = page.locator("#st-space .cm-content")  # the YAML editor (fill replaces its text, no auto-closing)
    space.fill("learning_rat: {type: float, low: 1.0e-4, high: 3.0e-2, log: true}\n")
    page.locator("#st-check").click()
    wait_for_text(page, "#st-message", "unknown parameter 'learning_rat'", 60)
    assert "Did you mean 'learning_rate'" in text_of(page, "#st-message")
    space.fill("learning_rate: {type: float, low: 1.0e-4, high: 3.0e-2, log: true}\nmethod.rank: [2, 4]\n")
    page.locator("#st-check").click()
    checked = wait_for_text(page, "#st-check-result", "Ready", 60)  # the earlier "Not ready" shows until then
    assert "8 two-phase trial(s) scored after 4 of 4 step(s)" in checked and "16 training examples" in checked
    page.get_by_text("Config and command line").click()
    assert page.locator("#st-command").locator("input, textarea").first.input_value() == \
        "python -m training search run CONFIG.yaml"
    assert f"base_model: hf:{tiny}" in text_of(page, "#st-config")

    # start: pruned trials show in the live table while the search runs
    page.locator("#st-start").click()
    message = wait_for_text(page, "#st-message", "Started search-", 60)
    run_id = re.search(r"(search-[0-9a-f-]+)", message).group(1)
    wait_for_text(page, "#st-status", run_id, 30)
    deadline = time.time() + 180
    while not ("pruned" in (table := text_of(page, "#st-trials-table")) and "running" in text_of(page, "#st-status")):
        status = text_of(page, "#st-status")  # phase 2 is held at step 4: the search cannot end meanwhile
        assert time.time() < deadline and "failed" not in status and "done" not in status, (status, table)
        time.sleep(0.2)
    assert "pruned %" in text_of(page, "#st-figures")
    gate.unlink()  # the full-length run finishes, then the report

    # the end: compute saved from summary.json, the best configuration, the report and its plots
    wait_for_text(page, "#st-status", "done", 90, fail_on="failed")
    figures = wait_for_text(page, "#st-figures", "summary.json", 20)
    assert "compute saved" in figures
    best = wait_for_text(page, "#st-best", f"run:{run_id}-top1", 20)
    assert "learning_rate" in best and "method.rank" in best
    report = wait_for_text(page, "#st-report", "Resources per phase", 20)
    assert "Best configuration" in report
    deadline = time.time() + 30
    while page.locator("#st-plots img").count() < 3:  # history, intermediate values, parallel coordinates ...
        assert time.time() < deadline, f"{page.locator('#st-plots img').count()} plot(s) in the gallery"
        time.sleep(0.3)
    for i in range(page.locator("#st-plots img").count()):  # the gallery loads its images lazily, once in view
        page.locator("#st-plots img").nth(i).scroll_into_view_if_needed()
    while loaded_images(page, "#st-plots") < 3:
        assert time.time() < deadline, f"{loaded_images(page, '#st-plots')} plot(s) displayed"
        time.sleep(0.3)
    assert "Optimization history" in text_of(page, "#st-plots")
    table = text_of(page, "#st-trials-table")
    assert "pruned" in table and "complete" in table and "2 (top 1)" in table
    page.screenshot(path=str(SCREENSHOTS / "studies-tab.png"), full_page=True)

    # a reloaded page re-attaches to the search, then Train this starts the best configuration at full length
    page.reload()
    page.get_by_role("tab", name="Studies").click()
    wait_for_text(page, "#st-status", run_id, 30)
    wait_for_text(page, "#st-trials-table", "pruned", 20)
    page.locator("#st-train-best").click()
    wait_for_text(page, "#st-action", "Started training", 30)
    assert "Traceback" not in page.content()
