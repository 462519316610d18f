"""The OpenAI tab in a real browser against the fake OpenAI server: an estimate with no key, then a launched job
that the timer follows to success, with its actual cost in the ledger, and the key nowhere on disk; the wind-down's
dates at the top, "Train locally instead" starting a local run from the estimated file, and OpenAI's refusal."""
import json
import re
import time
from datetime import date

from tests.conftest import ROOT
from tests.e2e.test_evaluate_browser import wait_for_text
from tests.fake_openai import FakeOpenAI
from openai_ft import tokens
from ui.openai_tab import TICK_SECONDS

KEY = "sk-browser-e2e-5c1d9a7f3b"


def box(page, elem_id):
    """A Gradio Textbox's field (a textarea, or an input for a password)."""
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first


def wait_ticking(page, selector, needle, timeout=90):
    """Like wait_for_text, for what only the jobs timer (a gr.Timer every TICK_SECONDS) updates: the page's clock
    (installed before the page loaded) is moved on one tick at a time instead of waiting TICK_SECONDS each. Every
    update still comes from a real tick of the page's timer asking the app."""
    deadline = time.time() + timeout
    while needle not in (text := page.locator(selector).inner_text()):
        assert time.time() < deadline, f"{needle!r} not in {selector} after {timeout} s: {text!r}"
        page.clock.fast_forward(int(TICK_SECONDS * 1000))
        time.sleep(0.5)  # the tick's request and its redraw
    return text


def test_estimate_launch_follow_and_ledger(start_app, page, tmp_path, monkeypatch):
    rows = [{"messages": [{"role": "system", "content": "Answer interaction or no interaction."},
                          {"role": "user", "content": f"Drug 1: warfarin-{i}\nDrug 2: fluconazole-{i}"},
                          {"role": "assistant", "content": "interaction"}]} for i in range(20)]
    train = tmp_path / "ddi-train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    per_epoch = sum(tokens.count_messages_naive(r["messages"]) for r in rows)
    with FakeOpenAI(key=KEY, trained_tokens=3 * per_epoch) as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("PHARMATUNE_RUNS", str(tmp_path / "runs"))
        monkeypatch.setenv("PHARMATUNE_DATA", str(tmp_path / "appdata"))
        app = start_app("--no-preload")
        page.clock.install()  # the page's timers run on a clock that wait_ticking can move on
        page.goto(app.url)
        page.get_by_role("tab", name="OpenAI").click()
        assert "No key" in page.locator("#openai-key-status").inner_text()
        page.locator("#openai-upload input[type=file]").set_input_files(str(train))
        page.locator("#openai-model input").fill("gpt-4o-2024-08-06")
        page.locator("#openai-model input").press("Enter")
        box(page, "openai-epochs").fill("3")
        page.locator("#openai-estimate").click()
        summary = wait_for_text(page, "#openai-summary", "billed tokens per epoch", 30, fail_on="⚠️")
        assert f"{per_epoch:,} billed tokens per epoch" in summary and "20 examples" in summary
        assert f"${3 * per_epoch * 25 / 1e6:,.2f}" in summary

        page.locator("#openai-key input").fill(KEY)
        wait_for_text(page, "#openai-key-status", "typed here", 10)
        box(page, "openai-suffix").fill("ddi")
        page.locator("#openai-launch").click()
        wait_for_text(page, "#openai-message", "Created ftjob-", 30, fail_on="⚠️")
        wait_ticking(page, "#openai-jobs", "succeeded", 90)  # the timer follows it
        status = wait_ticking(page, "#openai-job-status", "actual $", 30)
        assert "openai:ft:gpt-4o-2024-08-06:fake-org:ddi:" in status
        wait_ticking(page, "#openai-ledger", "fine-tune", 30)
        page.wait_for_selector("#openai-metrics canvas, #openai-metrics svg", timeout=20_000)
        page.screenshot(path=str(ROOT / ".cache" / "openai-tab.png"), full_page=True)
        assert "Traceback" not in page.content()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    if app.log:
        app.log.flush()
        assert KEY not in (ROOT / ".cache" / f"e2e-app-{app.port}.log").read_text()


def test_winddown_dates_train_locally_and_a_refused_launch(start_app, page, tmp_path, monkeypatch, gate,
                                                           builtin_folder):
    import jobs

    rows = [{"messages": [{"role": "user", "content": f"Drug 1: warfarin-{i}\nDrug 2: fluconazole-{i}"},
                          {"role": "assistant", "content": "interaction"}]} for i in range(12)]
    train = tmp_path / "ddi-local.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    gate.write_text("1")  # the local run waits after its first step; it is cancelled below
    with FakeOpenAI(key=KEY) as fake:
        fake.fail("/fine_tuning/jobs", "winddown", method="POST")  # OpenAI refuses this organisation's job
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("PHARMATUNE_RUNS", str(tmp_path / "runs"))  # the app's and this test's store
        monkeypatch.setenv("PHARMATUNE_DATA", str(tmp_path / "appdata"))
        app = start_app("--no-preload", env={"PHARMATUNE_STEP_GATE": str(gate)})
        page.goto(app.url)
        page.get_by_role("tab", name="OpenAI").click()
        dates = wait_for_text(page, "#openai-winddown", "2027-01-06", 30)
        left = (date(2027, 1, 6) - date.today()).days
        assert "2026-05-07" in dates and "2026-07-02" in dates
        assert (f"{left} day" in dates) if left > 0 else ("closed" in dates or "closes today" in dates)
        assert "gpt-4.1-nano-2025-04-14" in dates and "http://127.0.0.1:7860/v1" in dates

        page.locator("#openai-upload input[type=file]").set_input_files(str(train))
        box(page, "openai-epochs").fill("2")
        page.locator("#openai-estimate").click()
        wait_for_text(page, "#openai-summary", "billed tokens per epoch", 30, fail_on="⚠️")
        local = wait_for_text(page, "#openai-local", "Train locally instead", 30)
        assert "12 × 2 = 6 steps" in local and "$0 (this machine)" in local and "(estimate)" in local
        assert "OpenAI may refuse this launch" in page.locator("#openai-launch-warning").inner_text() or left <= 0

        page.locator("#openai-train-local").click()
        started = wait_for_text(page, "#openai-local", "Started", 60, fail_on="⚠️")
        run_id = re.search(r"Started (training-\S+): watch it in the Fine-tune tab", started).group(1)
        try:
            assert run_id in [r.id for r in jobs.list_runs("training")]
            assert "no measurement yet" in started or "on this machine (measured" in started

            page.locator("#openai-key input").fill(KEY)
            wait_for_text(page, "#openai-key-status", "typed here", 10)
            page.locator("#openai-launch").click()
            refused = wait_for_text(page, "#openai-message", "OpenAI refused to create the fine-tuning job", 30)
            assert "(403: Creating fine-tuning jobs is no longer available for this organization)" in refused
            assert "2027-01-06" in refused and "Train locally instead" in refused
            wait_for_text(page, "#openai-jobs", "refused", 30)
            page.screenshot(path=str(ROOT / ".cache" / "openai-winddown.png"), full_page=True)
            assert "Traceback" not in page.content()
        finally:
            jobs.cancel(run_id)
