"""The store: one SQLAlchemy database for runs and the leaderboard (later OpenAI jobs and the cost ledger).

SQLite by default (settings.store_url); any SQLAlchemy URL works, so a team can share PostgreSQL. Tables are
created on first use. Writers use `session()` as a transaction: either everything in it lands or nothing does.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import settings
from store import urls

_engines: dict = {}
_lock = threading.Lock()


def engine(url: str | None = None):
    """The engine for `url` (default: settings.store_url()), created with its tables on first use."""
    from sqlalchemy import create_engine, event

    from store.tables import Base

    url = urls.normalize(url or settings.store_url())
    with _lock:
        if url not in _engines:
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            urls.check_driver(url)
            eng = create_engine(url, future=True, pool_pre_ping=True)
            if eng.dialect.name == "sqlite":  # the app and its child processes write at once: wait, don't fail
                @event.listens_for(eng, "connect")
                def _sqlite_pragmas(conn, _record):
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA busy_timeout=30000")
            try:
                Base.metadata.create_all(eng)
            except Exception as exc:  # noqa: BLE001 - host down, bad password, not a database: one sentence
                from sqlalchemy.exc import SQLAlchemyError

                if not isinstance(exc, SQLAlchemyError):
                    raise
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                raise urls.StoreError(f"The store {urls.masked(url)} cannot be used: {reason}") from None
            _engines[url] = eng
        return _engines[url]


@contextmanager
def session(url: str | None = None) -> Iterator:
    """A transaction: committed when the block ends, rolled back if it raises."""
    from sqlalchemy.orm import Session

    with Session(engine(url), expire_on_commit=False) as s:
        with s.begin():
            yield s
