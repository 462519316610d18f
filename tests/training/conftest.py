"""Shared pieces of the training tests: small data files, a tiny BERT, and `train(...)`, which runs the real
recipe in this process on a tiny model (about a second) and can capture the weights training started from (the base
model's file on disk, plus what the method added) and the model as it was saved at the end."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# Fast, deterministic defaults for a tiny model: a few steps with a large learning rate so every trainable
# weight moves, no warmup (its first step would have learning rate 0), no TensorBoard files.
DEFAULTS = dict(max_steps=3, learning_rate=1e-2, warmup_ratio=0.0, batch_size=4, max_length=64, tensorboard=False,
                eval_split=None)

CHAT = [
    ("Does warfarin interact with fluconazole?", "Yes: fluconazole inhibits CYP2C9 and raises warfarin levels."),
    ("Is metformin first-line for type 2 diabetes?", "Yes, metformin is first-line therapy."),
    ("What does aspirin inhibit?", "Aspirin irreversibly inhibits cyclooxygenase."),
    ("Can atorvastatin cause myopathy?", "Yes; rhabdomyolysis is rare but urgent."),
    ("Does aspirin interact with warfarin?", "Yes: the bleeding risk rises."),
    ("What is CC(=O)OC1=CC=CC=C1C(=O)O?", "Acetylsalicylic acid (aspirin)."),
    ("Does metformin interact with atorvastatin?", "No clinically relevant interaction."),
    ("Is fluconazole an antifungal?", "Yes, fluconazole is an azole antifungal."),
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def chat_rows(n: int = 8) -> list[dict]:
    return [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
            for q, a in (CHAT * (n // len(CHAT) + 1))[:n]]


def label_rows(n: int) -> list[dict]:
    """Two classes an untrained model cannot tell apart but a glance can: warfarin pairs interact, metformin ones not."""
    out = []
    for i in range(n):
        yes = i % 2 == 0
        drug = "warfarin" if yes else "metformin"
        out.append({"messages": [{"role": "user", "content": f"Does {drug} interact with fluconazole? case {i}"},
                                 {"role": "assistant", "content": "yes" if yes else "no"}],
                    "meta": {"label": "yes" if yes else "no"}})
    return out


def regression_rows(n: int) -> list[dict]:
    """An easy target: 3.0 for aspirin SMILES, 1.0 for metformin ones (as a meta smiles field)."""
    out = []
    for i in range(n):
        high = i % 2 == 0
        smiles = "CC(=O)OC1=CC=CC=C1C(=O)O" if high else "CN(C)C(=N)N=C(N)N"
        out.append({"messages": [{"role": "user", "content": f"Solubility of {smiles}?"},
                                 {"role": "assistant", "content": str(3.0 if high else 1.0)}],
                    "meta": {"label": 3.0 if high else 1.0, "smiles": smiles}})
    return out


@pytest.fixture(autouse=True)
def one_compute_thread():
    """Tiny matrices gain nothing from a second thread, and on a busy 2-core machine OpenMP's thread handoff makes
    each tiny matmul about 1,000 times slower; the previous setting comes back after each test."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def chat_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "chat.jsonl", chat_rows(8))


@pytest.fixture
def classify_files(tmp_path) -> tuple[Path, Path]:
    """(train, validation) files of a two-class set."""
    return (write_jsonl(tmp_path / "classes-train.jsonl", label_rows(8)),
            write_jsonl(tmp_path / "classes-eval.jsonl", label_rows(4)))


@pytest.fixture
def regression_files(tmp_path) -> tuple[Path, Path]:
    return (write_jsonl(tmp_path / "values-train.jsonl", regression_rows(8)),
            write_jsonl(tmp_path / "values-eval.jsonl", regression_rows(4)))


@pytest.fixture
def text_file(tmp_path) -> Path:
    from tests.conftest import CORPUS

    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(CORPUS[:10]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def llama(tiny_llama) -> str:
    """The tiny random Llama as a model reference."""
    return f"hf:{tiny_llama}"


BERT_WORDS = ("warfarin metformin aspirin fluconazole atorvastatin interacts with because inhibits lowers the and "
              "is for of a c o n ( ) = 1 2 3 4 5 6 7 8 9 . , ; cyp2c9 glucose smiles acid").split()


def build_tiny_bert(folder: Path) -> Path:
    """A 2-layer random BertForMaskedLM and a WordPiece tokenizer from a vocabulary written here (no download)."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    chars = "abcdefghijklmnopqrstuvwxyz0123456789"
    # whole words, then single characters and their word-continuation pieces: every lower-case word tokenizes
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(BERT_WORDS)) + list(chars + "()=#[]@+-/\\.,;:")
    vocab = list(dict.fromkeys(vocab + [f"##{c}" for c in chars]))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=True)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, pad_token_id=0)
    BertForMaskedLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@dataclass
class Trained:
    summary: dict
    events: list[tuple[str, dict]]
    run_dir: Path
    model: object = None  # the model as trained (what the recipe saved)
    # parameter name -> the weight training started from: for every weight of the base model, the tensor in the base
    # folder's safetensors file (so "untouched" means untouched since disk, not since the method was applied); for
    # what the method or the task added (adapters, added biases, new heads), a copy right after the method was applied
    before: dict = field(default_factory=dict)
    loaded: dict = field(default_factory=dict)  # parameter name -> copy of the model in memory after the method
    from_disk: set = field(default_factory=set)  # the names whose `before` is the base file's tensor

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    def of(self, kind: str) -> list[dict]:
        return [fields for event, fields in self.events if event == kind]

    def after(self) -> dict:
        return {name: p.detach() for name, p in self.model.named_parameters()}


def disk_name(name: str) -> str:
    """A parameter's name in the base model's weights file: peft's wrapper prefix and base_layer removed."""
    return name.removeprefix("base_model.model.").replace(".base_layer.", ".")


def is_new(name: str, disk: dict) -> bool:
    """A parameter the base file does not hold: adapters (and peft's copies of a new head), a bias BitFit added
    beside a weight that is on disk, a module transformers initialises afresh for a task (a head, BERT's pooler)."""
    if any(part in name for part in ("lora_", "ia3_", "modules_to_save", "original_module")):
        return True
    key = disk_name(name)
    if key in disk:
        return False
    if key.endswith(".bias") and key.removesuffix(".bias") + ".weight" in disk:
        return True
    return key.split(".")[0] in ("classifier", "score") or ".pooler." in key


def start_weights(loaded: dict, folder: Path) -> tuple[dict, set]:
    """(`before`, the names read from disk) for a model whose parameters right after the method are `loaded`: each
    weight of the base model comes from the base folder's *.safetensors. A parameter that is neither on disk nor
    new (a name this mapping misses) fails here rather than quietly falling back to the in-memory copy."""
    import torch
    from safetensors.torch import load_file

    disk: dict = {}
    for path in sorted(folder.glob("*.safetensors")):
        disk.update(load_file(str(path)))
    assert disk, f"{folder} has no *.safetensors weights"
    before, from_disk = {}, set()
    for name, tensor in loaded.items():
        if is_new(name, disk):
            before[name] = tensor
            continue
        stored = disk.get(disk_name(name))
        assert stored is not None, f"{name} is neither in {folder}'s weights nor added by the method or task"
        if tensor.dtype == torch.uint8 and stored.dtype != torch.uint8:  # packed 4-bit (qlora): no element-wise file
            before[name] = tensor  # copy to compare with; the qlora test compares it with the file dequantised
            continue
        assert stored.shape == tensor.shape, (name, stored.shape, tensor.shape)
        before[name] = stored.to(tensor.dtype)
        from_disk.add(name)
    return before, from_disk


def config_of(spec: dict):
    from training.config import TrainConfig

    return TrainConfig.from_dict({**DEFAULTS, **spec})


def train(spec: dict, run_dir: Path, *, capture: bool = False, resume: bool = False) -> Trained:
    """training.recipe.train on `spec` (over DEFAULTS) into run_dir, in this process. config.yaml is written first,
    as the CLI does, so the run is a `run:<id>` model afterwards. With capture, the returned Trained holds the
    weights training started from (`before`: the base weights as stored on disk, the method's additions as
    initialised), the parameters in memory as the method left them (`loaded`) and the trained model itself. With
    resume, it continues from run_dir's newest checkpoint."""
    from models.run import base_folder
    from training import methods, recipe

    config = config_of(spec)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(config.to_yaml(), encoding="utf-8")
    events: list[tuple[str, dict]] = []
    seen: dict = {}
    with pytest.MonkeyPatch.context() as mp:
        if capture:
            original_apply, original_save = methods.Method.apply, recipe.save

            def apply(self, model, cfg, task):
                model, notes = original_apply(self, model, cfg, task)
                seen["loaded"] = {n: p.detach().clone() for n, p in model.named_parameters()}
                seen["before"], seen["from_disk"] = start_weights(seen["loaded"], base_folder(config.base_model))
                return model, notes

            def save(model, tokenizer, kind, folder, *rest):
                seen["model"] = model
                return original_save(model, tokenizer, kind, folder, *rest)

            mp.setattr(methods.Method, "apply", apply)
            mp.setattr(recipe, "save", save)
        summary = recipe.train(config, run_dir, lambda event, **fields: events.append((event, fields)), resume=resume)
    return Trained(summary, events, run_dir, seen.get("model"), seen.get("before", {}), seen.get("loaded", {}),
                   seen.get("from_disk", set()))
