"""A full disk during a results write: one sentence naming the disk, and the previous complete file intact. The
disk is a 256 KiB tmpfs mounted in a private mount namespace (unshare --mount, as root), so nothing else sees it."""
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

WRITER = """
import sys
from pathlib import Path
from data.io import atomic_write
from data.records import DataError

target = Path(sys.argv[1]) / "board.csv"
with atomic_write(target) as fh:
    fh.write("model,accuracy\\nbase,0.5\\n")  # the previous complete file
try:
    with atomic_write(target) as fh:
        fh.write("x" * 1_000_000)  # far more than the disk holds
except DataError as exc:
    print(exc)
print("content:", target.read_text().replace("\\n", "|"))
print("left:", sorted(p.name for p in target.parent.iterdir()))
"""


def test_a_full_disk_is_a_sentence_and_the_previous_file_survives(tmp_path):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and util-linux's unshare to mount a small tmpfs privately")
    disk = tmp_path / "disk"
    disk.mkdir()
    script = (f"mount -t tmpfs -o size=256k tmpfs {disk} && exec {sys.executable} -c '{WRITER}' {disk}")
    out = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"The disk holding {disk} is full" in out.stdout and "the previous board.csv is unchanged" in out.stdout
    assert "content: model,accuracy|base,0.5|" in out.stdout
    assert "left: ['board.csv']" in out.stdout  # no temp file behind
    assert "Traceback" not in out.stderr
