"""Jobs: a run directory per job and a child process that does the work, so a page reload or an app restart
loses nothing and a job can be cancelled.

The UI calls `start(kind, config, argv)`: it writes runs/<id>/config.yaml, records the run in the store and
starts `python -m <package> ... --config runs/<id>/config.yaml --run-dir runs/<id>` (never a shell). The child
appends one JSON object per line to events.jsonl; the UI tails it (`events`) and reads the store. `cancel`
kills the whole process tree. A child that dies without saying so is marked failed with its last log line.
"""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import yaml

import settings

ROOT = Path(__file__).resolve().parent.parent
TERMINAL = ("done", "failed", "cancelled")


# -- run directories and their event log ---------------------------------------------------------------------
def new_run_dir(kind: str) -> Path:
    run_id = f"{kind}-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    path = settings.runs_dir() / run_id
    path.mkdir(parents=True)
    return path


def append_event(run_dir: str | Path, event: str, **fields) -> dict:
    """One checked line in events.jsonl (jobs.events.write: the schema of each kind is there)."""
    from jobs.event_schema import write

    return write(run_dir, event, **fields)


def events(run_dir: str | Path, offset: int = 0) -> tuple[list[dict], int]:
    """Complete, checked events after byte `offset`, and the offset to continue from (jobs.events.read)."""
    from jobs.event_schema import read

    return read(run_dir, offset)


def set_status(run_id: str, status: str, error: str | None = None, *, restart: bool = False, **fields) -> bool:
    """Record a status change in the store (the child also writes it to events.jsonl with append_event).

    A finished run stays finished unless `restart` (a resumed run: its old error and end time go). One
    conditional UPDATE, so the app and its child writing at once cannot undo each other's change (a read
    followed by a write could put a finished run back to running). True when the change was made."""
    import store
    from sqlalchemy import update
    from store.tables import Run, utcnow

    values = {"status": status, **fields}
    if error is not None:
        values["error"] = error
    if restart:
        values.setdefault("error", None)
        values["finished"] = None
    if status in TERMINAL:
        values["finished"] = utcnow()
    statement = update(Run).where(Run.id == run_id)
    if not restart:
        statement = statement.where(Run.status.not_in(TERMINAL))
    with store.session() as s:
        return s.execute(statement.values(**values)).rowcount > 0


# -- child processes ------------------------------------------------------------------------------------------
def start(kind: str, config: dict, module: str, title: str = "", secrets: dict[str, str] | None = None,
          status: str = "running") -> str:
    """Write the config, record the run and start `python -m module run --config ... --run-dir ...`.

    `secrets` (e.g. an API key typed in the browser) reach the child through its environment only: never the
    config, the store or a file. Paths are made absolute, so the child finds the same runs and store wherever
    the app was started from. With `status` "queued" the child says when it really runs (training waits for its
    device)."""
    import store
    from store.tables import Run

    run_dir = new_run_dir(kind).resolve()
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    run_id = run_dir.name
    with store.session() as s:
        s.add(Run(id=run_id, kind=kind, status="queued", directory=str(run_dir.resolve()), title=title))
    launch(run_id, module, secrets=secrets, status=status)
    return run_id


def launch(run_id: str, module: str, *, extra_args: tuple[str, ...] = (), secrets: dict[str, str] | None = None,
           status: str = "running", restart: bool = False) -> None:
    """Start the child for an existing run directory (a new run, or `restart` one that stopped: resume)."""
    import store
    from sqlalchemy import update
    from store.tables import Run

    run_dir = Path(get(run_id).directory)
    if restart:
        set_status(run_id, "queued", restart=True, pid=None)
    argv = [sys.executable, "-m", module, "run", "--config", str(run_dir / "config.yaml"), "--run-dir", str(run_dir),
            *extra_args]
    log = open(run_dir / "log.txt", "ab")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PHARMATUNE_RUNS": str(settings.runs_dir().resolve()),
           "PHARMATUNE_DATA": str(settings.data_dir().resolve()), "PHARMATUNE_STORE_URL": settings.store_url(),
           **(secrets or {})}
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env=env)
    log.close()
    (run_dir / "pid").write_text(str(proc.pid))
    _children[run_id] = proc
    # reap the child the moment it exits, so a finished or crashed job never lingers as a zombie
    threading.Thread(target=proc.wait, name=f"reap-{run_id}", daemon=True).start()
    if status == "running":
        set_status(run_id, "running", pid=proc.pid)
    else:  # the child says when it runs; only record its pid (never overwrite a status it already wrote)
        with store.session() as s:
            s.execute(update(Run).where(Run.id == run_id).values(pid=proc.pid))


_children: dict[str, subprocess.Popen] = {}  # reaped by poll() so finished children do not linger as zombies


def get(run_id: str):
    import store
    from store.tables import Run

    with store.session() as s:
        return s.get(Run, run_id)


def list_runs(kind: str | None = None, limit: int = 50) -> list:
    import store
    from sqlalchemy import select
    from store.tables import Run

    query = select(Run).order_by(Run.created.desc()).limit(limit)
    if kind:
        query = query.where(Run.kind == kind)
    with store.session() as s:
        return list(s.scalars(query))


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    import psutil

    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def poll(run_id: str):
    """The run, with a child that died without a final status marked failed (its last log line as the error)."""
    child = _children.get(run_id)
    if child is not None and child.poll() is not None:
        _children.pop(run_id, None)
    run = get(run_id)
    if run is None or run.status in TERMINAL or alive(run.pid):
        return run
    if run.status == "queued" and not run.pid:  # recorded, its process not started yet
        return run
    time.sleep(0.2)  # the child may be writing its final status right now
    run = get(run_id)
    if run.status not in TERMINAL:
        error = _last_log_line(Path(run.directory)) or "the process ended without reporting a result"
        if set_status(run_id, "failed", error=error):
            append_event(run.directory, "status", status="failed", error=error)
        run = get(run_id)
    return run


def reconcile() -> list[str]:
    """Settle every run the store still calls queued or running: one whose process is gone is marked failed with
    its last log line. The app calls this at start-up and the command lines before they start or list runs, so a
    job killed while nothing watched it does not stay "running". Only runs whose folder is on this machine are
    judged: a store shared by several machines (PostgreSQL) also holds runs whose process lives elsewhere."""
    settled = []
    for run in list_runs(limit=500):
        if run.status not in TERMINAL and run.directory and Path(run.directory).is_dir():
            after = poll(run.id)
            if after is not None and after.status in TERMINAL:
                settled.append(run.id)
    return settled


def reconcile_for_cli() -> str | None:
    """reconcile() for a command line: None when done, else the store's sentence (the command says it and stops).
    A SQLite store that does not exist yet holds no runs: it is not created just to look (a refused command
    writes nothing)."""
    import settings
    from errors import UserError

    url = settings.store_url()
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    try:
        reconcile()
    except UserError as exc:
        return str(exc)
    return None


def _last_log_line(run_dir: Path) -> str:
    log = run_dir / "log.txt"
    if not log.exists():
        return ""
    lines = [l for l in log.read_text(encoding="utf-8", errors="replace").splitlines() if l.strip()]
    return lines[-1].strip() if lines else ""


def cancel(run_id: str) -> bool:
    """Kill the run's process tree and mark it cancelled. False when it had already finished."""
    import psutil

    run = get(run_id)
    if run is None or run.status in TERMINAL:
        return False
    if run.pid:
        try:
            parent = psutil.Process(run.pid)
            procs = parent.children(recursive=True) + [parent]
        except psutil.NoSuchProcess:
            procs = []
        for proc in procs:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(procs, timeout=10)
        child = _children.pop(run_id, None)
        if child is not None:
            child.wait(timeout=10)
    if not set_status(run_id, "cancelled", error="cancelled by the user"):
        return False  # it finished while we were stopping it
    append_event(run.directory, "status", status="cancelled")
    return True
