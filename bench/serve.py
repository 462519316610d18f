"""Serving throughput of the /v1 API: aggregate tokens/s with 8 concurrent clients ÷ one client. Prints figures.

    .venv/bin/python bench/serve.py [--clients 8] [--max-tokens 32] [--rounds 2] [--no-streaming]
                                    [--model builtin:smollm2-135m-instruct]

One `python app.py` (the real server, the model loaded once), the official openai client, the same prompts and
greedy settings on both sides, in the same run, interleaved round by round so both see the same machine:

- one client: the prompts one after another;
- N clients: the same prompts, one per client thread, all at once (non-streaming: the batcher hands them to one
  generate call); and the same with streaming, which goes one by one through the compute thread (for contrast).

Aggregate tokens/s = completion tokens the server reported (usage) ÷ wall time from the first request to the last
answer. Target: N clients ÷ one client ≥ 2×.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = [
    "What is the mechanism of action of metformin?",
    "Why should warfarin not be combined with fluconazole?",
    "Name two common adverse events of atorvastatin.",
    "What does aspirin inhibit?",
    "Is ibuprofen an NSAID? Answer in one sentence.",
    "What class of drug is lisinopril?",
    "How does omeprazole reduce stomach acid?",
    "What is the main risk of combining sildenafil with nitrates?",
]


def start_app(port: int, log: Path) -> subprocess.Popen:
    out = log.open("w")
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--no-preload"], cwd=ROOT, stdout=out,
                            stderr=subprocess.STDOUT, env={**os.environ})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"app.py exited with {proc.returncode}; see {log}")
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit(f"app.py did not answer within 180 s; see {log}")


def ask(client, model: str, prompt: str, max_tokens: int, stream: bool) -> int:
    """One request; the completion tokens the server reported."""
    messages = [{"role": "user", "content": prompt}]
    if stream:
        chunks = client.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=max_tokens,
                                                stream=True, stream_options={"include_usage": True})
        return [c for c in chunks][-1].usage.completion_tokens
    answer = client.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=max_tokens)
    return answer.usage.completion_tokens


def one_client(client, model, prompts, max_tokens) -> tuple[int, float]:
    start = time.perf_counter()
    tokens = sum(ask(client, model, p, max_tokens, stream=False) for p in prompts)
    return tokens, time.perf_counter() - start


def many_clients(make_client, model, prompts, max_tokens, stream: bool) -> tuple[int, float]:
    counts: list[int] = []
    errors: list[str] = []
    clients = [make_client() for _ in prompts]  # each thread its own client and connection, as separate programs

    def run(client, prompt):
        try:
            counts.append(ask(client, model, prompt, max_tokens, stream))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=run, args=(c, p)) for c, p in zip(clients, prompts)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    if errors:
        raise SystemExit(f"{len(errors)} client(s) failed: {errors[0]}")
    return sum(counts), seconds


def main() -> None:
    import openai

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="builtin:smollm2-135m-instruct")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-streaming", action="store_true", help="skip the streamed contrast (saves a third)")
    args = parser.parse_args()
    prompts = (PROMPTS * (args.clients // len(PROMPTS) + 1))[:args.clients]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = ROOT / ".cache" / f"bench-serve-{port}.log"
    log.parent.mkdir(exist_ok=True)
    proc = start_app(port, log)
    try:
        def make_client():
            return openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=os.environ.get(
                "PHARMATUNE_API_KEYS", "unused").split(",")[0], max_retries=0, timeout=600)

        client = make_client()
        start = time.perf_counter()
        ask(client, args.model, prompts[0], 4, stream=False)  # loads the model
        print(f"model loaded in {time.perf_counter() - start:.1f} s (first request)")
        many_clients(make_client, args.model, prompts[:2], 4, stream=False)  # warm-up of the batch path
        single, batched, streamed = [], [], []
        for r in range(args.rounds):
            tokens, seconds = one_client(client, args.model, prompts, args.max_tokens)
            single.append(tokens / seconds)
            print(f"round {r + 1}: 1 client            {tokens:4d} tokens in {seconds:6.2f} s  {single[-1]:6.1f} tok/s")
            tokens, seconds = many_clients(make_client, args.model, prompts, args.max_tokens, stream=False)
            batched.append(tokens / seconds)
            print(f"round {r + 1}: {args.clients} clients           {tokens:4d} tokens in {seconds:6.2f} s  "
                  f"{batched[-1]:6.1f} tok/s")
            if args.no_streaming:
                continue
            tokens, seconds = many_clients(make_client, args.model, prompts, args.max_tokens, stream=True)
            streamed.append(tokens / seconds)
            print(f"round {r + 1}: {args.clients} clients, streamed {tokens:4d} tokens in {seconds:6.2f} s  "
                  f"{streamed[-1]:6.1f} tok/s")
    finally:
        proc.terminate()
        proc.wait(30)

    one, many = statistics.median(single), statistics.median(batched)
    ratio = many / one
    print(f"machine: {os.cpu_count()} CPU cores; {args.model}; {len(prompts)} prompts, max_tokens {args.max_tokens}, "
          f"greedy; median of {args.rounds} rounds")
    print(f"1 client                         {one:6.1f} tok/s")
    print(f"{args.clients} clients (non-streaming)      {many:6.1f} tok/s   ÷ 1 client = {ratio:.2f}×   "
          f"target ≥ 2×: {'met' if ratio >= 2 else 'NOT met'}")
    if streamed:
        streams = statistics.median(streamed)
        print(f"{args.clients} clients (streaming)          {streams:6.1f} tok/s   ÷ 1 client = {streams / one:.2f}×   "
              "(streams go one by one)")


if __name__ == "__main__":
    main()
