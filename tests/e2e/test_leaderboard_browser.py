"""The Leaderboard tab in a real browser: every number with its ± interval, and a paired compare with p-values."""
import re

from evaluation.__main__ import main
from tests.conftest import ROOT
from tests.e2e.test_evaluate_browser import wait_for_text

SCREENSHOTS = ROOT / ".cache"


def test_intervals_and_a_paired_compare(start_app, page, tmp_path, monkeypatch):
    monkeypatch.setenv("PHARMATUNE_RUNS", str(tmp_path / "runs"))  # the app (a child) reads the same store
    monkeypatch.setenv("PHARMATUNE_DATA", str(tmp_path / "appdata"))
    for model in ("dummy:interaction", "dummy:oracle"):  # 28 ddi-binary items: accuracy 0.5 and 0.0
        assert main(["run", "--model", model, "--benchmark", "ddi-binary", "--quiet"]) == 0
    app = start_app("--no-preload")
    page.goto(app.url)
    page.get_by_role("tab", name="Leaderboard").click()
    table = wait_for_text(page, "#board-table", "dummy:oracle", 30)
    assert "0.50 ± 0.18" in table  # dummy:interaction's accuracy on 28 items
    assert "mode" in table and "generate" in table
    assert "95 % bootstrap interval" in page.locator("#board-intervals-note").inner_text()

    page.locator("#board-a input").click()
    page.locator("#board-a").get_by_role("option", name=re.compile(r"dummy:interaction · ddi-binary")).click()
    page.locator("#board-b input").click()
    page.locator("#board-b").get_by_role("option", name=re.compile(r"dummy:oracle · ddi-binary")).click()
    page.locator("#board-compare").click()
    heading = wait_for_text(page, "#board-compare-heading", "Paired tests on the 28 items", 30)
    assert "B is significantly worse than A on accuracy ↑ (p < 0.001)" in heading
    compared = wait_for_text(page, "#board-compare-table", "McNemar exact", 30)
    assert "p-value" in compared and "paired bootstrap" in compared and "significant at 0.05" in compared
    page.screenshot(path=str(SCREENSHOTS / "leaderboard-compare.png"), full_page=True)
    assert "Traceback" not in page.content()
