"""`openai:<model>` (also `openai:ft:...`): OpenAI chat completions behind the ChatModel API.

The key comes from the caller (typed in the UI, kept only in that browser session) or OPENAI_API_KEY. It is
never stored on this object's repr, written to disk or logged. OPENAI_BASE_URL points the client elsewhere
(a compatible server, or the fake server the tests run).
"""
from __future__ import annotations

import contextvars
import math
import os

from models.errors import InputError, MissingPackageError, ModelError
from models.generation import (
    ChatModel, ChoiceScores, GenerationParams, LabelScore, Message, TextStream, check_labels, validate_messages,
)

# Shown in model lists when a key is available; fine-tuned models (openai:ft:...) come from the store's jobs.
OPENAI_CHAT_MODELS = ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4.1"]

# The most alternatives chat completions return per answer token (top_logprobs); choice mode reads them all.
TOP_LOGPROBS = 20

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


    # -- choice scoring --------------------------------------------------------------------------------------------
    def choice_logprobs(self, conversations: list[list[Message]], labels: list[str]) -> list[ChoiceScores]:
        """Each label scored by its first answer token: chat completions return the log-probabilities of the
        first token's top alternatives (top_logprobs), not of a given continuation."""
        labels = check_labels(labels)
        return [self._choice(messages, labels) for messages in conversations]

    def _no_logprobs(self, said: str = "") -> ModelError:
        why = f" ({said.rstrip('.')})" if said else ""
        return ModelError(f"{self.ref} gives no log-probabilities{why}; use generate mode (mode: generate).")

    def _choice(self, messages: list[Message], labels: list[str]) -> ChoiceScores:
        import openai

        from openai_ft import budget

        validate_messages(messages)
        try:
            budget.check(own_key=self.own_key, what="this answer")
        except budget.BudgetError as exc:
            raise InputError(str(exc)) from None
        try:
            response = self._client.chat.completions.create(
                model=self.model, messages=[{"role": m["role"], "content": m["content"]} for m in messages],
                max_completion_tokens=1, temperature=0, logprobs=True, top_logprobs=TOP_LOGPROBS,
            )
        except openai.BadRequestError as exc:
            said = describe_error(self.model, exc)
            raise (self._no_logprobs(said) if "logprob" in said.lower() else ModelError(said)) from exc
        except Exception as exc:  # noqa: BLE001 - openai raises many classes; describe_error names each
            raise ModelError(describe_error(self.model, exc)) from exc
        usage = response.usage
        prompt, completion = (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)
        if usage:
            from openai_ft import ledger

            ledger.record_inference(self.model, prompt, completion, usage_source.get(), own_key=self.own_key)
        choice = response.choices[0] if response.choices else None
        content = getattr(getattr(choice, "logprobs", None), "content", None)
        if not content:
            raise self._no_logprobs()
        top = [(t.token, t.logprob) for t in (content[0].top_logprobs or [])] or [(content[0].token, content[0].logprob)]
        return ChoiceScores(first_token_scores(top, labels, self.ref), prompt, completion)


def first_token_scores(top: list[tuple[str, float]], labels: list[str], ref: str = "openai") -> dict[str, LabelScore]:
    """Each label's log-probability from the first answer token's alternatives: every alternative that begins
    the label (case and outer spaces ignored) counts for it, summed as probabilities ("interaction",
    "Interaction", " inter"). A label none of them begins is given the lowest listed log-probability, an upper
    bound of its own. An alternative that begins two labels cannot say which one: that is an error.

    >>> s = first_token_scores([("no", -0.1), ("Interaction", -2.5), ("inter", -4.0), ("The", -5.0)],
    ...                        ["interaction", "no interaction"])
    >>> round(s["no interaction"].logprob, 3), round(s["interaction"].logprob, 3)
    (-0.1, -2.299)
    """
    if not top:
        raise ModelError(f"{ref} returned no log-probabilities for its answer; use generate mode (mode: generate).")
    found: dict[str, list[float]] = {label: [] for label in labels}
    for token, logprob in top:
        piece = token.strip().lower()
        if not piece:
            continue
        begins = [label for label in labels if label.strip().lower().startswith(piece)]
        if len(begins) > 1:
            raise ModelError(f"{ref} gives log-probabilities of the first answer token only, and the labels "
                             f"{begins[0]!r} and {begins[1]!r} both begin with {token!r}, so they cannot be told "
                             "apart; use labels that begin differently, or generate mode.")
        if begins:
            found[begins[0]].append(logprob)
    floor = min(logprob for _, logprob in top)
    scores = {}
    for label, logprobs in found.items():
        if logprobs:
            top_lp = max(logprobs)
            value = top_lp + math.log(sum(math.exp(lp - top_lp) for lp in logprobs))
        else:
            value = floor
        scores[label] = LabelScore(value, 1)
    return scores


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
