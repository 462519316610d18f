"""The Evaluate and Leaderboard tabs in a real browser: a small benchmark on the builtin model ends on the
leaderboard; a held job survives a page reload (the page re-attaches) and is cancelled."""
import time

from tests.conftest import ROOT

SCREENSHOTS = ROOT / ".cache"


def wait_for_text(page, selector, needle, timeout=60, fail_on=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = page.locator(selector).inner_text()
        if needle in text:
            return text
        if fail_on and fail_on in text:
            raise AssertionError(f"{selector} says {fail_on!r} while waiting for {needle!r}: {text!r}")
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} not in {selector} after {timeout} s: {page.locator(selector).inner_text()!r}")


def choose_benchmark(page, name):
    box = page.locator("#eval-benchmarks input")
    box.click()
    box.fill(name)
    page.get_by_role("option", name=f"{name}: ").first.click()


def test_full_ddi_benchmark_on_the_builtin_model_lands_on_the_leaderboard(start_app, page, builtin_folder, tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("PHARMATUNE_RUNS", str(tmp_path / "runs"))
    app = start_app("--no-preload")
    page.goto(app.url)
    page.get_by_role("tab", name="Evaluate").click()
    assert "builtin:smollm2-135m-instruct" in page.locator("#eval-models").inner_text()  # the default model
    choose_benchmark(page, "ddi-binary")
    page.locator("#eval-limit input").fill("0")  # all 28 test pairs
    page.locator("#eval-start").click()
    wait_for_text(page, "#eval-message", "Started evaluation-", 30)
    status = wait_for_text(page, "#eval-status", "done", 600, fail_on="failed")  # only catches a hang
    assert "1 result(s)" in status
    assert "| 28/28 |" not in page.locator("#eval-progress").inner_text()  # a rendered table, not raw markdown
    assert "28/28" in page.locator("#eval-progress").inner_text()
    results = wait_for_text(page, "#eval-results", "accuracy ↑", 10)
    assert "builtin:smollm2-135m-instruct" in results and "ddi-binary" in results
    page.get_by_text("Config and command line").click()
    command = page.locator("#eval-command textarea").input_value()
    assert command.startswith("python -m evaluation run --config ") and command.endswith("config.yaml")
    page.screenshot(path=str(SCREENSHOTS / "evaluate-tab.png"), full_page=True)

    page.get_by_role("tab", name="Leaderboard").click()  # selecting the tab refreshes the table
    table = wait_for_text(page, "#board-table", "builtin:smollm2-135m-instruct", 30)
    assert "accuracy ↑" in table and "ddi-binary" in table
    page.locator("#board-table [role=gridcell]").filter(has_text="builtin:smollm2-135m-instruct").first.click()
    heading = wait_for_text(page, "#board-predictions-heading", "28 predictions", 30)
    assert "worst first" in heading
    page.screenshot(path=str(SCREENSHOTS / "leaderboard-tab.png"), full_page=True)
    assert "Traceback" not in page.content()


def test_a_running_job_survives_a_reload_and_is_cancelled(start_app, page, tmp_path, monkeypatch, gate):
    monkeypatch.setenv("PHARMATUNE_RUNS", str(tmp_path / "runs"))
    gate.write_text("0")  # dummy:gated answers nothing until the gate moves: the job stays running at 0/28
    app = start_app("--no-preload", env={"PHARMATUNE_DUMMY_GATE": str(gate)})
    page.goto(app.url)
    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#eval-models .token-remove").first.click()  # drop the default builtin model
    page.locator("#eval-models input").fill("dummy:gated")
    page.locator("#eval-models input").press("Enter")
    choose_benchmark(page, "ddi-binary")
    page.locator("#eval-start").click()
    run_id = wait_for_text(page, "#eval-message", "Started evaluation-", 30).split("Started ")[1].strip(" .")
    wait_for_text(page, "#eval-progress", "0/28", 60)

    page.reload()  # the page re-attaches to the running job
    page.get_by_role("tab", name="Evaluate").click()
    status = wait_for_text(page, "#eval-status", run_id, 30)
    assert "running" in status
    wait_for_text(page, "#eval-progress", "dummy:gated", 30)
    page.locator("#eval-cancel").click()
    wait_for_text(page, "#eval-status", "cancelled", 30)
    assert f"Cancelled {run_id}." in page.locator("#eval-message").inner_text()
    assert "Traceback" not in page.content()


def test_a_raw_file_of_ddi_pairs_becomes_a_benchmark_and_runs_in_choice_mode(start_app, page, builtin_folder,
                                                                             tmp_path, monkeypatch):
    import json

    from data import catalog

    monkeypatch.setenv("PHARMATUNE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("PHARMATUNE_DATA", str(tmp_path / "data"))
    pairs = tmp_path / "my_pairs.jsonl"  # a plain file of pairs: no chat columns, as a lab exports it
    rows = [{k: r.meta[k] for k in ("drug1", "drug2", "smiles1", "smiles2", "label")}
            for r in catalog.load("bundled:ddi-binary", "test")[:8]]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    app = start_app("--no-preload")
    page.goto(app.url)
    page.get_by_role("tab", name="Evaluate").click()
    page.get_by_text("Your own benchmark: a file of items").click()
    page.locator("#eval-custom-file input[type=file]").set_input_files(str(pairs))
    page.locator("#eval-custom-name input, #eval-custom-name textarea").first.fill("my-pairs")
    page.locator("#eval-custom-check").click()
    checked = wait_for_text(page, "#eval-custom-result", "Prompt 3", 60, fail_on="Error")
    assert "8 items" in checked and rows[0]["drug1"] in checked and rows[2]["drug2"] in checked
    assert "Prompt 4" not in checked
    page.locator("#eval-custom-save").click()
    wait_for_text(page, "#eval-custom-result", "Saved my-pairs", 60, fail_on="Error")
    assert (tmp_path / "data" / "benchmarks" / "my-pairs.yaml").is_file()
    assert "my-pairs" in page.locator("#eval-benchmarks").inner_text()  # chosen in Benchmarks at once
    page.locator("#eval-limit input").fill("4")
    page.locator("#eval-start").click()
    wait_for_text(page, "#eval-message", "Started evaluation-", 30)
    wait_for_text(page, "#eval-status", "done", 300, fail_on="failed")
    results = wait_for_text(page, "#eval-results", "auroc", 10)
    assert "my-pairs" in results and "builtin:smollm2-135m-instruct" in results
    assert "unparseable ↓ 0.000" in results  # choice mode: every item gets a label
    assert "Traceback" not in page.content()
