"""The README's figure for LoRA on the builtin model: r = 16 on all linear layers of SmolLM2-135M-Instruct trains
4,884,480 of 139,399,488 parameters (3.5 %)."""
from __future__ import annotations

import json

import pytest

# SmolLM2-135M: 30 layers, hidden 576, intermediate 1536, 9 attention heads and 3 key/value heads of 64 dims, so
# q_proj and o_proj are 576 -> 576, k_proj and v_proj 576 -> 3 x 64 = 192, gate_proj and up_proj 576 -> 1536 and
# down_proj 1536 -> 576. LoRA of rank r adds A (r x in) and B (out x r): r x (in + out) per linear layer.
#   per layer, r = 16: 16 x (2 x (576 + 576) + 2 x (576 + 192) + 3 x (576 + 1536))
#                    = 16 x (2,304 + 1,536 + 6,336) = 16 x 10,176 = 162,816
#   30 layers: 30 x 162,816 = 4,884,480 trainable
# The base model (embeddings tied to the output head, so counted once):
#   embeddings 49,152 x 576 = 28,311,552
#   per layer: attention 2 x 576 x 576 + 2 x 576 x 192 = 884,736; MLP 3 x 576 x 1,536 = 2,654,208;
#              two RMSNorms 2 x 576 = 1,152; together 3,540,096; 30 layers: 106,202,880
#   final norm 576
#   base total 28,311,552 + 106,202,880 + 576 = 134,515,008; with LoRA 134,515,008 + 4,884,480 = 139,399,488
LORA_TRAINABLE = 4_884_480
TOTAL_WITH_LORA = 139_399_488


@pytest.mark.slow
def test_lora_r16_on_all_linear_layers_of_the_builtin_model_trains_the_readme_count(builtin_folder):
    from transformers import AutoModelForCausalLM

    from training import methods
    from training.config import MethodConfig

    config = json.loads((builtin_folder / "config.json").read_text())
    shape = {k: config[k] for k in ("num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads",
                                    "num_key_value_heads", "vocab_size", "tie_word_embeddings")}
    assert shape == {"num_hidden_layers": 30, "hidden_size": 576, "intermediate_size": 1536, "num_attention_heads": 9,
                     "num_key_value_heads": 3, "vocab_size": 49152, "tie_word_embeddings": True}  # the sums above

    model = AutoModelForCausalLM.from_pretrained(builtin_folder)
    assert sum(p.numel() for p in model.parameters()) == 134_515_008  # the base, before LoRA
    cfg = MethodConfig(name="lora", rank=16, targets="all-linear")
    assert cfg.lora_alpha == 32  # README: alpha 32 (alpha = 2 x rank by default)
    model, _ = methods.get("lora").apply(model, cfg, "sft")

    counts = methods.parameter_counts(model)
    assert counts["trainable_params"] == LORA_TRAINABLE
    assert counts["total_params"] == TOTAL_WITH_LORA
    assert round(counts["trainable_percent"], 1) == 3.5  # README: 3.5 % (4,884,480 / 139,399,488 = 3.504 %)
    # what trains is exactly the A and B matrices of the 7 linear layers in each of the 30 blocks, lm_head not among them
    trainable = {n: p.numel() for n, p in model.named_parameters() if p.requires_grad}
    assert all("lora_A" in n or "lora_B" in n for n in trainable) and len(trainable) == 30 * 7 * 2
    assert sum(trainable.values()) == LORA_TRAINABLE
    assert not any("lm_head" in n or "embed_tokens" in n for n in trainable)
