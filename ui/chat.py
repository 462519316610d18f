"""Chat tab: stream answers from one model, or from two side by side (base vs fine-tuned).

`stream_turn` holds the logic and knows nothing of Gradio, so tests drive it directly; `build` wires widgets.
Each model keeps its own conversation; a failed turn shows its error in the chat and is left out of the
history sent next time.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator

from ui import roles, strings

log = logging.getLogger(__name__)
UPDATE_INTERVAL = 0.08  # seconds between chat updates sent to the browser while text streams
# The chat default: at temperature 0 the builtin SmolLM2 repeats a 4-word phrase 63 times in a 160-token answer on
# metformin without it, never with 1.1 (measured 2026-12-01); evaluation and the /v1 API keep 1 (off).
REPETITION_PENALTY = 1.1


@dataclass
class Pane:
    """One model's side of the chat: what it was sent (history) and what the user sees (display, stats)."""

    ref: str
    history: list[dict] = field(default_factory=list)
    display: list[dict] = field(default_factory=list)
    stats: str = ""


def format_stats(ref: str, result, params=None) -> str:
    first = f"first token {result.first_token_seconds:.2f} s · " if result.first_token_seconds is not None else ""
    used = f" · {params.describe()}" if params is not None else ""
    return (f"**{ref}** · {first}{result.completion_tokens} tokens in {result.seconds:.2f} s · "
            f"{result.tokens_per_second:.1f} tok/s{used}")


def parse_stop(text: str) -> list[str]:
    """One stop sequence per line; '\\n' written literally means a newline."""
    return [line.replace("\\n", "\n") for line in (text or "").splitlines() if line]


def _answer(pane: Pane, messages: list[dict], params, api_key: str | None, out: queue.Queue, cancel: threading.Event):
    """Runs in a worker thread: load, stream, and report ('text', pane, piece) ... then ('done'|'error', ...)."""
    from models import ModelError, registry

    try:
        if registry.loads_weights(pane.ref) and not registry.is_loaded(pane.ref):
            out.put(("loading", pane, None))
        model = registry.resolve(pane.ref, api_key=api_key)
        notes, model.load_notes = list(model.load_notes), []
        stream = model.stream(messages, params)
        pieces = iter(stream)
        for piece in pieces:
            if cancel.is_set():
                pieces.close()
                break
            out.put(("text", pane, piece))
        stream.result.notes[:0] = notes
        out.put(("done", pane, stream.result))
    except ModelError as exc:
        out.put(("error", pane, str(exc)))
    except Exception as exc:  # noqa: BLE001 - the chat must show a sentence, never a stack trace
        log.exception("chat with %s failed", pane.ref)
        out.put(("error", pane, strings.UNEXPECTED.format(ref=pane.ref, kind=type(exc).__name__, detail=exc)))


def _next_events(out: queue.Queue, not_before: float) -> list:
    """Wait for one event, then gather what else arrives until `not_before`.

    Each update re-sends the whole chat to the browser; one per token costs Gradio enough CPU on 2 cores to slow
    generation from ~35 to ~19 tok/s, so updates are coalesced to at most one per UPDATE_INTERVAL.
    """
    events = [out.get()]
    while True:
        try:
            events.append(out.get(timeout=max(0.0, not_before - time.monotonic())))
        except queue.Empty:
            return events


def stream_turn(message: str, panes: list[Pane], system: str, params, api_key: str | None = None) -> Iterator[list[Pane]]:
    """Send `message` to every pane's model at once and yield the panes after each new piece of text."""
    if not (message or "").strip():
        for pane in panes:
            pane.display.append({"role": "assistant", "content": strings.ERROR_PREFIX + strings.EMPTY_MESSAGE})
        yield panes
        return
    out: queue.Queue = queue.Queue()
    cancel = threading.Event()
    answers = {}
    for pane in panes:
        pane.display += [{"role": "user", "content": message}, {"role": "assistant", "content": ""}]
        pane.stats = ""
        messages = ([{"role": "system", "content": system}] if system.strip() else []) + pane.history + [
            {"role": "user", "content": message}
        ]
        answers[id(pane)] = ""
        threading.Thread(target=_answer, args=(pane, messages, params, api_key, out, cancel), daemon=True).start()
    yield panes
    running = len(panes)
    last_update = 0.0
    try:
        while running:
            for kind, pane, value in _next_events(out, last_update + UPDATE_INTERVAL):
                bubble = pane.display[-1]
                if kind == "loading":
                    bubble["content"] = strings.LOADING.format(ref=pane.ref)
                elif kind == "text":
                    answers[id(pane)] += value
                    bubble["content"] = answers[id(pane)]
                elif kind == "done":
                    running -= 1
                    pane.history += [{"role": "user", "content": message},
                                     {"role": "assistant", "content": value.text}]
                    bubble["content"] = value.text + "".join(f"\n\n_Note: {n}_" for n in value.notes)
                    pane.stats = format_stats(pane.ref, value, params)
                else:
                    running -= 1
                    bubble["content"] = strings.ERROR_PREFIX + value
                    pane.stats = ""
            yield panes
            last_update = time.monotonic()
    finally:
        cancel.set()  # the user pressed Stop or left: workers stop generating


def build(default_model: str) -> None:
    """Lay out the Chat tab inside the current gr.Blocks."""
    import gradio as gr

    import prompts
    import settings
    from models import GenerationParams, InputError
    from models.catalog import available_models

    examples = prompts.load("chat_examples")
    session_key = gr.State("")  # this browser session's OpenAI key; lives in server memory only
    panes = gr.State(None)

    with gr.Row():
        listed = available_models(server_key=not roles.policy().public)
        model_a = gr.Dropdown(listed, value=default_model, label="Model", allow_custom_value=True, scale=4,
                              elem_id="model-a")
        model_b = gr.Dropdown(listed, value=default_model, label="Second model", allow_custom_value=True,
                              elem_id="model-b", visible=False, scale=4)
        compare = gr.Checkbox(label="Compare two models side by side", value=False, scale=1, elem_id="compare")
    with gr.Row():
        with gr.Column():
            chat_a = gr.Chatbot(label="Answer", height=420, elem_id="chat-a")
            stats_a = gr.Markdown(elem_id="stats-a")
        with gr.Column(visible=False) as column_b:
            chat_b = gr.Chatbot(label="Second model's answer", height=420, elem_id="chat-b")
            stats_b = gr.Markdown(elem_id="stats-b")
    message = gr.Textbox(label="Message", placeholder="Ask about a drug, an interaction, a SMILES string …",
                         lines=2, elem_id="chat-message")
    with gr.Row():
        send = gr.Button("Send", variant="primary", elem_id="chat-send")
        stop = gr.Button("Stop", elem_id="chat-stop")
        clear = gr.Button("Clear", elem_id="chat-clear")
    gr.Examples([[e["prompt"]] for e in examples["examples"]], inputs=[message], label="Examples for drug work")
    with gr.Accordion("Generation settings", open=False):
        system = gr.Textbox(value=examples["system_prompt"], label="System prompt", lines=2)
        with gr.Row():
            temperature = gr.Slider(0, 2, value=0, step=0.05, label="Temperature (0 = greedy)")
            top_p = gr.Slider(0.05, 1, value=1, step=0.05, label="Top-p")
            max_new_tokens = gr.Slider(1, 2048, value=256, step=1, label="Max new tokens")
        with gr.Row():
            repetition = gr.Slider(1, 2, value=REPETITION_PENALTY, step=0.05, elem_id="chat-repetition",
                                   label="Repetition penalty (1 = off; 1.1 stops the small models' loops)")
            no_repeat = gr.Slider(0, 10, value=0, step=1, label="No repeated n-grams of size (0 = off)",
                                  elem_id="chat-no-repeat")
        stop_text = gr.Textbox(label="Stop sequences (one per line)", lines=2)
    with gr.Accordion("OpenAI API key", open=False):
        key_box = gr.Textbox(label="OpenAI API key", type="password", info=strings.KEY_HELP)

    def on_compare(enabled):
        return gr.update(visible=enabled), gr.update(visible=enabled)

    compare.change(on_compare, compare, [model_b, column_b], queue=False)

    def on_key(key):
        refs = available_models(key, server_key=roles.is_operator())
        return key, gr.update(choices=refs), gr.update(choices=refs)

    key_box.change(on_key, key_box, [session_key, model_a, model_b], queue=False)

    def respond(text, state, ref_a, ref_b, comparing, sys_prompt, temp, top, max_new, stops, key, penalty=1.0,
                ngrams=0):
        current = state or {}
        wanted = {"a": ref_a, **({"b": ref_b} if comparing else {})}
        # A pane keeps its conversation while its model stays the same; a new model starts a new one.
        new_state = {k: current[k] if k in current and current[k].ref == ref else Pane(ref) for k, ref in wanted.items()}
        chosen = list(new_state.values())
        # one answer per model asked, held until the stream ends or the visitor presses Stop or leaves
        with roles.writing_answers(len(chosen)) as busy:
            refused = busy or roles.chat_allowed()
            if refused is None and any(p.ref.startswith("openai:") for p in chosen) \
                    and not roles.may_use_server_openai_key(key):
                refused = roles.OPENAI_LOCKED
            try:
                if refused:
                    raise InputError(refused)
                params = GenerationParams(int(max_new), float(temp), float(top), parse_stop(stops),
                                          repetition_penalty=float(penalty), no_repeat_ngram_size=int(ngrams))
            except InputError as exc:
                chosen[0].display.append({"role": "assistant", "content": strings.ERROR_PREFIX + str(exc)})
                yield _outputs(new_state, text)
                return
            for _ in stream_turn(text, chosen, sys_prompt or "", params, key or None):
                yield _outputs(new_state, "")

    def _outputs(state, text):
        a, b = state.get("a"), state.get("b")
        return (state, a.display if a else [], b.display if b else [], a.stats if a else "",
                b.stats if b else "", text)

    inputs = [message, panes, model_a, model_b, compare, system, temperature, top_p, max_new_tokens, stop_text,
              session_key, repetition, no_repeat]
    outputs = [panes, chat_a, chat_b, stats_a, stats_b, message]
    # Gradio's own limit sits above the answer caps (roles.writing_answers), so a message over a cap is answered
    # with its sentence at once instead of waiting in Gradio's queue behind the answers being written.
    limit = settings.chat_concurrency() + 8
    events = [
        send.click(respond, inputs, outputs, concurrency_limit=limit),
        message.submit(respond, inputs, outputs, concurrency_limit=limit),
    ]
    stop.click(None, cancels=events)
    clear.click(lambda: (None, [], [], "", "", ""), None, outputs, cancels=events, queue=False)
