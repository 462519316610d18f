"""PHARMATUNE_STRICT_TESTS=1 (set by .ci/run) turns a skip for something CI must have into a failure; a skip for
hardware no CI machine has (its reason starts with "needs CUDA") stays a skip."""
import os
import re
import subprocess
import sys

from tests.conftest import HARDWARE_SKIP, ROOT

SHARED_TEST = "tests/data/test_shared.py::test_medquad_loads_as_medical_qa_records"


def run_pytest(target: str, tmp_path, **env) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PHARMATUNE_SHARED_DATA": str(tmp_path / "absent"), **env}
    return subprocess.run([sys.executable, "-m", "pytest", target, "-q", "-p", "no:cacheprovider", "-rfs"],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)


def test_without_strict_mode_missing_shared_data_is_a_visible_skip(tmp_path):
    out = run_pytest(SHARED_TEST, tmp_path, PHARMATUNE_STRICT_TESTS="0")
    assert out.returncode == 0, out.stdout
    assert "1 skipped" in out.stdout and "shared data sets are not on this machine" in out.stdout


def test_strict_mode_turns_the_skip_into_a_failure_that_says_why(tmp_path):
    out = run_pytest(SHARED_TEST, tmp_path, PHARMATUNE_STRICT_TESTS="1")
    assert out.returncode == 1, out.stdout
    assert re.search(r"^1 (failed|error) in", out.stdout, re.M), out.stdout  # a skip in a fixture fails its setup
    assert "PHARMATUNE_STRICT_TESTS=1 turns this skip into a failure" in out.stdout
    assert "shared data sets are not on this machine" in out.stdout


def test_strict_mode_lets_a_hardware_skip_through(tmp_path):
    (tmp_path / "conftest.py").write_text("from tests.conftest import pytest_runtest_makereport  # noqa: F401\n")
    (tmp_path / "test_gpu.py").write_text(
        "import pytest\n\n"
        f"def test_gpu():\n    pytest.skip({HARDWARE_SKIP + ' and bitsandbytes'!r})\n\n"
        "def test_other():\n    pytest.skip('chromium is missing')\n")
    out = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path), "-q", "-p", "no:cacheprovider", "-rfs",
                          "--rootdir", str(tmp_path)],
                         cwd=ROOT, env={**os.environ, "PHARMATUNE_STRICT_TESTS": "1", "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=300)
    assert "1 failed, 1 skipped" in out.stdout, out.stdout
    assert "chromium is missing" in out.stdout
