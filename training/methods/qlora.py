"""QLoRA: a 4-bit NF4 base (bitsandbytes) with LoRA on top. CUDA only: elsewhere the run is refused before
it starts, with the reason."""
import importlib.util

from errors import ConfigError


def preflight(cfg):
    import torch

    if not torch.cuda.is_available():
        raise ConfigError("qlora needs a CUDA GPU (4-bit bitsandbytes kernels) and this machine has none; "
                          "choose lora, which trains the same adapters on an unquantised base.")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError("qlora needs the bitsandbytes package (pip install bitsandbytes); it is not installed.")


def load_kwargs(cfg) -> dict:
    import torch
    from transformers import BitsAndBytesConfig

    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"quantization_config": BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                      bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute)}


def apply(model, cfg, task):
    from peft import prepare_model_for_kbit_training

    from training.methods import lora

    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model, notes = lora.apply(model, cfg, task)
    return model, ["4-bit NF4 base (bitsandbytes), double quantisation"] + notes
