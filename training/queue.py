"""One training job at a time per device (by default): a job waits, visibly queued, until it holds the device's
slot. The slot is an flock on a file under runs/.locks, so it is released the moment its process ends, however
it ends (done, crash, cancel), and the queue needs no dispatcher: an app restart changes nothing."""
from __future__ import annotations

import contextlib
import fcntl
import os
import time


def slots() -> int:
    return max(1, int(os.environ.get("PHARMATUNE_TRAINING_SLOTS", "1")))


def device_name() -> str:
    import torch

    return f"cuda{os.environ.get('CUDA_VISIBLE_DEVICES', '')}".replace(",", "-") if torch.cuda.is_available() else "cpu"


def ahead_of(run_id: str) -> int:
    """Training runs created before this one that are still queued or running (with a live process)."""
    import jobs
    import store
    from sqlalchemy import select
    from store.tables import Run

    with store.session() as s:
        me = s.get(Run, run_id)
        if me is None:
            return 0
        rows = s.scalars(select(Run).where(Run.kind == "training", Run.status.in_(("queued", "running")),
                                           Run.created < me.created, Run.id != run_id)).all()
        return sum(1 for r in rows if jobs.alive(r.pid))


@contextlib.contextmanager
def device_slot(run_id: str, emit, poll_s: float = 0.5, while_waiting=None):
    """Hold one of the device's training slots for the duration of the block; wait in line until then.
    `while_waiting` runs once, after the job has said it is queued (e.g. the imports training needs)."""
    import settings

    folder = settings.runs_dir() / ".locks"
    folder.mkdir(parents=True, exist_ok=True)
    handles = [open(folder / f"training-{device_name()}-{i}.lock", "w") for i in range(slots())]
    held, last_position = None, None
    try:
        while held is None:
            position = ahead_of(run_id)
            if position < slots():
                for handle in handles:
                    try:
                        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        held = handle
                        break
                    except BlockingIOError:
                        continue
            if held is None:
                position = max(position, 1)
                if position != last_position:
                    emit("queued", position=position, message=f"waiting for the {device_name()}: {position} job(s) ahead")
                    last_position = position
                if while_waiting is not None:
                    work, while_waiting = while_waiting, None
                    work()
                time.sleep(poll_s)
        yield
    finally:
        for handle in handles:
            handle.close()
