"""Tables of the store. Metrics are a JSON column so a new metric needs no migration."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Run(Base):
    """One job (an evaluation now; training and searches later) and where its files are."""

    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # evaluation | training | search ...
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued running done failed cancelled
    directory: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, default="")
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class EvalResult(Base):
    """A leaderboard row: one model on one benchmark under one prompt variant."""

    __tablename__ = "eval_results"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(Text, index=True)  # the model reference, e.g. builtin:smollm2-135m-instruct
    base_model: Mapped[str] = mapped_column(Text, default="")
    method: Mapped[str] = mapped_column(String(32), default="base")  # base, lora, full, openai-ft ...
    run_id: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)  # the evaluation job
    benchmark: Mapped[str] = mapped_column(String(80), index=True)
    variant: Mapped[str] = mapped_column(String(80), default="default")
    metrics: Mapped[dict] = mapped_column(JSON)  # output name -> value (None when it could not be computed)
    details: Mapped[dict] = mapped_column(JSON, default=dict)  # confusion matrix, judge, per-group scores ...
    items: Mapped[int] = mapped_column(Integer)
    config_hash: Mapped[str] = mapped_column(String(16))
    cost_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    predictions_path: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
