"""How many tokens a conversation takes before anything is cut, for callers that must refuse rather than cut.

Chat cuts an over-long conversation to fit the context (with a note); the /v1 API answers 400 instead, as OpenAI
does, so it needs the uncut length with the model's own chat template."""
from __future__ import annotations

from models.generation import ChatModel, Message


def prompt_tokens(model: ChatModel, messages: list[Message]) -> int | None:
    """Tokens of `messages` as the model would read them; None for models that count nothing locally (dummy,
    OpenAI), whose backend enforces its own limit."""
    from models.transformers_backend import TransformersChatModel

    if not isinstance(model, TransformersChatModel):
        return None
    return len(model._encode(messages))
