"""Roles on a public app (a --share link, a Space, a non-loopback host, or PHARMATUNE_PUBLIC=1), enforced on the
server for every handler, UI events and API calls alike.

- viewer (anonymous visitors of a public app): chat with local models, browse the leaderboard, runs, reports and
  data sets, estimates. Everything else is refused with one sentence (LOCKED), the same in the page and the API.
- operator: everyone when the app is bound to loopback only; on a public app, a visitor who logged in with the
  operator password (PHARMATUNE_AUTH=user:password) or, on a Space, signed in with Hugging Face as a user named in
  PHARMATUNE_OPERATORS. `--auth` still puts the whole app behind a login; whoever passes it is an operator.

Chat has a viewer's messages per minute (chat_allowed) and, for everyone, caps on the answers written at once for
the whole app and for one visitor (writing_answers). A viewer's uploads have a small size limit (upload_limit).

`guard(demo)` wraps every registered handler: one not in VIEWER_SAFE is operator-only, so a new handler is
locked until someone decides it is safe for viewers (tests/test_roles.py derives the list from the app)."""
from __future__ import annotations

import contextlib
import functools
import hmac
import inspect
import threading
import time
from dataclasses import dataclass, field

LOCKED = ("🔒 This needs an operator: on a public link, visitors can chat with local models and browse runs, "
          "the leaderboard, reports, data sets and estimates; starting, cancelling or changing jobs, exports and "
          "paid OpenAI calls on the server's key need the operator login (top of the page).")
OPENAI_LOCKED = ("🔒 OpenAI models on the server's key need the operator login; type your own OpenAI key (OpenAI "
                 "tab or the Chat key box) to use yours.")
RATE_LIMITED = "⏳ Too many messages from this visitor: wait {seconds:.0f} s (at most {limit} per minute)."
CHAT_BUSY = ("⏳ The app is already writing {busy} chat answers, its limit for everyone together "
             "(PHARMATUNE_CHAT_CONCURRENCY={limit}): send your message again in a moment.")
VISITOR_BUSY = ("⏳ This visitor already has {busy} answer(s) being written and may have at most {limit} at once "
                "(PHARMATUNE_CHAT_PER_VISITOR; a side-by-side comparison writes two): wait for them or press Stop, "
                "then send again.")

# (module, handler name) of every handler a viewer may call; any other is operator-only.
VIEWER_SAFE = {
    ("chat", "respond"), ("chat", "on_compare"), ("chat", "on_key"), ("chat", "<lambda>"), ("helpers", "load_example"),
    ("data_tab", "on_dataset"), ("data_tab", "on_validate"), ("data_tab", "on_leakage"), ("data_tab", "on_train_set"),
    ("evaluate_tab", "attach"), ("evaluate_tab", "on_benchmarks"), ("evaluate_tab", "on_load"),
    ("evaluate_tab", "on_tick"), ("evaluate_tab", "on_leakage"),
    ("finetune_tab", "attach"), ("finetune_tab", "on_card"), ("finetune_tab", "on_check"), ("finetune_tab", "on_files"),
    ("finetune_tab", "on_load"), ("finetune_tab", "on_tick"), ("finetune_tab", "<lambda>"),
    ("leaderboard_tab", "compare_rows"), ("leaderboard_tab", "on_compare_clicked"), ("leaderboard_tab", "on_export"),
    ("leaderboard_tab", "on_filter"), ("leaderboard_tab", "on_refresh"), ("leaderboard_tab", "on_select"),
    ("openai_tab", "on_estimate"), ("openai_tab", "on_export"), ("openai_tab", "on_key"), ("openai_tab", "on_ledger"),
    ("openai_tab", "on_tick"), ("openai_tab", "show_job"), ("openai_compare", "on_both_show"),
    ("studies_tab", "attach"), ("studies_tab", "on_check"), ("studies_tab", "on_kind"), ("studies_tab", "on_load"),
    ("studies_tab", "on_tick"), ("studies_tab", "<lambda>"),
    ("roles", "on_login"),
}


@dataclass
class Policy:
    public: bool = False  # False: loopback only, everyone is an operator
    password: tuple[str, str] | None = None  # PHARMATUNE_AUTH: the operator login
    operators: frozenset = frozenset()  # PHARMATUNE_OPERATORS: Hugging Face user names (Spaces)
    whole_app_login: bool = False  # --auth: whoever got in is an operator
    chat_per_minute: int = 20  # a viewer's messages per minute
    sessions: set = field(default_factory=set)  # session hashes that logged in as operators
    sent: dict = field(default_factory=dict)  # session hash -> times of its recent chat messages
    writing: dict = field(default_factory=dict)  # session hash -> chat answers being written for it now


_policy = Policy()
_lock = threading.Lock()


def configure(*, public: bool, password: tuple[str, str] | None = None, operators=(), whole_app_login: bool = False,
              chat_per_minute: int = 20) -> Policy:
    global _policy
    _policy = Policy(public=public, password=password, operators=frozenset(o.strip() for o in operators if o.strip()),
                     whole_app_login=whole_app_login, chat_per_minute=chat_per_minute)
    return _policy


def policy() -> Policy:
    return _policy


def current_request():
    """The request of the handler running now (Gradio sets it for every event and API call)."""
    from gradio.context import LocalContext

    return LocalContext.request.get(None)


def is_operator(request=None) -> bool:
    p = _policy
    if not p.public or p.whole_app_login:
        return True
    request = request if request is not None else current_request()
    if request is None:
        return False
    username = getattr(request, "username", None) or _hugging_face_user(request)
    if username and username in p.operators:
        return True
    return getattr(request, "session_hash", None) in p.sessions


def _hugging_face_user(request) -> str | None:
    """The user name of "Sign in with Hugging Face" (Gradio keeps it in the session), if any."""
    try:
        info = request.request.session.get("oauth_info") or {}
        return (info.get("userinfo") or {}).get("preferred_username")
    except (AttributeError, AssertionError, TypeError):  # no session middleware: no OAuth on this app
        return None


def login(password: str, request=None) -> bool:
    """Upgrade this visitor's session to operator when the password matches PHARMATUNE_AUTH's."""
    p = _policy
    request = request if request is not None else current_request()
    session = getattr(request, "session_hash", None)
    if not (p.password and session and password):
        return False
    if not hmac.compare_digest(password.encode(), p.password[1].encode()):
        return False
    with _lock:
        p.sessions.add(session)
    return True


def upload_limit() -> int:
    """Bytes of an upload this visitor may hand to a tab: an operator's limit (PHARMATUNE_MAX_UPLOAD_MB), or a
    viewer's small one (PHARMATUNE_VIEWER_UPLOAD_MB). Gradio's upload route cannot tell the two apart (a password
    login lives in the page's session, which uploads do not carry), so the tabs check it when they read a file."""
    import settings

    return settings.max_upload_bytes() if is_operator() else settings.viewer_upload_bytes()


def may_use_server_openai_key(typed_key: str | None) -> bool:
    return bool((typed_key or "").strip()) or is_operator()


def _visitor() -> str:
    return getattr(current_request(), "session_hash", None) or "anonymous"


def chat_allowed() -> str | None:
    """None when this visitor may send a message now; else the sentence saying when (viewers only)."""
    if is_operator():
        return None
    p, session = _policy, _visitor()
    now = time.monotonic()
    with _lock:
        recent = [t for t in p.sent.get(session, []) if now - t < 60]
        if len(recent) >= p.chat_per_minute:
            return RATE_LIMITED.format(seconds=60 - (now - recent[0]), limit=p.chat_per_minute)
        p.sent[session] = [*recent, now]
    return None


@contextlib.contextmanager
def writing_answers(count: int = 1):
    """Hold `count` chat answers (one per model asked) of the app's and this visitor's caps while the block runs.
    Yields None, or (holding nothing) the sentence naming the cap a new answer would pass: the app's for everyone
    together (settings.chat_concurrency) or this visitor's (settings.chat_per_visitor). Operators count too: the
    caps guard the machine's cores. A refusal comes at once, so nobody waits unanswered behind long answers."""
    import settings

    p, session = _policy, _visitor()
    app_limit, visitor_limit = settings.chat_concurrency(), settings.chat_per_visitor()
    with _lock:
        mine, everyone = p.writing.get(session, 0), sum(p.writing.values())
        refused = None
        if mine + count > visitor_limit:
            refused = VISITOR_BUSY.format(busy=mine, limit=visitor_limit)
        elif everyone + count > app_limit:
            refused = CHAT_BUSY.format(busy=everyone, limit=app_limit)
        else:
            p.writing[session] = mine + count
    if refused:
        yield refused
        return
    try:
        yield None
    finally:
        with _lock:
            left = p.writing.get(session, 0) - count
            if left > 0:
                p.writing[session] = left
            else:
                p.writing.pop(session, None)


def handler_key(fn) -> tuple[str, str]:
    return getattr(fn, "__module__", "").rsplit(".", 1)[-1], getattr(fn, "__name__", "")


def guard(demo) -> list[tuple[str, str]]:
    """Wrap every operator-only handler of `demo` with the role check; returns the (module, name) of those."""
    locked = []
    for block_fn in demo.fns.values():
        fn = block_fn.fn
        if fn is None or getattr(fn, "_pharmatune_guarded", False):
            continue
        key = handler_key(fn)
        if key in VIEWER_SAFE:
            continue
        block_fn.fn = _locked(fn)
        locked.append(key)
    return locked


def refuse():
    import gradio as gr

    raise gr.Error(LOCKED, print_exception=False)


def _locked(fn):
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def generator(*args, **kwargs):
            if not is_operator():
                refuse()
            yield from fn(*args, **kwargs)
        wrapped = generator
    elif inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def coroutine(*args, **kwargs):
            if not is_operator():
                refuse()
            return await fn(*args, **kwargs)
        wrapped = coroutine
    else:
        @functools.wraps(fn)
        def plain(*args, **kwargs):
            if not is_operator():
                refuse()
            return fn(*args, **kwargs)
        wrapped = plain
    wrapped._pharmatune_guarded = True
    return wrapped


def build_login() -> None:
    """The one line a viewer sees on a public app (what is locked and why) and the operator login."""
    import gradio as gr

    p = _policy
    if not p.public or p.whole_app_login:
        return
    with gr.Row(elem_id="roles-row"):
        role = gr.Markdown(_viewer_line(), elem_id="roles-status")
        if p.password:
            password = gr.Textbox(label="Operator password", type="password", scale=2, elem_id="roles-password")
            button = gr.Button("Log in as operator", scale=1, elem_id="roles-login")

            def on_login(text):
                if login(text or ""):
                    return "✅ **Operator**: every tab is unlocked for this browser session."
                return "⚠️ Wrong operator password." + "  \n" + _viewer_line()

            button.click(on_login, password, role)
            password.submit(on_login, password, role)
        if p.operators:
            gr.LoginButton()


def _viewer_line() -> str:
    login = "the operator login" if (_policy.password or _policy.operators) else \
        "an operator login, which this app has not set up (PHARMATUNE_AUTH)"
    return (f"👀 **Viewer**: chat with local models and browse; starting, cancelling or changing jobs and the "
            f"server's OpenAI key need {login}.")
