"""The Data tab in a real browser: a malformed upload shows line-numbered errors; a bundled set validates,
shows statistics and sample rows, and exports to a downloadable OpenAI JSONL file; a cold-drug split and the
leakage report show in the page."""
import json
import re
import time

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import RunningApp

SCREENSHOTS = ROOT / ".cache"


@pytest.fixture(scope="module")
def app(builtin_folder):
    """One `app.py --no-preload` for this module's tests (each gets its own page): they share the session's data
    folder whichever app serves them, and none changes what another reads."""
    running = RunningApp("--no-preload")
    yield running
    running.stop()


def wait_for_text(page, selector, needle, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = page.locator(selector).inner_text()
        if needle in text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} not in {selector} after {timeout} s: {page.locator(selector).inner_text()!r}")


def test_malformed_upload_lists_line_numbered_errors(app, page, tmp_path):
    bad = tmp_path / "ddi_train.jsonl"
    good = {"messages": [{"role": "user", "content": "warfarin + fluconazole?"},
                         {"role": "assistant", "content": "interaction"}]}
    bad.write_text("\n".join([
        json.dumps(good),
        json.dumps({"messages": [{"role": "user", "content": "aspirin + ibuprofen?"},
                                 {"role": "assistant", "content": "  "}]}),
        '{"messages": [{"role": "user", "content": "broken"',
        json.dumps({"messages": [{"role": "assistant", "content": "no interaction"}]}),
    ]) + "\n")
    page.goto(app.url)
    page.get_by_role("tab", name="Data").click()
    page.locator("#data-upload input[type=file]").set_input_files(str(bad))
    report = wait_for_text(page, "#data-report", "error(s)")  # the result, not the progress overlay
    assert "Not valid" in report
    assert "line 2, messages[1].content: empty assistant turn" in report
    assert "line 3: bad JSON" in report
    assert "line 4, messages[0].role: expected a user turn here, got assistant" in report
    assert "4 rows, 1 valid, 3 error(s)" in report
    assert "Traceback" not in page.content()


def test_bundled_set_validates_and_exports(app, page):
    page.goto(app.url)
    page.get_by_role("tab", name="Data").click()
    page.locator("#data-validate").click()  # the first bundled set: ddi-binary, train split
    report = wait_for_text(page, "#data-report", "error(s)")  # "Valid" would match the "Validating" overlay
    assert "222 rows, 222 valid, 0 error(s)" in report
    wait_for_text(page, "#data-sample", "interaction", 30)  # sample rows show the answers
    page.screenshot(path=str(SCREENSHOTS / "data-tab.png"), full_page=True)
    page.locator("#data-export").click()
    wait_for_text(page, "#data-status", "Wrote ddi-binary-train.openai.jsonl")
    link = page.locator("#data-files a").first
    with page.expect_download() as download:
        link.click()
    lines = open(download.value.path(), encoding="utf-8").read().splitlines()
    assert len(lines) == 222 and set(json.loads(lines[0])) == {"messages"}


def choose(page, elem_id, option):
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_cold_drug_split_and_leakage_report(app, page):
    """Split by cold-drug shows the dropped pairs and the new parts' report; the report button compares the chosen
    split with a training split, histogram included."""
    page.goto(app.url)
    page.get_by_role("tab", name="Data").click()
    page.locator("#data-split-kind input").click()
    page.get_by_role("option", name=re.compile("^cold-drug: ")).click()
    page.locator("#data-split-button").click()
    status = wait_for_text(page, "#data-status", "cold-drug split (seed 0)")
    assert "pairs dropped: their two drugs fell in different parts" in status
    report = wait_for_text(page, "#data-leakage-report", "cold-drug split train (train) → cold-drug split test (test)")
    assert "cold-pair, cold-drug" in report and "Drugs: 0 of" in report

    choose(page, "data-split", "test")  # the chosen set's test split against bundled:ddi-binary train
    page.locator("#data-leakage").click()
    report = wait_for_text(page, "#data-leakage-report", "bundled:ddi-binary train (train) → bundled:ddi-binary test")
    assert "(0 in either order)" in report and "not cold-drug" in report
    assert "0.9–1.0" in report
    page.locator("#data-leakage-plot").get_by_text("molecules").first.wait_for(timeout=30_000)  # the bar plot drew
    assert "Traceback" not in page.content()
    page.screenshot(path=str(SCREENSHOTS / "data-leakage.png"), full_page=True)
