"""OpenAI-compatible HTTP endpoints: POST /v1/chat/completions (streaming or not) and GET /v1/models.

Any OpenAI client works against it (base_url="http://127.0.0.1:7860/v1"). Every answer other than 200 is OpenAI's
error JSON with one sentence in it, never a stack trace: 400 for a malformed body or an over-long prompt (naming
the limit), 401/403 for keys (serve.keys), 404 for an unknown model ("did you mean"), 429 when the queue is full,
503 for a model that cannot load.

Blocking work never runs on the server's event loop: model loading, token counting and catalog reads run on a
small pool of their own (not the thread pool Gradio's handlers share), non-streaming answers come from the
batcher (serve.batching), and each stream reads its model's TextStream on a thread of its own.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path

import settings
from models import ChatModel, Generation, GenerationParams, InputError, ModelError, UnknownModelError
from serve import keys
from serve.batching import Admission, Batcher
from serve.http_errors import ApiError

log = logging.getLogger("pharmatune.api")

DEFAULT_MAX_TOKENS = 512  # when a request names none: OpenAI's "up to the context" can take minutes on a CPU
MIN_PROMPT_ROOM = 16  # the transformers backend keeps at least this many tokens of the context for the prompt
MAX_BODY_BYTES = 4 * 1024**2
MAX_STOP_SEQUENCES = 4  # as OpenAI
LIST_TTL_SECONDS = 2.0

ADMISSION = Admission(settings.api_queue)
BATCHER = Batcher(settings.api_max_batch, settings.api_batch_window_seconds)
_prep = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pharmatune-api")


@dataclass
class StreamStats:
    """Streams being sent now, those whose client left before the end, and the last one's Generation (tests and
    the benchmark read them)."""

    open: int = 0
    cancelled: int = 0
    last_cancelled: Generation | None = None


STREAMS = StreamStats()


# -- the request ---------------------------------------------------------------------------------------------------
TAKEN = {"model", "messages", "stream", "stream_options", "temperature", "top_p", "max_tokens",
         "max_completion_tokens", "stop", "seed"}
IGNORED = {"user", "metadata", "store", "service_tier", "prompt_cache_key", "safety_identifier",
           "parallel_tool_calls"}
# OpenAI parameters this server cannot honour: accepted at their default only, refused otherwise (never ignored,
# which would hand back an answer that is not what was asked for).
DEFAULT_ONLY = {"n": (1,), "presence_penalty": (0,), "frequency_penalty": (0,), "logprobs": (False,),
                "top_logprobs": (0,), "response_format": ({"type": "text"},), "tools": ([],),
                "tool_choice": ("none", "auto"), "functions": ([],), "function_call": ("none", "auto"),
                "logit_bias": ({},), "modalities": (["text"],)}
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


@dataclass
class ChatRequest:
    model: str
    messages: list[dict]
    stream: bool = False
    include_usage: bool = False
    temperature: float = 1.0  # OpenAI's default; 0 is greedy
    top_p: float = 1.0
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None


def bad(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def _number(body: dict, name: str, default: float, low: float, high: float, *, open_low: bool = False) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad(f"{name} must be a number (got {json.dumps(value)}).", name)
    if value < low or value > high or (open_low and value == low):
        lower = f"more than {low:g}" if open_low else f"at least {low:g}"
        raise bad(f"{name} must be {lower} and at most {high:g} (got {value:g}).", name)
    return float(value)


def _integer(body: dict, name: str, low: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"{name} must be a whole number (got {json.dumps(value)}).", name)
    if low is not None and value < low:
        raise bad(f"{name} must be at least {low} (got {value}).", name)
    return value


def _content(value, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = []
        for j, part in enumerate(value):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise bad(f"{where}.content[{j}] is a {kind!r} part; this server reads text only "
                          '({"type": "text", "text": "..."}).', "messages")
            texts.append(part["text"])
        return "".join(texts)
    raise bad(f"{where}.content must be a string or a list of text parts (got {json.dumps(value)[:60]}).", "messages")


def _messages(value) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise bad("messages must be a non-empty array of {\"role\", \"content\"} objects.", "messages")
    messages = []
    for i, message in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise bad(f"{where} must be an object with role and content (got {json.dumps(message)[:60]}).", "messages")
        role = message.get("role")
        if role not in ROLES:
            raise bad(f"{where}.role is {json.dumps(role)}; this server takes system, developer, user or assistant "
                      "(no tool messages).", "messages")
        if message.get("tool_calls") or message.get("function_call"):
            raise bad(f"{where} has tool calls; this server does not run tools.", "messages")
        messages.append({"role": ROLES[role], "content": _content(message.get("content"), where)})
    return messages


def parse_request(body) -> ChatRequest:
    """A ChatRequest from the JSON body, or a 400 naming the field and what it must be."""
    if not isinstance(body, dict):
        raise bad("The body must be a JSON object with at least model and messages.")
    for name in body:
        if name in TAKEN or name in IGNORED:
            continue
        if name in DEFAULT_ONLY:
            if body[name] is not None and body[name] not in DEFAULT_ONLY[name]:
                allowed = " or ".join(json.dumps(v) for v in DEFAULT_ONLY[name])
                raise bad(f"{name}={json.dumps(body[name])[:60]} is not supported by this server (only {allowed}).",
                          name, "unsupported_parameter")
            continue
        close = get_close_matches(name, sorted(TAKEN | IGNORED | set(DEFAULT_ONLY)), n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise bad(f"Unrecognized request argument supplied: {name}.{hint}", name, "unknown_parameter")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad("model is required: a model id from GET /v1/models, e.g. builtin:smollm2-135m-instruct.", "model")
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise bad(f"stream must be true or false (got {json.dumps(stream)}).", "stream")
    options = body.get("stream_options")
    if options is not None and (not stream or not isinstance(options, dict)):
        raise bad("stream_options is only allowed with stream: true, as an object such as {\"include_usage\": true}.",
                  "stream_options")
    include_usage = bool((options or {}).get("include_usage"))
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if stop is not None else []
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops) or len(stops) > MAX_STOP_SEQUENCES:
        raise bad(f"stop must be a string or a list of at most {MAX_STOP_SEQUENCES} strings.", "stop")
    max_completion = _integer(body, "max_completion_tokens", 1)
    return ChatRequest(
        model=model.strip(), messages=_messages(body.get("messages")), stream=stream, include_usage=include_usage,
        temperature=_number(body, "temperature", 1.0, 0, 2), top_p=_number(body, "top_p", 1.0, 0, 1, open_low=True),
        max_tokens=max_completion if max_completion is not None else _integer(body, "max_tokens", 1),
        stop=stops, seed=_integer(body, "seed"),
    )


# -- models --------------------------------------------------------------------------------------------------------
_listed: tuple[float, list[str]] = (0.0, [])
_listed_lock = threading.Lock()


def servable_models(*, fresh: bool = False) -> list[str]:
    """Every reference the API serves: builtin, hf: folders in the local models folder, finished run:<id> text
    runs (what Chat lists, without OpenAI's), and dummy: ones when PHARMATUNE_API_DUMMY=1 (tests)."""
    global _listed
    with _listed_lock:
        if not fresh and time.monotonic() - _listed[0] < LIST_TTL_SECONDS:
            return list(_listed[1])
    from models import catalog
    from models.builtin import BUILTIN_MODELS

    refs = [f"builtin:{name}" for name in BUILTIN_MODELS] + catalog.local_model_refs()
    refs += catalog.run_model_refs(limit=10_000)
    if settings.api_serves_dummy():
        from models import dummy

        refs += [f"dummy:{name}" for name in [*dummy.BEHAVIOURS, dummy.FAILS_TO_LOAD]]
    with _listed_lock:
        _listed = (time.monotonic(), refs)
    return list(refs)


def unknown_model(ref: str, known: list[str]) -> ApiError:
    if ref.startswith("openai:"):
        return ApiError(404, f"{ref} is an OpenAI model: call OpenAI for it. This API serves the models on this "
                        "machine (GET /v1/models lists them).", param="model", code="model_not_found")
    close = get_close_matches(ref, known, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    return ApiError(404, f"The model {ref!r} does not exist here.{hint} GET /v1/models lists the {len(known)} models "
                    "this server has.", param="model", code="model_not_found")


def load_model(ref: str) -> ChatModel:
    """The loaded model, through the same cache and compute thread as chat; 404 unknown, 503 cannot load."""
    from models import registry

    if ref not in servable_models() and ref not in servable_models(fresh=True):
        raise unknown_model(ref, servable_models())
    try:
        return registry.resolve(ref)
    except UnknownModelError as exc:
        raise ApiError(404, str(exc), param="model", code="model_not_found") from None
    except ModelError as exc:
        raise ApiError(503, naming(ref, exc, "could not be loaded"), type="server_error", code="model_unavailable") \
            from None


def sampling(model: ChatModel, request: ChatRequest) -> GenerationParams:
    """The request's settings, with max_tokens checked against the context: an over-long prompt is a 400 that
    names the limit (chat cuts it with a note; an API caller asked for exactly this prompt)."""
    from models.generation import validate_messages
    from models.prompt_length import prompt_tokens

    try:
        validate_messages(request.messages)
    except InputError as exc:
        raise bad(f"{exc} (the last message must be a non-empty user message)", "messages") from None
    wanted = request.max_tokens
    context = model.context_length
    used = prompt_tokens(model, request.messages) if context else None
    if context and used is not None:
        longest = context - MIN_PROMPT_ROOM
        if wanted is not None and wanted > longest:
            raise bad(f"max_tokens is {wanted}, but {request.model} reads {context} tokens in all and keeps at least "
                      f"{MIN_PROMPT_ROOM} for the prompt: max_tokens may be at most {longest}.", "max_tokens")
        if used + (wanted or 1) > context:
            asked = f" and max_tokens asks for {wanted} more" if wanted else ""
            raise bad(f"This model's maximum context length is {context} tokens ({request.model}); the messages "
                      f"take {used} tokens{asked}. Shorten the messages to at most {context - (wanted or 1)} tokens"
                      f"{' or lower max_tokens' if wanted else ''}.", "messages", "context_length_exceeded")
        if wanted is None:
            wanted = max(1, min(DEFAULT_MAX_TOKENS, context - used, longest))
    try:
        return GenerationParams(max_new_tokens=wanted or DEFAULT_MAX_TOKENS, temperature=request.temperature,
                                top_p=request.top_p, stop=list(request.stop), seed=request.seed)
    except InputError as exc:
        raise bad(str(exc)) from None


# -- responses -----------------------------------------------------------------------------------------------------
def usage(result: Generation) -> dict:
    return {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
            "total_tokens": result.prompt_tokens + result.completion_tokens}


def finish_reason(result: Generation) -> str:
    return "length" if result.finish_reason == "length" else "stop"


def completion(cid: str, created: int, ref: str, result: Generation) -> dict:
    return {"id": cid, "object": "chat.completion", "created": created, "model": ref,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": result.text, "refusal": None},
                         "logprobs": None, "finish_reason": finish_reason(result)}],
            "usage": usage(result), "system_fingerprint": None}


def chunk(cid: str, created: int, ref: str, delta: dict, finish: str | None = None) -> dict:
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": ref,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            "system_fingerprint": None}


def event(data: dict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def generation_failed(ref: str, exc: BaseException) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if not isinstance(exc, ModelError):
        log.error("generation with %s failed", ref, exc_info=exc)
    return ApiError(500, naming(ref, exc, "failed while generating"), type="server_error")


def naming(ref: str, exc: BaseException, what: str) -> str:
    """The error's own sentence when it already names the model, else one that does."""
    from errors import readable

    said = readable(exc)
    return said if ref in said else f"{ref} {what}: {said}"


def _produce(model: ChatModel, request: ChatRequest, params: GenerationParams, loop, queue: asyncio.Queue,
             stop: threading.Event, ticket) -> None:
    """On a thread of its own: read the model's TextStream and hand pieces to the event loop. A client that left
    sets `stop`; closing the stream then stops generation at the next token and frees the compute thread."""
    def put(item) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the event loop is gone (the server stopped)
            pass

    try:
        stream = model.stream(request.messages, params)
        pieces = iter(stream)
        for piece in pieces:
            if stop.is_set():
                pieces.close()
                STREAMS.cancelled += 1
                STREAMS.last_cancelled = stream.result
                return
            put(("text", piece))
        put(("done", stream.result))
    except BaseException as exc:  # noqa: BLE001 - the client hears a sentence, the thread ends cleanly
        put(("error", generation_failed(request.model, exc)))
    finally:
        ticket.leave()


class _Stream:
    """One streamed answer. Its producer thread starts at once, so generation (and giving the queue place back)
    does not depend on the response ever being read; `events` turns what it hands over into server-sent events."""

    def __init__(self, model: ChatModel, request: ChatRequest, params: GenerationParams, ticket):
        self.request = request
        self.cid, self.created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        self.queue: asyncio.Queue = asyncio.Queue()
        self.stop = threading.Event()
        threading.Thread(target=_produce, name="pharmatune-api-stream", daemon=True,
                         args=(model, request, params, asyncio.get_running_loop(), self.queue, self.stop,
                               ticket)).start()

    async def events(self):
        """OpenAI's chunk format, then `data: [DONE]`. Leaving early (the client disconnected and the response
        task was cancelled) sets the stop flag in `finally`."""
        ref, cid, created = self.request.model, self.cid, self.created
        STREAMS.open += 1
        try:
            yield event(chunk(cid, created, ref, {"role": "assistant", "content": ""}))
            while True:
                kind, value = await self.queue.get()
                if kind == "text":
                    yield event(chunk(cid, created, ref, {"content": value}))
                elif kind == "done":
                    yield event(chunk(cid, created, ref, {}, finish_reason(value)))
                    if self.request.include_usage:
                        yield event({"id": cid, "object": "chat.completion.chunk", "created": created, "model": ref,
                                     "choices": [], "usage": usage(value), "system_fingerprint": None})
                    yield "data: [DONE]\n\n"
                    return
                else:
                    yield event(value.body())
                    return
        finally:
            self.stop.set()
            STREAMS.open -= 1


# -- endpoints -----------------------------------------------------------------------------------------------------
async def _blocking(fn, *args):
    return await asyncio.wrap_future(_prep.submit(fn, *args))


async def _read_json(request):
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, f"The body is {int(declared)} bytes; this server reads at most {MAX_BODY_BYTES}.")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"The body is {len(raw)} bytes; this server reads at most {MAX_BODY_BYTES}.")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(f"The body is not valid JSON ({exc}); send a chat completion request object.") from None


def _answering(fn):
    """Every endpoint answers JSON: an ApiError as itself, anything unforeseen as a 500 sentence (logged here)."""
    async def endpoint(request):
        try:
            return await fn(request)
        except ApiError as exc:
            return exc.response()
        except Exception as exc:  # noqa: BLE001 - never a stack trace to the client
            from errors import readable

            log.exception("%s %s failed", request.method, request.url.path)
            return ApiError(500, f"The server failed on this request: {readable(exc)}", type="server_error").response()

    endpoint.__name__ = fn.__name__
    return endpoint


def routes(*, public: bool) -> list:
    """The /v1 routes, to put before Gradio's on the same app (app.py) or in an app of their own (create_app)."""
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    def authorize(request) -> None:
        keys.check(request.headers.get("authorization"), public=public)

    @_answering
    async def chat_completions(request):
        authorize(request)
        parsed = parse_request(await _read_json(request))
        ticket = ADMISSION.enter()
        handed_over = False
        try:
            model = await _blocking(load_model, parsed.model)
            params = await _blocking(sampling, model, parsed)
            if parsed.stream:
                stream = _Stream(model, parsed, params, ticket)
                handed_over = True  # the stream's producer gives the place back when generation ends
                return StreamingResponse(stream.events(), media_type="text/event-stream",
                                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
            pending = BATCHER.submit(model, parsed.messages, params)
            pending.add_done_callback(lambda _: ticket.leave())  # when its batch ends, even if this client left
            handed_over = True
            try:
                result = await asyncio.wrap_future(pending)
            except Exception as exc:  # noqa: BLE001 - a sentence naming the model
                raise generation_failed(parsed.model, exc) from None
            cid = f"chatcmpl-{uuid.uuid4().hex}"
            return JSONResponse(completion(cid, int(time.time()), parsed.model, result))
        finally:
            if not handed_over:
                ticket.leave()

    @_answering
    async def list_models(request):
        authorize(request)
        refs = await _blocking(servable_models)
        return JSONResponse({"object": "list", "data": [_model_entry(ref) for ref in refs]})

    @_answering
    async def get_model(request):
        authorize(request)
        ref = request.path_params["model"]
        refs = await _blocking(servable_models)
        if ref not in refs:
            raise unknown_model(ref, refs)
        return JSONResponse(_model_entry(ref))

    @_answering
    async def not_an_endpoint(request):
        authorize(request)
        path = request.url.path
        known = {"/v1/chat/completions": "POST", "/v1/models": "GET"}
        if known.get(path.rstrip("/")) or path.startswith("/v1/models/"):
            raise ApiError(405, f"{request.method} {path} is not allowed; use "
                           f"{known.get(path.rstrip('/'), 'GET')} {path}.", code="method_not_allowed")
        raise ApiError(404, f"{request.method} {path} is not an endpoint of this server; it has POST "
                       "/v1/chat/completions, GET /v1/models and GET /v1/models/{model}.", code="unknown_url")

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    return [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", get_model, methods=["GET"]),
        Route("/v1/{rest:path}", not_an_endpoint, methods=methods),
        Route("/v1", not_an_endpoint, methods=methods),
    ]


def _model_entry(ref: str) -> dict:
    scheme, _, rest = ref.partition(":")
    folder = Path(rest) if scheme == "hf" else settings.runs_dir() / rest if scheme == "run" else None
    try:
        created = int(folder.stat().st_mtime) if folder is not None else 0
    except OSError:
        created = 0
    return {"id": ref, "object": "model", "created": created, "owned_by": "pharmatune"}


def create_app(*, public: bool = False):
    """The /v1 API alone as an ASGI app (tests; or any ASGI server in front of this machine's models)."""
    from starlette.applications import Starlette

    return Starlette(routes=routes(public=public))
