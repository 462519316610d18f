"""`openai:<model>` (also `openai:ft:...`): OpenAI chat completions behind the ChatModel API.

The key comes from the caller (typed in the UI, kept only in that browser session) or OPENAI_API_KEY. It is
never stored on this object's repr, written to disk or logged. OPENAI_BASE_URL points the client elsewhere
(a compatible server, or the fake server the tests run).
"""
from __future__ import annotations

import contextvars
import os

from models.errors import InputError, MissingPackageError, ModelError
from models.generation import ChatModel, GenerationParams, Message, TextStream, validate_messages

# Shown in model lists when a key is available; fine-tuned models (openai:ft:...) come from the store's jobs.
OPENAI_CHAT_MODELS = ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4.1"]

# Who is spending: every billed call goes to the cost ledger under this label ("chat" unless a caller, such as
# the evaluation runner, sets it for the calls it makes).
usage_source: contextvars.ContextVar[str] = contextvars.ContextVar("openai_usage_source", default="chat")


def key_available(session_key: str | None = None) -> bool:
    return bool((session_key or "").strip() or os.environ.get("OPENAI_API_KEY", "").strip())


def describe_error(model: str, exc: Exception) -> str:
    """One readable sentence naming what OpenAI said, for every error class the client raises."""
    import openai

    body = getattr(exc, "body", None)
    said = (body.get("message") if isinstance(body, dict) else None) or getattr(exc, "message", None) or str(exc)
    status = getattr(exc, "status_code", None)
    if isinstance(exc, openai.AuthenticationError):
        return f"OpenAI rejected the API key (401): {said}"
    if isinstance(exc, openai.PermissionDeniedError):
        return f"OpenAI refused access to {model} (403): {said}"
    if isinstance(exc, openai.NotFoundError):
        return f"OpenAI has no model {model!r} for this key (404): {said}"
    if isinstance(exc, openai.RateLimitError):
        return f"OpenAI rate limit or quota reached (429) for {model}: {said}"
    if isinstance(exc, openai.BadRequestError):
        return f"OpenAI refused the request for {model} (400): {said}"
    if isinstance(exc, openai.APIConnectionError):
        return f"Could not reach the OpenAI API for {model}: {said}"
    if status:
        return f"OpenAI answered {status} for {model}: {said}"
    return f"OpenAI call for {model} failed: {said}"


class OpenAIChatModel(ChatModel):
    def __init__(self, model: str, api_key: str, own_key: bool = False):
        try:
            import openai
        except ImportError as exc:
            raise MissingPackageError("openai: models need the openai package: pip install openai") from exc
        self.ref = f"openai:{model}"
        self.model = model
        self.own_key = own_key  # a key the user typed: theirs, so no server budget applies
        self.load_notes = []
        self._client = openai.OpenAI(api_key=api_key, max_retries=2, timeout=120)

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIChatModel({self.model!r})"

    def stream(self, messages: list[Message], params: GenerationParams) -> TextStream:
        from openai_ft import budget

        validate_messages(messages)
        try:
            budget.check(own_key=self.own_key, what="this answer")
        except budget.BudgetError as exc:
            raise InputError(str(exc)) from None
        request = dict(
            model=self.model,
            messages=[{"role": m["role"], "content": m["content"]} for m in messages],
            max_completion_tokens=params.max_new_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            stream=True,
            stream_options={"include_usage": True},
        )
        if params.stop:
            request["stop"] = params.stop[:4]  # the API accepts at most 4; TextStream applies all of them
        if params.seed is not None:
            request["seed"] = params.seed
        usage = {}
        state = {"response": None}

        def chunks():
            try:
                state["response"] = self._client.chat.completions.create(**request)
                for event in state["response"]:
                    if event.usage:
                        usage.update(prompt=event.usage.prompt_tokens, completion=event.usage.completion_tokens)
                    for choice in event.choices:
                        if choice.delta and choice.delta.content:
                            yield choice.delta.content
            except ModelError:
                raise
            except Exception as exc:  # noqa: BLE001 - openai raises many classes; describe_error names each
                raise ModelError(describe_error(self.model, exc)) from exc

        def cancel():
            if state["response"] is not None:
                state["response"].close()

        source = usage_source.get()

        def use_billed_counts(result):
            result.prompt_tokens = usage.get("prompt", result.prompt_tokens)
            result.completion_tokens = usage.get("completion", result.completion_tokens)
            if usage:
                from openai_ft import ledger

                ledger.record_inference(self.model, usage["prompt"], usage["completion"], source, own_key=self.own_key)

        return TextStream(chunks(), params, cancel=cancel, on_finish=use_billed_counts)


def load(model: str, api_key: str | None = None) -> OpenAIChatModel:
    if not model:
        raise ModelError("openai: needs a model name, for example openai:gpt-4o-mini.")
    typed = (api_key or "").strip()
    key = typed or os.environ.get("OPENAI_API_KEY", "").strip()
    if not key:
        raise InputError(
            f"openai:{model} needs an API key: set OPENAI_API_KEY, or type it in the OpenAI key box "
            "(it is kept for this browser session only)."
        )
    return OpenAIChatModel(model, key, own_key=bool(typed))
