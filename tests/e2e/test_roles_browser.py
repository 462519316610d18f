"""A public app in a real browser: a viewer sees the one line that says what is locked, a start of training is
refused with it, and the operator login unlocks the Fine-tune tab for this browser session."""
import time

from tests.e2e.test_finetune_browser import text_of, wait_for_text


def test_the_operator_login_unlocks_the_finetune_tab(start_app, page, tmp_path, monkeypatch, gate, tiny_llama):
    monkeypatch.setenv("PHARMATUNE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    tiny = tiny_llama  # the session's tiny random Llama (tests/conftest.py)
    gate.write_text("1")  # the run this test starts waits after step 1 until it is cancelled
    app = start_app("--no-preload", env={"PHARMATUNE_PUBLIC": "1", "PHARMATUNE_AUTH": "op:pw",
                                         "PHARMATUNE_STEP_GATE": str(gate)})
    page.goto(app.url)
    wait_for_text(page, "#roles-status", "Viewer", 30)
    page.get_by_role("tab", name="Fine-tune").click()
    base = page.locator("#ft-base-model input")
    base.fill(f"hf:{tiny}")
    base.press("Enter")
    dataset = page.locator("#ft-dataset input")
    dataset.fill("bundled:drug-qa")
    dataset.press("Enter")
    page.locator("#ft-start").click()
    toast = page.get_by_text("This needs an operator").first
    toast.wait_for(timeout=30_000)  # Gradio shows the handler's refusal; nothing started
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").glob("training-*"))
    # Dismiss the refusal: left up, the toast covers the login button until it times out (~10 s of Playwright
    # waiting for the button to take clicks)
    page.get_by_test_id("toast-close").first.click()
    toast.wait_for(state="hidden", timeout=10_000)

    page.locator("#roles-password input").fill("pw")
    page.locator("#roles-login").click()
    wait_for_text(page, "#roles-status", "Operator", 30)
    page.locator("#ft-start").click()
    deadline = time.time() + 90
    while "Started training-" not in text_of(page, "#ft-message"):
        assert time.time() < deadline and "⚠️" not in text_of(page, "#ft-message"), text_of(page, "#ft-message")
        time.sleep(0.2)
    page.locator("#ft-cancel").click()
    wait_for_text(page, "#ft-message", "Cancelled", 60)
