"""CLI: python -m models {prepare,list,chat}. The same work as the Chat tab, headless."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from models import DEFAULT_MODEL, GenerationParams, ModelError, resolve

    parser = argparse.ArgumentParser(prog="python -m models", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="convert a builtin model into the cache once (Docker builds call this)")
    prep.add_argument("name", nargs="?", default=DEFAULT_MODEL.split(":", 1)[1])
    sub.add_parser("list", help="list the models the UI offers")
    chat = sub.add_parser("chat", help="stream one answer to stdout")
    chat.add_argument("prompt")
    chat.add_argument("--model", default=DEFAULT_MODEL)
    chat.add_argument("--system", default="")
    chat.add_argument("--max-new-tokens", type=int, default=256)
    chat.add_argument("--temperature", type=float, default=0.0)
    chat.add_argument("--top-p", type=float, default=1.0)
    chat.add_argument("--stop", action="append", default=[])
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            from models.builtin import prepare

            print(prepare(args.name))
        elif args.command == "list":
            from models.catalog import available_models

            print("\n".join(available_models()))
        else:
            messages = ([{"role": "system", "content": args.system}] if args.system else []) + [
                {"role": "user", "content": args.prompt}
            ]
            params = GenerationParams(args.max_new_tokens, args.temperature, args.top_p, args.stop)
            stream = resolve(args.model).stream(messages, params)
            for piece in stream:
                print(piece, end="", flush=True)
            r = stream.result
            print(f"\n[{r.completion_tokens} tokens in {r.seconds:.2f} s, {r.tokens_per_second:.1f} tok/s]",
                  file=sys.stderr)
            for note in r.notes:
                print(f"note: {note}", file=sys.stderr)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
