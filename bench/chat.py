"""Chat performance on this machine, against what a user would otherwise run. Prints figures and ratios.

    .venv/bin/python bench/chat.py            (make bench)

1. cold start of `python app.py` until HTTP 200
2. warm load of the builtin model (converted folder already in the cache), and the GGUF load it replaces
3. time to the first streamed token for a 30-token prompt
4. streaming tokens/s through models.stream ÷ a bare `model.generate` loop on the same prompt, same run
"""
from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REF = "builtin:smollm2-135m-instruct"
NEW_TOKENS = 64
ROUNDS = 3


def cold_start_seconds() -> float:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).status == 200:
                    return time.perf_counter() - start
            except OSError:
                if proc.poll() is not None or time.perf_counter() - start > 60:
                    raise RuntimeError("app.py did not start")
                time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait()


def fresh_process_load() -> tuple[float, float]:
    """In a new process: seconds to import torch + transformers' Llama code, then seconds to load the weights."""
    code = (
        "import time; t = time.perf_counter(); import torch, transformers.models.llama.modeling_llama, "
        "transformers.models.auto.tokenization_auto; import models; i = time.perf_counter() - t; "
        f"t = time.perf_counter(); models.resolve({REF!r}); print(i, time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    imports, load = out.stdout.split()[-2:]
    return float(imports), float(load)


def thirty_token_prompt(tokenizer) -> list[dict]:
    words = ("Explain how warfarin and fluconazole interact, which enzyme is involved, what happens to the "
             "INR, and how clinicians should adjust the dose when both drugs are needed together today").split()
    for n in range(len(words), 0, -1):
        text = " ".join(words[:n])
        if len(tokenizer(text, add_special_tokens=False)["input_ids"]) <= 30:
            return [{"role": "user", "content": text}]
    raise AssertionError("unreachable")


def main() -> None:
    from models import GenerationParams, compute, resolve
    from models.builtin import gguf_path, prepare, spec

    prepare(REF.split(":", 1)[1])
    cold = statistics.median(cold_start_seconds() for _ in range(ROUNDS))

    import torch

    imports, warm_load = fresh_process_load()
    start = time.perf_counter()
    model = resolve(REF)

    source = gguf_path(spec(REF.split(":", 1)[1]))
    from transformers import AutoModelForCausalLM

    start = time.perf_counter()
    AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name)
    gguf_load = time.perf_counter() - start

    messages = thirty_token_prompt(model.tokenizer)
    ids, _ = model.prompt_ids(messages, NEW_TOKENS)
    params = GenerationParams(max_new_tokens=NEW_TOKENS)
    input_ids = torch.tensor([ids])

    def bare_generate() -> float:
        """What a user would write: model.generate on the same ids, greedy, fixed length."""
        with torch.inference_mode():
            t = time.perf_counter()
            out = model.model.generate(input_ids, attention_mask=torch.ones_like(input_ids), do_sample=False,
                                       max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                                       pad_token_id=model.tokenizer.pad_token_id)
            return (out.shape[1] - input_ids.shape[1]) / (time.perf_counter() - t)

    def bare() -> float:
        # On the same thread as the streamed run: a second OpenMP pool would halve either side (models/compute.py).
        return compute.run(bare_generate)

    def streamed() -> tuple[float, float]:
        stream = model.stream(messages, params)
        stream.collect()
        return stream.result.tokens_per_second, stream.result.first_token_seconds

    bare()  # warm-up
    bare_rates, stream_rates, first_tokens = [], [], []
    for _ in range(ROUNDS):  # interleaved so both see the same machine state
        bare_rates.append(bare())
        rate, first = streamed()
        stream_rates.append(rate)
        first_tokens.append(first)
    tokens_generated = model.stream(messages, params).collect().completion_tokens

    dtype = next(model.model.parameters()).dtype
    print(f"machine: {os.cpu_count()} CPU cores, torch {torch.__version__}, {REF} in {dtype}")
    in_message = len(model.tokenizer(messages[0]['content'], add_special_tokens=False)['input_ids'])
    print(f"prompt: {len(ids)} tokens with the chat template ({in_message} in the message), "
          f"{NEW_TOKENS} new tokens (streamed answer: {tokens_generated} tokens), median of {ROUNDS}")
    rows = [
        ("cold start, python app.py → HTTP 200", f"{cold:.2f} s", "≤ 6 s"),
        ("warm load of the builtin model", f"{warm_load:.2f} s", "≤ 2 s"),
        ("  (+ importing torch/transformers first)", f"{imports:.2f} s", "app.py does both in the background"),
        ("  (loading the GGUF instead)", f"{gguf_load:.2f} s", f"{gguf_load / warm_load:.0f}× slower"),
        ("time to first streamed token", f"{statistics.median(first_tokens):.3f} s", "≤ 0.5 s"),
        ("streaming tokens/s", f"{statistics.median(stream_rates):.1f}", ""),
        ("bare model.generate tokens/s", f"{statistics.median(bare_rates):.1f}", ""),
        ("streaming ÷ bare", f"{statistics.median(stream_rates) / statistics.median(bare_rates):.3f}", "≥ 0.9"),
    ]
    for name, value, target in rows:
        print(f"{name:<40} {value:>10}   {target}")


if __name__ == "__main__":
    main()
