"""A method with its own hyperparameter touches only its module and its registration: registered here (undone
afterwards), its setting loads from YAML, a bad value is refused naming the field, and the Fine-tune form has an
input for it, with the label and limits of its metadata."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest
import yaml

from config_loader import describe
from errors import ConfigError
from training import config as training_config
from training import methods


@dataclass
class ScaledSettings:
    """The throwaway method's own setting, as a method module would declare it."""

    scale: float = field(default=0.5, metadata=describe("Update scale", "how far each step moves the weights",
                                                        exclusive_minimum=0, maximum=10))


def register(mp: pytest.MonkeyPatch) -> None:
    """What the method's entry in training/methods/__init__.py does, then MethodConfig built again from the registry
    (training.config builds it once, on import)."""
    mp.setitem(methods.METHODS, "scaled", methods.Method("full", "model", "full fine-tuning, scaled steps",
                                                         settings=(ScaledSettings,)))
    mp.setattr(training_config, "MethodConfig", training_config.method_config_class())


def test_a_registered_method_brings_its_setting_to_yaml_and_the_form(tmp_path):
    from ui import finetune_tab as ft

    path = tmp_path / "scaled.yaml"
    with pytest.MonkeyPatch.context() as mp:
        register(mp)
        path.write_text("dataset: bundled:ddi-binary\nmethod: {name: scaled, scale: 2.5}\n", encoding="utf-8")
        config = training_config.TrainConfig.from_yaml(path)
        assert (config.method.name, config.method.scale, config.method.rank) == ("scaled", 2.5, 8)
        assert training_config.TrainConfig.from_dict(yaml.safe_load(config.to_yaml())) == config
        for bad, message in (("0", "method.scale must be in (0, 10] (got 0.0)."),
                             ("11", "method.scale must be in (0, 10] (got 11.0)."),
                             ("lots", "method.scale: 'lots' is not a number")):
            path.write_text(f"dataset: bundled:ddi-binary\nmethod: {{name: scaled, scale: {bad}}}\n", encoding="utf-8")
            with pytest.raises(ConfigError) as caught:
                training_config.TrainConfig.from_yaml(path)
            assert str(caught.value) == f"{path}: {message}"

        fields = ft.form_fields()
        assert fields["scale"].label == "Update scale" and ft.form_defaults()["scale"] == 0.5
        assert "scaled" in fields["method"].choices
        made = ft.make_config(dataset="bundled:ddi-binary", method="scaled", scale=3)
        assert made.method.name == "scaled" and made.method.scale == 3.0
        with pytest.raises(ft.InputProblem, match=r"Update scale \(scale\) must be a number \(got 'big'\)"):
            ft.make_config(dataset="bundled:ddi-binary", method="scaled", scale="big")
        with pytest.raises(ft.InputProblem, match=r"method\.scale must be in \(0, 10\]"):
            ft.make_config(dataset="bundled:ddi-binary", method="scaled", scale=-1)

        import gradio as gr

        with gr.Blocks():
            box = ft._input(gr, fields["scale"], 0.5)
        assert isinstance(box, gr.Number) and box.elem_id == "ft-scale" and box.label == "Update scale"
        assert box.precision is None

    assert "scaled" not in methods.METHODS and "scale" not in ft.form_defaults()
    assert "scale" not in [f.name for f in dataclasses.fields(training_config.MethodConfig)]


def test_two_methods_cannot_declare_the_same_setting_name():
    @dataclass
    class Clashing:
        rank: int = 3

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(methods.METHODS, "clash", methods.Method("full", "model", "a clash", settings=(Clashing,)))
        with pytest.raises(TypeError, match="method.rank is declared twice"):
            training_config.method_config_class()


def test_settings_belong_to_their_methods_and_keep_the_shared_fields():
    from training.methods import lora, targets

    assert methods.METHODS["qlora"].settings == methods.METHODS["lora"].settings == (lora.Settings, targets.Settings)
    assert methods.METHODS["ia3"].settings == methods.METHODS["bitfit"].settings == (targets.Settings,)
    names = [f.name for f in dataclasses.fields(training_config.MethodConfig)]
    assert names == ["name", "rank", "alpha", "alpha_k", "dropout", "rslora", "dora", "targets", "last_n_layers"]
    method = training_config.MethodConfig(rank=4, alpha_k=3)
    assert method.lora_alpha == 12 and isinstance(method, lora.Settings) and isinstance(method, targets.Settings)
