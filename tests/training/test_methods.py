"""What each training method promises (TRL-style, on a tiny random Llama): which weights move, which stay
bit-identical, how many parameters train, and which options reach the saved adapter."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch

from tests.training.conftest import config_of, train
from training.config import ConfigError, TrainConfig


def dims(folder) -> dict:
    """The tiny Llama's shapes, read from its config (so the hand counts below follow the fixture)."""
    config = json.loads((folder / "config.json").read_text())
    h, i, layers, vocab = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"], config["vocab_size"]
    kv = config["num_key_value_heads"] * (h // config["num_attention_heads"])
    shapes = {"q_proj": (h, h), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (h, h),
              "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}  # (in, out)
    per_layer = sum(a * b for a, b in shapes.values()) + 2 * h  # linears + two RMSNorms
    total = layers * per_layer + h + 2 * vocab * h  # + final norm, embeddings and untied lm_head
    return dict(h=h, i=i, kv=kv, layers=layers, vocab=vocab, shapes=shapes, total=total)


def check_counts(summary: dict, trainable: int, total: int):
    assert summary["trainable_params"] == trainable
    assert summary["total_params"] == total
    assert summary["trainable_percent"] == pytest.approx(100 * trainable / total, abs=1e-4)


def is_base(name: str) -> bool:
    return "lora_" not in name and "ia3_" not in name


def test_lora_leaves_every_base_weight_bit_identical_and_trains_the_adapters(llama, tiny_llama, chat_file, isolated_runs):
    run = train({"dataset": str(chat_file), "base_model": llama, "method": {"name": "lora", "rank": 4}},
                isolated_runs / "lora", capture=True)
    after = run.after()
    base = [n for n in after if is_base(n)]
    adapters = [n for n in after if "lora_" in n]
    assert len(base) == len(run.before) - len(adapters) > 20
    unchanged = [n for n in base if torch.equal(after[n], run.before[n])]
    assert unchanged == base  # every base tensor, embeddings and lm_head included, bit for bit
    assert all(not after[n].requires_grad for n in base)
    moved = [n for n in adapters if not torch.equal(after[n], run.before[n])]
    assert moved == adapters and len(adapters) == 2 * 7 * 2  # A and B of 7 linears in 2 layers, all moved
    # the adapters are zero-initialised (B = 0) so training, not initialisation, made them non-zero
    assert all(torch.count_nonzero(run.before[n]) == 0 for n in adapters if "lora_B" in n)
    assert all(torch.count_nonzero(after[n]) > 0 for n in adapters if "lora_B" in n)

    d = dims(tiny_llama)
    r = 4
    expected = d["layers"] * sum(r * (a + b) for a, b in d["shapes"].values())
    check_counts(run.summary, expected, d["total"] + expected)
    assert run.of("setup")[0]["trainable_params"] == expected
    assert (run.run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert not (run.run_dir / "model").exists()


def test_ia3_leaves_base_weights_untouched_and_trains_its_scaling_vectors(llama, tiny_llama, chat_file, isolated_runs):
    run = train({"dataset": str(chat_file), "base_model": llama, "method": {"name": "ia3"}},
                isolated_runs / "ia3", capture=True)
    after = run.after()
    base = [n for n in after if is_base(n)]
    vectors = [n for n in after if "ia3_" in n]
    assert [n for n in base if torch.equal(after[n], run.before[n])] == base
    assert vectors and [n for n in vectors if not torch.equal(after[n], run.before[n])] == vectors
    assert all(torch.all(run.before[n] == 1) for n in vectors)  # IA3 starts as the identity rescaling
    # peft's Llama defaults: keys and values (scaled per output) and down_proj (feed-forward, per input)
    assert sorted({n.split(".")[-3] for n in vectors}) == ["down_proj", "k_proj", "v_proj"]
    d = dims(tiny_llama)
    expected = d["layers"] * (d["kv"] + d["kv"] + d["i"])
    check_counts(run.summary, expected, d["total"] + expected)
    config = json.loads((run.run_dir / "adapter" / "adapter_config.json").read_text())
    assert config["peft_type"] == "IA3"


def test_bitfit_adds_zero_biases_to_llama_trains_only_them_and_the_saved_model_reloads_them(
        llama, tiny_llama, chat_file, isolated_runs):
    from transformers import AutoModelForCausalLM

    run = train({"dataset": str(chat_file), "base_model": llama, "method": {"name": "bitfit"}},
                isolated_runs / "bitfit", capture=True)
    after = run.after()
    biases = [n for n in after if n.endswith(".bias")]
    weights = [n for n in after if not n.endswith(".bias")]
    d = dims(tiny_llama)
    assert len(biases) == d["layers"] * 7  # tiny Llama has none of its own: one per linear layer was added
    assert all(torch.count_nonzero(run.before[n]) == 0 for n in biases)  # zero-initialised
    assert [n for n in weights if torch.equal(after[n], run.before[n])] == weights
    assert [n for n in biases if not torch.equal(after[n], run.before[n])] == biases
    expected = d["layers"] * sum(out for _, out in d["shapes"].values())
    check_counts(run.summary, expected, d["total"] + expected)
    assert any("no biases" in note and "zero-initialised" in note for note in run.summary["notes"])

    saved = run.run_dir / "model"
    config = json.loads((saved / "config.json").read_text())
    assert config["attention_bias"] is True and config["mlp_bias"] is True
    reloaded = AutoModelForCausalLM.from_pretrained(saved)
    state = dict(reloaded.named_parameters())
    assert sorted(n for n in state if n.endswith(".bias")) == sorted(biases)
    assert all(torch.equal(state[n], after[n].cpu()) for n in after)
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        assert torch.allclose(reloaded(ids).logits, run.model.eval()(ids).logits, atol=1e-6)


def test_bitfit_on_some_targets_of_the_last_layer_only(llama, chat_file, isolated_runs):
    from transformers import AutoModelForCausalLM

    run = train({"dataset": str(chat_file), "base_model": llama,
                 "method": {"name": "bitfit", "targets": "q_proj,up_proj", "last_n_layers": 1}},
                isolated_runs / "bitfit-some", capture=True)
    after = run.after()
    biases = sorted(n for n in after if n.endswith(".bias"))
    assert biases == ["model.layers.1.mlp.up_proj.bias", "model.layers.1.self_attn.q_proj.bias"]
    assert sorted(n for n in after if not torch.equal(after[n], run.before[n])) == biases
    # the biases the config flags imply but training never added reload as zeros: same outputs
    reloaded = AutoModelForCausalLM.from_pretrained(run.run_dir / "model")
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        assert torch.allclose(reloaded(ids).logits, run.model.eval()(ids).logits, atol=1e-6)


def test_bitfit_on_a_model_with_biases_trains_all_of_them_or_only_the_targeted_ones(tiny_bert, regression_files,
                                                                                      isolated_runs):
    spec = {"dataset": str(regression_files[0]), "task": "regression", "input_field": "smiles",
            "base_model": f"hf:{tiny_bert}", "method": {"name": "bitfit"}}
    run = train(spec, isolated_runs / "bert-bitfit", capture=True)
    after = run.after()
    moved = {n for n in after if not torch.equal(after[n], run.before[n])}
    biases = {n for n in after if n.endswith(".bias") and not n.startswith("classifier")}
    # every bias, LayerNorm's included (the paper's BitFit): 8 per layer, embeddings' LayerNorm, the pooler
    assert len(biases) == 2 * 8 + 2 and biases <= moved
    assert moved - biases == {"classifier.weight", "classifier.bias"} - biases  # + the new head, no other weight
    assert not any(note.startswith("This model has no biases") for note in run.summary["notes"])

    run = train({**spec, "method": {"name": "bitfit", "targets": "query", "last_n_layers": 1}},
                isolated_runs / "bert-bitfit-some", capture=True)
    after = run.after()
    moved = sorted(n for n in after if not torch.equal(after[n], run.before[n]))
    assert moved == ["bert.encoder.layer.1.attention.self.query.bias", "classifier.bias", "classifier.weight"]
    assert run.summary["trainable_params"] == 32 + 32 + 1  # query bias (hidden 32) + head 1x32 + its bias


def test_adapters_for_masked_lm_pretraining_leave_its_pretrained_head_alone(tiny_bert, text_file, isolated_runs):
    """cls (BERT's MLM head, tied to the word embeddings) is pretrained, not a new head: LoRA and IA3 do not copy it
    into the adapter and train it in full."""
    for name in ("lora", "ia3"):
        run = train({"dataset": str(text_file), "task": "pretrain", "base_model": f"hf:{tiny_bert}",
                     "method": {"name": name}}, isolated_runs / f"mlm-{name}", capture=True)
        trainable = [n for n, p in run.model.named_parameters() if p.requires_grad]
        assert trainable and all(f"{name}_" in n for n in trainable), trainable
        after = run.after()
        assert [n for n in after if f"{name}_" not in n and not torch.equal(after[n], run.before[n])] == []


def test_ia3_on_the_last_layer_only(llama, tiny_llama, chat_file, isolated_runs):
    run = train({"dataset": str(chat_file), "base_model": llama, "method": {"name": "ia3", "last_n_layers": 1}},
                isolated_runs / "ia3-last", capture=True)
    vectors = [n for n in run.after() if "ia3_" in n]
    assert sorted(n.split(".")[4] + "." + n.split(".")[-3] for n in vectors) == ["1.down_proj", "1.k_proj", "1.v_proj"]
    d = dims(tiny_llama)
    assert run.summary["trainable_params"] == d["kv"] + d["kv"] + d["i"]


@pytest.mark.parametrize("name", ["ia3", "lora"])
def test_last_n_layers_adapts_in_the_last_layer_exactly_what_all_layers_would(name, tiny_bert):
    """Restricting to the last layer must not change which modules of that layer are adapted (BERT's IA3 default
    names a dotted suffix, output.dense)."""
    from transformers import AutoModelForSequenceClassification

    from training import methods
    from training.config import MethodConfig

    def adapted(cfg):
        model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=1)
        model, _ = methods.get(name).apply(model, cfg, "regression")
        return {n.split("layer.")[1].split(f".{name}_")[0] for n, p in model.named_parameters()
                if p.requires_grad and f"{name}_" in n and ".layer." in n}  # (LoRA also adapts bert.pooler)

    everywhere = adapted(MethodConfig(name=name))
    last = adapted(MethodConfig(name=name, last_n_layers=1))
    assert last == {m for m in everywhere if m.startswith("1.")} and last
    if name == "ia3":
        assert last == {"1.attention.self.key", "1.attention.self.value", "1.attention.output.dense", "1.output.dense"}


def test_full_fine_tuning_changes_every_weight_tensor(llama, tiny_llama, chat_file, isolated_runs):
    run = train({"dataset": str(chat_file), "base_model": llama, "method": {"name": "full"}},
                isolated_runs / "full", capture=True)
    after = run.after()
    # none may stay: every norm, projection, the embeddings (rows of the tokens seen) and lm_head get gradients
    assert [n for n in after if torch.equal(after[n], run.before[n])] == []
    assert len(after) == len(run.before) == dims(tiny_llama)["layers"] * 9 + 3
    d = dims(tiny_llama)
    check_counts(run.summary, d["total"], d["total"])
    assert run.summary["trainable_percent"] == 100.0
    assert (run.run_dir / "model" / "model.safetensors").is_file()


def test_lora_options_reach_the_adapter_alpha_rank_last_layer_and_rslora(llama, tiny_llama, chat_file, isolated_runs):
    run = train({"dataset": str(chat_file), "base_model": llama,
                 "method": {"name": "lora", "rank": 3, "alpha_k": 8, "last_n_layers": 1, "rslora": True}},
                isolated_runs / "lora-opts", capture=True)
    config = json.loads((run.run_dir / "adapter" / "adapter_config.json").read_text())
    assert config["r"] == 3 and config["lora_alpha"] == 24  # alpha = alpha_k x rank when alpha is unset
    assert config["use_rslora"] is True and config["use_dora"] is False
    assert config["layers_to_transform"] == [1]
    after = run.after()
    adapted = {n.split(".")[4] for n in after if "lora_" in n}  # base_model.model.model.layers.<i>...
    assert adapted == {"1"}
    q = run.model.base_model.model.model.layers[1].self_attn.q_proj
    assert q.scaling["default"] == pytest.approx(24 / math.sqrt(3))  # rsLoRA: alpha / sqrt(r)
    d = dims(tiny_llama)
    expected = sum(3 * (a + b) for a, b in d["shapes"].values())  # one layer only
    check_counts(run.summary, expected, d["total"] + expected)
    assert any("LoRA r=3, alpha=24" in note and "rsLoRA" in note for note in run.summary["notes"])


def test_lora_explicit_alpha_and_dora_reach_the_adapter(llama, tiny_llama, chat_file, isolated_runs):
    run = train({"dataset": str(chat_file), "base_model": llama,
                 "method": {"name": "lora", "rank": 2, "alpha": 5, "dora": True, "targets": ["q_proj", "v_proj"]}},
                isolated_runs / "dora", capture=True)
    config = json.loads((run.run_dir / "adapter" / "adapter_config.json").read_text())
    assert config["lora_alpha"] == 5 and config["use_dora"] is True and config["use_rslora"] is False
    assert sorted(config["target_modules"]) == ["q_proj", "v_proj"]
    after = run.after()
    magnitudes = [n for n in after if "lora_magnitude_vector" in n]
    assert len(magnitudes) == 2 * 2 and all(not torch.equal(after[n], run.before[n]) for n in magnitudes)
    assert [n for n in after if is_base(n) and not torch.equal(after[n], run.before[n])] == []
    d = dims(tiny_llama)
    per_layer = sum(2 * (a + b) + b for a, b in (d["shapes"]["q_proj"], d["shapes"]["v_proj"]))  # A, B, magnitude
    check_counts(run.summary, d["layers"] * per_layer, d["total"] + d["layers"] * per_layer)


def test_targets_that_match_nothing_are_refused_naming_them_and_the_real_layers(llama, chat_file, isolated_runs):
    run_dir = isolated_runs / "bad-targets"
    with pytest.raises(ConfigError) as info:
        train({"dataset": str(chat_file), "base_model": llama,
               "method": {"name": "lora", "targets": ["q_proj", "qkv_projj"]}}, run_dir)
    message = str(info.value)
    assert "'qkv_projj'" in message and "'q_proj'" not in message
    for real in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "all-linear"):
        assert real in message
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "adapter").exists()


def test_the_check_command_also_names_targets_that_match_nothing(llama, chat_file):
    from training.__main__ import check

    config = config_of({"dataset": str(chat_file), "base_model": llama, "method": {"name": "ia3", "targets": "q_proj,mlp"}})
    with pytest.raises(ConfigError, match="'mlp' match"):
        check(config)
    ok = check(config_of({"dataset": str(chat_file), "base_model": llama, "method": {"name": "lora", "targets": "q_proj"}}))
    assert ok == [f"8 training examples from {chat_file}", "targets: q_proj"]


@pytest.mark.parametrize("change, field", [
    ({"method": {"name": "lora", "rank": 0}}, "method.rank"),
    ({"method": {"name": "lora", "rank": 5000}}, "method.rank"),
    ({"learning_rate": 5}, "learning_rate"),
    ({"learning_rate": 0}, "learning_rate"),
    ({"method": {"name": "lora", "alpha": -1}}, "method.alpha"),
    ({"method": {"name": "lora", "dropout": 1.0}}, "method.dropout"),
    ({"method": {"name": "lora", "last_n_layers": 0}}, "method.last_n_layers"),
    ({"method": {"name": "lora", "targets": " , "}}, "method.targets"),
])
def test_impossible_hyperparameters_are_config_errors_naming_the_field(change, field):
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({"dataset": "x.jsonl", **change})
    assert str(info.value).startswith(field)


def test_an_unknown_method_gets_a_did_you_mean():
    with pytest.raises(ConfigError, match="Did you mean 'lora'"):
        TrainConfig.from_dict({"dataset": "x.jsonl", "method": {"name": "lorra"}})


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA (here qlora may run)")
def test_qlora_without_cuda_is_refused_before_training_and_check_exits_2(llama, chat_file, isolated_runs, tmp_path):
    run_dir = isolated_runs / "qlora"
    config = {"dataset": str(chat_file), "base_model": llama, "method": {"name": "qlora"}}
    with pytest.raises(ConfigError, match="CUDA"):
        train(config, run_dir)
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.yaml"]  # no events, checkpoints or weights

    path = tmp_path / "qlora.yaml"
    path.write_text(config_of(config).to_yaml(), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "training", "check", str(path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert "CUDA" in done.stderr and "choose lora" in done.stderr


def has_bitsandbytes() -> bool:
    import importlib.util

    return importlib.util.find_spec("bitsandbytes") is not None


@pytest.mark.skipif(not (torch.cuda.is_available() and has_bitsandbytes()),
                    reason="needs CUDA and bitsandbytes: qlora's 4-bit base exists only on a GPU")
def test_qlora_trains_only_lora_weights_on_a_4_bit_nf4_base(llama, tiny_llama, chat_file, isolated_runs):
    import bitsandbytes as bnb
    from bitsandbytes.functional import dequantize_4bit
    from safetensors.torch import load_file

    # fp32: the unquantised weights (embeddings, norms, lm_head) load exactly as stored, so they compare bit for bit
    run = train({"dataset": str(chat_file), "base_model": llama, "precision": "fp32",
                 "method": {"name": "qlora", "rank": 4}}, isolated_runs / "qlora", capture=True)
    d = dims(tiny_llama)
    stored = load_file(str(tiny_llama / "model.safetensors"))
    # every linear layer of the blocks is a bitsandbytes 4-bit NF4 layer under its LoRA wrapper; lm_head is not
    quantised = {n.removeprefix("base_model.model.").removesuffix(".base_layer"): m
                 for n, m in run.model.named_modules() if isinstance(m, bnb.nn.Linear4bit)}
    assert sorted(quantised) == sorted(n.removesuffix(".weight") for n in stored if n.endswith("_proj.weight"))
    assert len(quantised) == d["layers"] * 7
    for name, module in quantised.items():
        weight, original = module.weight, stored[f"{name}.weight"]
        assert weight.dtype == torch.uint8 and weight.quant_state.quant_type == "nf4", name
        assert 2 * weight.numel() == original.numel(), name  # two 4-bit codes per byte
        restored = dequantize_4bit(weight.data, weight.quant_state).float().cpu()
        assert restored.shape == original.shape and not torch.equal(restored, original), name
        # NF4 rounds each value to one of 16 levels scaled by its block's absmax: the widest gap between levels
        # (-1 to -0.696) bounds the error by about 0.152 x absmax; 0.2 leaves room for the double-quantised absmax
        assert (restored - original).abs().max() <= 0.2 * original.abs().max(), name
    assert any("4-bit NF4" in note for note in run.summary["notes"])

    after = {n: p.cpu() for n, p in run.after().items()}
    trainable = sorted(n for n, p in run.model.named_parameters() if p.requires_grad)
    assert len(trainable) == 2 * 7 * d["layers"] and all("lora_A" in n or "lora_B" in n for n in trainable)
    assert run.summary["trainable_params"] == d["layers"] * sum(4 * (a + b) for a, b in d["shapes"].values())
    assert [n for n in trainable if torch.equal(after[n], run.before[n].cpu())] == []  # every adapter moved
    frozen = [n for n in after if n not in trainable]
    assert len(frozen) == len(stored)  # the quantised linears and everything else of the base
    assert [n for n in frozen if not torch.equal(after[n], run.before[n].cpu())] == []  # bit for bit, packed codes too
    assert (run.run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert json.loads((run.run_dir / "adapter" / "adapter_config.json").read_text())["peft_type"] == "LORA"
