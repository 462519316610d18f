"""The promise the Dockerfile and the Space make: with networking switched off for its process (a new network
namespace with only loopback), the app starts and streams a chat answer from the builtin model."""
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_the_app_starts_and_chats_with_no_network(builtin_folder, tmp_path):
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs util-linux's unshare and iproute2's ip to switch networking off for a process")
    if subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode != 0:
        pytest.skip("this kernel or user may not create a network namespace (unshare --net)")
    env = {**os.environ, "PHARMATUNE_RUNS": str(tmp_path / "runs"), "PHARMATUNE_DATA": str(tmp_path / "data"),
           "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0"}  # offline by the network, not by a setting
    script = f"ip link set lo up && exec {sys.executable} tests/offline_chat.py 7861"
    out = subprocess.run(["unshare", "--net", "sh", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    assert int(lines["updates"]) > 3  # streamed, not one block
    assert len(lines["answer"].split()) >= 5 and "⚠️" not in lines["answer"], lines["answer"]
