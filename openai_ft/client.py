"""The openai client for fine-tuning, and one readable sentence for every way a call can fail.

Retries: the client itself retries 408/409/429/5xx, timeouts and dropped connections with exponential backoff
(0.5 s doubling to 8 s, with jitter) and waits exactly as long as a Retry-After header says (up to 2 minutes).
We ask for MAX_RETRIES of them. The key is passed in and kept only inside the client object.
"""
from __future__ import annotations

import os

from errors import UserError

MAX_RETRIES = 4
TIMEOUT_S = 60.0


class OpenAIError(UserError, RuntimeError):
    """A call to OpenAI failed; the message says what OpenAI said and what to do."""


def resolve_key(typed: str | None = None) -> str:
    key = (typed or "").strip() or os.environ.get("OPENAI_API_KEY", "").strip()
    if not key:
        raise OpenAIError("This needs an OpenAI API key: set OPENAI_API_KEY, or type it in the OpenAI tab's key box "
                          "(kept for this browser session only).")
    return key


def make(api_key: str | None = None, *, timeout: float = TIMEOUT_S, max_retries: int = MAX_RETRIES):
    """An openai.OpenAI client; OPENAI_BASE_URL (read by the client) points it at another server."""
    import openai

    return openai.OpenAI(api_key=resolve_key(api_key), timeout=timeout, max_retries=max_retries)


def describe(exc: Exception, what: str) -> str:
    """`what` failed: the HTTP status and OpenAI's own message, in one sentence."""
    import openai

    body = getattr(exc, "body", None)
    said = (body.get("message") if isinstance(body, dict) else None) or getattr(exc, "message", None) or str(exc)
    said = str(said).rstrip(".")
    status = getattr(exc, "status_code", None)
    kinds = [
        (openai.AuthenticationError, "OpenAI rejected the API key (401)"),
        (openai.PermissionDeniedError, "OpenAI refused access (403)"),
        (openai.NotFoundError, "OpenAI does not know it (404)"),
        (openai.BadRequestError, "OpenAI refused the request (400)"),
        (openai.RateLimitError, "OpenAI's rate limit or quota was reached (429), even after retrying"),
        (openai.APITimeoutError, "OpenAI did not answer in time, even after retrying"),
        (openai.APIConnectionError, "Could not reach the OpenAI API"),
        (openai.InternalServerError, f"OpenAI had a server error ({status}), even after retrying"),
    ]
    for cls, text in kinds:
        if isinstance(exc, cls):
            return f"{what}: {text}: {said}."
    if status:
        return f"{what}: OpenAI answered {status}: {said}."
    return f"{what}: {type(exc).__name__}: {said}."
