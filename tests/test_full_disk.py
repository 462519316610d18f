"""A full disk during a results write, a training checkpoint and a merged-model export: one sentence naming the
disk, no stack trace, and the previous complete file, checkpoint or export intact (nothing half-written left
behind). The disk is a small tmpfs mounted in a private mount namespace (unshare --mount, as root), so nothing
else sees it; the checkpoint and export cases run the real command lines inside it.

Run as a module inside that namespace (`python -m tests.test_full_disk checkpoint|export ...`), this file is also
the driver that fills the disk at the right moment and reports what it found as JSON."""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEAVE = 64 * 1024  # bytes left free once the disk is filled: room for event lines, not for a checkpoint or a model


# -- the driver, inside the namespace -------------------------------------------------------------------------------
def fill(disk: Path, leave: int = LEAVE) -> None:
    """Fill the disk to the brim, then give `leave` bytes back."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    os.truncate(filler, max(0, filler.stat().st_size - leave))


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def events_of(run_dir: Path) -> list[dict]:
    path = run_dir / "events.jsonl"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return [json.loads(line) for line in text.splitlines() if line.endswith("}")]


def command(*argv: str, env: dict, out: Path, name: str, wait: bool = True):
    """`python -m ...` with its stdout and stderr in files outside the small disk."""
    with open(out / f"{name}.out", "w") as stdout, open(out / f"{name}.err", "w") as stderr:
        child = subprocess.Popen([sys.executable, "-m", *argv], cwd=ROOT, stdout=stdout, stderr=stderr, env=env)
    return child.wait(300) if wait else child


def drive_checkpoint(disk: Path, out: Path) -> dict:
    """Train 4 steps saving every 2 (run folder on the disk), held after step 2 by the step gate; fill the disk;
    let it go on to the checkpoint at step 4; then free the disk and resume."""
    from training.recipe import checkpoint_problem

    run_dir, gate = disk / "run", out / "gate"
    env = {**os.environ, "PHARMATUNE_STEP_GATE": str(gate), "OMP_NUM_THREADS": "1"}
    args = ("training", "run", "--config", str(out / "train.yaml"), "--run-dir", str(run_dir), "--quiet")
    child = command(*args, env=env, out=out, name="train", wait=False)
    deadline = time.monotonic() + 180
    while not any(e["event"] == "checkpoint" and e["step"] == 2 for e in events_of(run_dir)):
        assert child.poll() is None and time.monotonic() < deadline, (out / "train.err").read_text()[-3000:]
        time.sleep(0.1)
    fill(disk)
    gate.unlink()
    found = {"code": child.wait(300), "checkpoints": sorted(p.name for p in (run_dir / "checkpoints").iterdir()),
             "problem": checkpoint_problem(run_dir / "checkpoints" / "checkpoint-2"),
             "statuses": [e.get("error", e["status"]) for e in events_of(run_dir) if e["event"] == "status"],
             "leftovers": sorted(p.name for p in run_dir.iterdir() if p.name.startswith("."))}
    (disk / "filler").unlink()
    env.pop("PHARMATUNE_STEP_GATE")
    found["resumed_code"] = command(*args, "--resume", env=env, out=out, name="resume")
    events = events_of(run_dir)
    found["resumed_from"] = [e["from_step"] for e in events if e["event"] == "resume"]
    found["resumed_steps"] = [e["step"] for e in events[events.index(next(e for e in events if e["event"] == "resume")):]
                              if e["event"] == "train"] if found["resumed_from"] else []
    return found


def drive_export(disk: Path, out: Path) -> dict:
    """A finished run (its adapter copied onto the disk) exported merged once; then, with a newer adapter and the
    disk full, exported again."""
    run_dir = disk / "runs" / "training-export"
    shutil.copytree(out / "adapter", run_dir / "adapter")
    shutil.copyfile(out / "config.yaml", run_dir / "config.yaml")
    env = {**os.environ, "PHARMATUNE_RUNS": str(disk / "runs")}
    found = {"first_code": command("training", "export", run_dir.name, "merged", env=env, out=out, name="first")}
    found["before"] = digests(run_dir / "merged")
    weights = run_dir / "adapter" / "adapter_model.safetensors"
    later = weights.stat().st_mtime_ns + 10**9
    os.utime(weights, ns=(later, later))  # a newer adapter (a resumed run): the export must be made again
    fill(disk)
    found["second_code"] = command("training", "export", run_dir.name, "merged", env=env, out=out, name="second")
    found["after"] = digests(run_dir / "merged")
    found["leftovers"] = sorted(p.name for p in run_dir.iterdir() if p.name.startswith("."))
    return found


if __name__ == "__main__":
    what, disk_arg, out_arg = sys.argv[1:4]
    result = {"checkpoint": drive_checkpoint, "export": drive_export}[what](Path(disk_arg), Path(out_arg))
    print(json.dumps(result))
    sys.exit(0)


# -- the tests -------------------------------------------------------------------------------------------------------
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


def small_disk(disk: Path, size: str, *argv: str) -> subprocess.CompletedProcess:
    """Run `argv` in a private mount namespace where `disk` is a fresh tmpfs of `size`."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and util-linux's unshare to mount a small tmpfs privately")
    disk.mkdir()
    script = f"mount -t tmpfs -o size={size} tmpfs {shlex.quote(str(disk))} && exec {shlex.join(argv)}"
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_a_full_disk_is_a_sentence_and_the_previous_file_survives(tmp_path):
    disk = tmp_path / "disk"
    out = small_disk(disk, "256k", sys.executable, "-c", WRITER, str(disk))
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"The disk holding {disk} is full" in out.stdout and "the previous board.csv is unchanged" in out.stdout
    assert "content: model,accuracy|base,0.5|" in out.stdout
    assert "left: ['board.csv']" in out.stdout  # no temp file behind
    assert "Traceback" not in out.stderr


def driven(disk: Path, size: str, what: str, out: Path) -> dict:
    done = small_disk(disk, size, sys.executable, "-m", "tests.test_full_disk", what, str(disk), str(out))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_full_disk_at_a_checkpoint_fails_the_run_with_a_sentence_and_the_last_checkpoint_resumes(
        tiny_llama, tmp_path, monkeypatch):
    import yaml

    from tests.training.conftest import chat_rows, write_jsonl

    monkeypatch.setenv("PHARMATUNE_RUNS", str(tmp_path / "runs"))  # the store and the device lock: off the disk
    monkeypatch.delenv("PHARMATUNE_STORE_URL", raising=False)
    train = write_jsonl(tmp_path / "train.jsonl", chat_rows(16))
    spec = {"dataset": str(train), "eval_split": None, "base_model": f"hf:{tiny_llama}", "max_length": 64,
            "batch_size": 4, "learning_rate": 0.01, "max_steps": 4, "save_every": 2, "tensorboard": False}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    (tmp_path / "gate").write_text("2")  # the run waits after step 2 (its checkpoint written) for the disk to fill
    disk = tmp_path / "disk"
    found = driven(disk, "2m", "checkpoint", tmp_path)
    stderr = (tmp_path / "train.err").read_text()
    folder = disk / "run" / "checkpoints"
    assert found["code"] == 1, stderr[-3000:]
    sentence = found["statuses"][-1]
    assert sentence.startswith(f"The disk holding {folder} is full (") and sentence.endswith(
        " MiB free): checkpoint-4 was not written, and checkpoint-2 is complete (a resume continues from it). "
        "Free some space and try again."), sentence
    assert found["statuses"] == ["running", sentence]  # the run's status says it, as the Fine-tune tab shows it
    assert f"error: {sentence}" in stderr and "Traceback" not in stderr
    assert found["checkpoints"] == ["checkpoint-2"]  # the half-written checkpoint-4 is gone, checkpoint-2 is whole
    assert found["problem"] is None and found["leftovers"] == []
    # with space again, the run resumes from checkpoint-2 and finishes
    assert found["resumed_code"] == 0, (tmp_path / "resume.err").read_text()[-3000:]
    assert found["resumed_from"] == [2] and found["resumed_steps"] == [3, 4]


def test_a_full_disk_during_a_merged_export_is_a_sentence_and_the_previous_export_is_intact(tiny_llama, tmp_path,
                                                                                            monkeypatch):
    import yaml
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.setenv("PHARMATUNE_STORE_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")  # the model card reads it
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama),
                           LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained(tmp_path / "adapter")
    AutoTokenizer.from_pretrained(tiny_llama).save_pretrained(tmp_path / "adapter")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"base_model": f"hf:{tiny_llama}", "task": "sft",
                                                          "method": {"name": "lora"}}), encoding="utf-8")
    disk = tmp_path / "disk"
    found = driven(disk, "1m", "export", tmp_path)
    first, second = ((tmp_path / f"{name}.err").read_text() for name in ("first", "second"))
    assert found["first_code"] == 0, first[-3000:]
    assert "model.safetensors" in found["before"] and "config.json" in found["before"]
    assert found["second_code"] == 2, second[-3000:]
    run_dir = disk / "runs" / "training-export"
    (error,) = [line for line in second.splitlines() if line.startswith("error:")]  # after the progress bars
    assert error.startswith(f"error: The disk holding {run_dir} is full (") and error.endswith(
        " MiB free): the merged model (merged/) was not written, and the previous merged/ export is unchanged. "
        "Free some space and try again."), second
    assert "Traceback" not in second
    assert found["after"] == found["before"]  # the previous export, file for file
    assert found["leftovers"] == []  # no half-written .merged.partial
