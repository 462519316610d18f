"""Launch, follow and cancel OpenAI fine-tuning jobs; their state lives in the store (OpenAIJob).

Idempotent creation: a token is made here before anything is sent and stored at once. It goes out as the
Idempotency-Key header of the create call (so the client's own retries after a timeout are answered with the
same job) and in the job's metadata. Before creating, and again after a create that failed without an answer,
we look the token up with jobs.list: a launch retried with the same token adopts the job it already made.

Polling: `sync` asks OpenAI once (job, latest events, checkpoints) and writes what changed. The OpenAI tab calls
it from its timer and `python -m training openai status JOB [--watch]` from the command line; no background
process holds the key. A run folder (runs/openai-...) keeps config.yaml and events.jsonl, never the key.

Refusals: a creation OpenAI refuses because its fine-tuning is winding down (openai_ft.winddown) is a RefusedError
with one sentence naming the cutoff; the stored job says "refused" and its ledger line is settled at $0.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timezone
from pathlib import Path

from errors import UserError

TERMINAL = ("succeeded", "failed", "cancelled")
METADATA_KEY = "pharmatune_token"
EVENTS_KEPT = 2000


class JobError(UserError, RuntimeError):
    """A launch or a status call cannot go on; the message says why and what to do."""


def _utc(ts: int | None):
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).replace(tzinfo=None)


def find(ref: str):
    """The stored job for a token, an OpenAI job id (ftjob-...) or a run folder name."""
    import store
    from sqlalchemy import or_, select
    from store.tables import OpenAIJob

    with store.session() as s:
        job = s.scalars(select(OpenAIJob).where(or_(OpenAIJob.token == ref, OpenAIJob.job_id == ref,
                                                    OpenAIJob.directory.endswith(f"/{ref}")))).first()
    if job is None:
        raise JobError(f"No OpenAI job {ref!r} in the store: give a job id (ftjob-...), the token printed by "
                       "launch, or its run folder name (openai-...).")
    return job


def _update(token: str, **values) -> None:
    import store
    from sqlalchemy import update
    from store.tables import OpenAIJob

    with store.session() as s:
        s.execute(update(OpenAIJob).where(OpenAIJob.token == token).values(**values))


def _remote_job(client, token: str):
    """The job OpenAI already has for this token, if any (metadata filter, checked again here)."""
    for job in client.fine_tuning.jobs.list(limit=100, metadata={METADATA_KEY: token}):
        if (job.metadata or {}).get(METADATA_KEY) == token:
            return job
    return None


def _hyperparameters(epochs, batch_size, lr_multiplier) -> dict:
    out = {}
    for key, value in (("n_epochs", epochs), ("batch_size", batch_size), ("learning_rate_multiplier", lr_multiplier)):
        if value not in (None, "", "auto"):
            out[key] = value
    return out


def _upload(client, path: str, token: str, role: str) -> str:
    data = Path(path).read_bytes()
    uploaded = client.files.create(file=(Path(path).name, data, "application/jsonl"), purpose="fine-tune",
                                   extra_headers={"Idempotency-Key": f"{token}-{role}"})
    return uploaded.id


def launch(training_path: str, model: str, *, api_key: str | None = None, validation_path: str | None = None,
           suffix: str = "", epochs=None, batch_size=None, lr_multiplier=None, token: str | None = None,
           client=None, force: bool = False):
    """Check, estimate, upload and create the job; returns the stored OpenAIJob. Re-running with the same
    `token` never creates a second job. Refuses a file with errors unless `force`."""
    import jobs as run_jobs
    import store
    import yaml
    from store.tables import OpenAIJob
    from openai_ft import client as clients, estimate as estimates, ledger

    from openai_ft import pricing

    row = pricing.load().resolve(model)
    model = row.model if row else model  # an alias (gpt-4o-mini) goes out as the snapshot it is priced as
    existing = None
    if token:
        try:
            existing = find(token)
        except JobError:
            existing = None
    if existing is not None and existing.job_id:
        return existing  # already created: nothing to do
    est = estimates.estimate(training_path, model, epochs)
    if est.checks.errors and not force:
        first = next(f for f in est.checks.findings if f.severity == "error")
        raise JobError(f"{Path(training_path).name} has {est.checks.errors} error(s) that OpenAI would reject, first: "
                       f"{first.text()} Fix them (see the estimate) before launching.")
    if validation_path:
        vcheck = estimates.estimate(validation_path, model, epochs)
        if vcheck.checks.errors and not force:
            first = next(f for f in vcheck.checks.findings if f.severity == "error")
            raise JobError(f"The validation file {Path(validation_path).name} has {vcheck.checks.errors} error(s), "
                           f"first: {first.text()}")
    hyper = _hyperparameters(estimates.parse_epochs(epochs), batch_size, lr_multiplier)
    if existing is None:  # a retry of a job already paid for is not a new spend
        from openai_ft import budget

        try:
            budget.check(est.cost_usd, own_key=bool((api_key or "").strip()), what="this job")
        except budget.BudgetError as exc:
            raise JobError(str(exc)) from None
    client = client or clients.make(api_key)
    if existing is None:
        token = token or secrets.token_hex(12)
        run_dir = run_jobs.new_run_dir("openai").resolve()
        config = {"command": "launch", "training_file": str(Path(training_path).resolve()), "model": model,
                  "validation_file": str(Path(validation_path).resolve()) if validation_path else None,
                  "suffix": suffix, "hyperparameters": hyper, "token": token,
                  "estimate": est.summary()}
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
                                             encoding="utf-8")
        with store.session() as s:
            s.add(OpenAIJob(token=token, model=model, suffix=suffix, training_file=config["training_file"],
                            validation_file=config["validation_file"] or "", hyperparameters=hyper,
                            status="uploading", estimated_tokens=est.trained_tokens, estimated_usd=est.cost_usd,
                            directory=str(run_dir)))
        from openai_ft.budget import OWN_KEY_NOTE

        ledger.record_job(token, model, est.cost_usd, est.trained_tokens,
                          note=OWN_KEY_NOTE if (api_key or "").strip() else "")
        run_jobs.append_event(run_dir, "launch", token=token, model=model, estimated_usd=est.cost_usd,
                              trained_tokens=est.trained_tokens)
        existing = find(token)
    token = existing.token
    try:
        remote = _remote_job(client, token)
        if remote is None:
            train_id = existing.training_file_id or _upload(client, training_path, token, "train")
            valid_id = existing.validation_file_id or (
                _upload(client, validation_path, token, "validation") if validation_path else "")
            _update(token, training_file_id=train_id, validation_file_id=valid_id, status="creating")
            request = dict(model=model, training_file=train_id, metadata={METADATA_KEY: token},
                           extra_headers={"Idempotency-Key": token})
            if valid_id:
                request["validation_file"] = valid_id
            if suffix:
                request["suffix"] = suffix
            if hyper:
                request["method"] = {"type": "supervised", "supervised": {"hyperparameters": hyper}}
            try:
                remote = client.fine_tuning.jobs.create(**request)
            except Exception as exc:  # noqa: BLE001 - did the job get made before the answer was lost?
                remote = _remote_job_quietly(client, token)
                if remote is None:
                    _refused(exc, token, model)
                    raise exc
    except JobError:
        raise
    except Exception as exc:  # noqa: BLE001 - every openai error becomes one sentence
        from openai_ft.client import describe

        message = describe(exc, f"Launching the fine-tuning job on {model}")
        _update(token, error=message)
        raise JobError(f"{message} Nothing was paid for yet unless a job shows in OpenAI's dashboard; run the same "
                       f"launch again with --token {token} and it will not create a second job.") from None
    _update(token, job_id=remote.id, status=remote.status, error=None, started=_utc(remote.created_at))
    run_jobs.append_event(existing.directory, "created", job_id=remote.id, status=remote.status)
    return find(token)


class RefusedError(JobError):
    """OpenAI refused to create the job because its fine-tuning is winding down; the message names the cutoff."""


def _refused(exc: Exception, token: str, model: str) -> None:
    """Raise RefusedError when `exc` is the wind-down's refusal: the stored job says "refused" with the sentence,
    and its ledger line is settled at $0 (no job, nothing billed)."""
    from openai_ft import ledger, winddown

    try:
        sentence = winddown.refusal(exc, model)
    except Exception:  # noqa: BLE001 - an unreadable price table: report what OpenAI said, as usual
        sentence = None
    if sentence is None:
        return
    _update(token, status=winddown.REFUSED_STATUS, error=sentence)
    ledger.void_job(token, "refused by OpenAI (fine-tuning wind-down): no job, nothing billed")
    raise RefusedError(sentence) from None


def _remote_job_quietly(client, token):
    try:
        return _remote_job(client, token)
    except Exception:  # noqa: BLE001 - the original error is the one to report
        return None


def sync(ref: str, *, api_key: str | None = None, client=None):
    """Ask OpenAI for the job's state, its latest events and its checkpoints; record them. Returns the job."""
    import jobs as run_jobs
    from openai_ft import client as clients, ledger

    job = find(ref)
    if not job.job_id:
        raise JobError(f"Job {job.token} was never created at OpenAI ({job.error or job.status}); launch it again "
                       f"with --token {job.token}.")
    client = client or clients.make(api_key)
    try:
        remote = client.fine_tuning.jobs.retrieve(job.job_id)
        fresh = client.fine_tuning.jobs.list_events(job.job_id, limit=100).data
        checkpoints = _checkpoints(client, job.job_id)
    except Exception as exc:  # noqa: BLE001
        from openai_ft.client import describe

        raise JobError(describe(exc, f"Reading the status of {job.job_id}")) from None
    known = {e["id"] for e in job.events}
    # OpenAI lists newest first; oldest first here (a stable sort keeps that order within one second)
    new = sorted((e.model_dump(mode="json") for e in reversed(fresh) if e.id not in known), key=lambda e: e["created_at"])
    for event in new:
        run_jobs.append_event(job.directory, "openai", **{k: event.get(k) for k in ("id", "created_at", "level",
                                                                                     "message", "type", "data")})
    values = dict(status=remote.status, trained_tokens=remote.trained_tokens, fine_tuned_model=remote.fine_tuned_model,
                  started=_utc(remote.created_at), finished=_utc(remote.finished_at),
                  events=(job.events + new)[-EVENTS_KEPT:],
                  checkpoints=sorted(({"step": c.step_number, "id": c.fine_tuned_model_checkpoint,
                                       **c.metrics.model_dump(exclude_none=True)} for c in checkpoints),
                                     key=lambda c: c["step"]),
                  error=(f"{remote.error.code}: {remote.error.message}" if remote.error and remote.error.message else None))
    if remote.status in TERMINAL and remote.trained_tokens and job.actual_usd is None:
        values["actual_usd"] = ledger.settle_job(job.token, job.model, remote.trained_tokens, remote.id)
    if remote.status != job.status:
        run_jobs.append_event(job.directory, "status", status=remote.status, trained_tokens=remote.trained_tokens,
                              fine_tuned_model=remote.fine_tuned_model)
    _update(job.token, **values)
    return find(job.token)


def _checkpoints(client, job_id: str) -> list:
    """The job's checkpoints; none from an OpenAI-compatible server that has no checkpoints endpoint (404)."""
    import openai

    try:
        return client.fine_tuning.jobs.checkpoints.list(job_id, limit=100).data
    except openai.NotFoundError:
        return []


def cancel(ref: str, *, api_key: str | None = None, client=None):
    from openai_ft import client as clients

    job = find(ref)
    if job.status in TERMINAL:
        raise JobError(f"{job.job_id or job.token} has already {job.status}; nothing to cancel.")
    if not job.job_id:
        _update(job.token, status="cancelled", error="cancelled before it was created at OpenAI")
        return find(job.token)
    client = client or clients.make(api_key)
    try:
        client.fine_tuning.jobs.cancel(job.job_id)
    except Exception as exc:  # noqa: BLE001
        from openai_ft.client import describe

        raise JobError(describe(exc, f"Cancelling {job.job_id}")) from None
    return sync(job.token, client=client)


def list_jobs(limit: int = 50) -> list:
    import store
    from sqlalchemy import select
    from store.tables import OpenAIJob

    with store.session() as s:
        return s.scalars(select(OpenAIJob).order_by(OpenAIJob.created.desc()).limit(limit)).all()


def active_jobs() -> list:
    return [j for j in list_jobs(200) if j.job_id and j.status not in TERMINAL]


def fine_tuned_models() -> list[str]:
    """openai:ft:... references of every succeeded job, newest first (for the Chat and Evaluate lists)."""
    return [f"openai:{j.fine_tuned_model}" for j in list_jobs(200) if j.status == "succeeded" and j.fine_tuned_model]


def metric_points(job) -> list[dict]:
    """(step, value, series) rows for the plots: OpenAI's metrics events, then the checkpoints' full metrics."""
    names = {"train_loss": "train loss", "valid_loss": "valid loss", "full_valid_loss": "full valid loss",
             "train_mean_token_accuracy": "train token accuracy", "valid_mean_token_accuracy": "valid token accuracy",
             "full_valid_mean_token_accuracy": "full valid token accuracy"}
    points = []
    for event in job.events:
        data = event.get("data") or {}
        if event.get("type") == "metrics" and isinstance(data, dict) and "step" in data:
            points += [{"step": data["step"], "value": data[k], "series": label}
                       for k, label in names.items() if isinstance(data.get(k), (int, float))]
    for cp in job.checkpoints:
        points += [{"step": cp["step"], "value": cp[k], "series": f"checkpoint {label}"}
                   for k, label in names.items() if isinstance(cp.get(k), (int, float))]
    return points
