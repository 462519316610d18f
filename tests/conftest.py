"""Shared fixtures: offline settings, a tiny random Llama with a real tokenizer, the real builtin model."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Tests never reach a hub, keep converted models in the repo's own (ignored) cache across runs, and run float32
# so batched and single generation agree bit for bit. Set unconditionally: a user's exported PHARMATUNE_* folders
# must never be read or written by the suite.
os.environ["PHARMATUNE_CACHE"] = str(ROOT / ".cache" / "test-models")
os.environ["PHARMATUNE_DATA"] = str(ROOT / ".cache" / "test-data")
# Runs and the store (leaderboard) of the whole session live in an ignored folder; `isolated_runs` gives a test
# its own empty ones.
os.environ["PHARMATUNE_RUNS"] = str(ROOT / ".cache" / "test-runs")
os.environ.pop("PHARMATUNE_STORE_URL", None)
os.environ["PHARMATUNE_LOCAL_MODELS"] = str(ROOT / ".cache" / "test-local-models")
for _name in ("PHARMATUNE_AUTH", "PHARMATUNE_TRUST_REMOTE_CODE", "PHARMATUNE_EVAL_DTYPE",
              "PHARMATUNE_MAX_UPLOAD_MB", "PHARMATUNE_TRAINING_SLOTS", "PHARMATUNE_STEP_GATE", "PHARMATUNE_DUMMY_GATE",
              "PHARMATUNE_PUBLIC", "PHARMATUNE_OPERATORS", "PHARMATUNE_OPENAI_BUDGET_USD", "PHARMATUNE_VIEWER_UPLOAD_MB",
              "PHARMATUNE_CHAT_CONCURRENCY", "PHARMATUNE_CHAT_PER_VISITOR",
              "PHARMATUNE_API_KEYS", "PHARMATUNE_API_QUEUE", "PHARMATUNE_API_MAX_BATCH", "PHARMATUNE_API_BATCH_MS",
              "PHARMATUNE_API_DUMMY",
              "OPENAI_BASE_URL", "HF_TOKEN"):
    os.environ.pop(_name, None)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["PHARMATUNE_DTYPE"] = "float32"
os.environ.pop("OPENAI_API_KEY", None)

# PHARMATUNE_STRICT_TESTS=1 (.ci/run sets it): a test skipped because this machine lacks something CI must have
# (Chromium, ../shared/data, PostgreSQL ...) fails instead, so a run that silently tested less cannot land. Only
# hardware no CI machine here has (or, on a GPU machine, its absence) stays a skip: its reason must start with
# one of HARDWARE_SKIPS.
HARDWARE_SKIPS = ("needs CUDA", "needs a machine without CUDA")
HARDWARE_SKIP = HARDWARE_SKIPS[0]


def strict_tests() -> bool:
    return os.environ.get("PHARMATUNE_STRICT_TESTS") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not (strict_tests() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if reason.removeprefix("Skipped: ").startswith(HARDWARE_SKIPS):
        return
    report.outcome = "failed"
    report.longrepr = f"PHARMATUNE_STRICT_TESTS=1 turns this skip into a failure: {reason}"


CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "Warfarin interacts with fluconazole because fluconazole inhibits CYP2C9.",
    "Metformin lowers hepatic glucose production and is first-line therapy for type 2 diabetes.",
    "Aspirin irreversibly inhibits cyclooxygenase, reducing thromboxane A2 synthesis.",
    "Atorvastatin can cause myopathy; rhabdomyolysis is rare but needs urgent attention.",
    "The SMILES CC(=O)OC1=CC=CC=C1C(=O)O encodes acetylsalicylic acid.",
] * 20


def build_tiny_llama(folder: Path, *, context: int = 128, chat_template: bool = True) -> Path:
    """A 2-layer random Llama and a byte-level BPE tokenizer trained here: no download, a few seconds."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<unk>"]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    raw.train_from_iterator(CORPUS, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                        pad_token="<|endoftext|>", unk_token="<unk>")
    if chat_template:
        tokenizer.chat_template = CHATML
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=context,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    # Never end early, so length-dependent behaviour (max tokens, cancel, truncation) is deterministic.
    model.generation_config.suppress_tokens = [tokenizer.eos_token_id, tokenizer.pad_token_id]
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def builtin_folder() -> Path:
    """The real SmolLM2 converted into the test cache (about 25 s the first time, instant afterwards)."""
    from models.builtin import prepare

    return prepare("smollm2-135m-instruct")


@pytest.fixture(scope="session", autouse=True)
def allowed_test_roots(tmp_path_factory):
    """Tests type paths of files they made: pytest's temporary folder is an allowed root (data.paths), and
    nothing else outside the app's own folders is."""
    os.environ["PHARMATUNE_ALLOWED_ROOTS"] = str(tmp_path_factory.getbasetemp().resolve())
    yield
    os.environ.pop("PHARMATUNE_ALLOWED_ROOTS", None)


@pytest.fixture(autouse=True)
def fresh_model_cache():
    """Each test resolves models in an empty process cache, so no state leaks between tests."""
    from models.registry import CACHE

    CACHE.clear()
    yield
    CACHE.clear()


@pytest.fixture
def isolated_runs(tmp_path, monkeypatch) -> Path:
    """An empty runs folder and store (SQLite inside it) for this test; child processes inherit them."""
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setenv("PHARMATUNE_RUNS", str(runs))
    monkeypatch.delenv("PHARMATUNE_STORE_URL", raising=False)
    return runs
