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


class OpenAIJob(Base):
    """An OpenAI fine-tuning job: what was asked, the estimate, and what OpenAI reports as it runs.

    `token` is generated here before the job is created and sent as its Idempotency-Key and in its metadata,
    so a retried launch finds the job it already created instead of paying twice. Never holds the API key."""

    __tablename__ = "openai_jobs"
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[str | None] = mapped_column(String(80), nullable=True, unique=True, index=True)  # ftjob-...
    model: Mapped[str] = mapped_column(String(120))
    suffix: Mapped[str] = mapped_column(String(64), default="")
    training_file: Mapped[str] = mapped_column(Text, default="")  # local path
    validation_file: Mapped[str] = mapped_column(Text, default="")
    training_file_id: Mapped[str] = mapped_column(String(80), default="")  # file-...
    validation_file_id: Mapped[str] = mapped_column(String(80), default="")
    hyperparameters: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(32), default="uploading")  # then OpenAI's statuses
    estimated_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    estimated_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    trained_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actual_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    fine_tuned_model: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    events: Mapped[list] = mapped_column(JSON, default=list)  # OpenAI's job events, oldest first
    checkpoints: Mapped[list] = mapped_column(JSON, default=list)  # step + metrics of each checkpoint
    directory: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # OpenAI's created_at
    finished: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class LedgerEntry(Base):
    """One line of OpenAI spend: a fine-tuning job (estimated, then actual) or billed inference tokens."""

    __tablename__ = "openai_ledger"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # fine-tune | inference
    source: Mapped[str] = mapped_column(String(120), default="")  # job token, chat, evaluation:<benchmark> ...
    model: Mapped[str] = mapped_column(Text, index=True)
    job_token: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    trained_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    estimated_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    actual_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
