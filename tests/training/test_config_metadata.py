"""The training config's field metadata is the one place for labels, help and limits: every field has them, the
config's check refuses a value just past each limit naming the field, the Fine-tune form takes its defaults and
labels from it, and the preflight check's report is values (the form reads the count, not a sentence)."""
from __future__ import annotations

import dataclasses

import pytest

from config_loader import FieldInfo, field_info
from errors import ConfigError
from training.config import MethodConfig, TrainConfig, task_sections
from training.preflight import Report
from training.rewards import Reward
from training.tasks import TASKS

# a task that reads each settings section, and what else that task needs to be valid
SECTION_TASK = {section: next(n for n, t in TASKS.items() if t.section == section) for section in task_sections()}
SECTION_NEEDS = {"grpo": {"rewards": [{"metric": "smiles_validity"}]}}


def all_fields():
    return [("", info) for info in field_info(TrainConfig).values()] + \
        [("method.", info) for info in field_info(MethodConfig).values()] + \
        [(f"{section}.", info) for section, cls in task_sections().items() for info in field_info(cls).values()] + \
        [("grpo.rewards[0].", info) for info in field_info(Reward).values()]


@pytest.mark.parametrize("prefix, info", all_fields(), ids=lambda x: getattr(x, "name", x))
def test_every_field_has_a_label_and_a_help(prefix, info):
    assert info.label and info.label != info.name and info.help, f"{prefix}{info.name} has no label or help"


def just_past(info: FieldInfo) -> list:
    step = 1 if info.whole else 0.5
    past = []
    if info.minimum is not None:
        past.append(info.minimum - step)
    if info.exclusive_minimum is not None:
        past.append(info.exclusive_minimum)
    if info.maximum is not None:
        past.append(info.maximum + step)
    if info.exclusive_maximum is not None:
        past.append(info.exclusive_maximum)
    return [int(v) if info.whole else float(v) for v in past]


LIMITED = [(prefix, info, value) for prefix, info in all_fields() for value in just_past(info)]


@pytest.mark.parametrize("prefix, info, value", LIMITED, ids=lambda x: getattr(x, "name", str(x)))
def test_a_value_past_a_limit_is_refused_naming_the_field(prefix, info, value):
    spec = {"dataset": "bundled:ddi-binary"}
    section = prefix.split(".")[0].split("[")[0]
    if prefix == "grpo.rewards[0].":
        spec.update(task="grpo", grpo={"rewards": [{"metric": "length", "max_words": 3, info.name: value}]})
    elif section in SECTION_TASK:
        spec.update(task=SECTION_TASK[section], **{section: {**SECTION_NEEDS.get(section, {}), info.name: value}})
    elif prefix:
        spec["method"] = {info.name: value}
    else:
        spec[info.name] = value
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_dict(spec)
    assert str(caught.value).startswith(f"{prefix}{info.name} must be {info.limits}"), str(caught.value)


def test_limits_read_as_words():
    def words(**limits):
        return FieldInfo("x", float, False, 0.0, "X", "X", "x", **limits).limits

    assert words(minimum=1, maximum=4096) == "between 1 and 4096"
    assert words(exclusive_minimum=0, maximum=1) == "in (0, 1]"
    assert words(minimum=0, exclusive_maximum=1) == "in [0, 1)"
    assert words(exclusive_minimum=0) == "positive" and words(minimum=1) == "at least 1" and words() == ""
    assert not FieldInfo("x", float, False, 0.0, "X", "X", "x", minimum=0).within(float("nan"))


def test_epochs_only_count_without_max_steps():
    with pytest.raises(ConfigError, match="epochs must be positive"):
        TrainConfig.from_dict({"dataset": "x", "epochs": 0})
    assert TrainConfig.from_dict({"dataset": "x", "epochs": 0, "max_steps": 5}).max_steps == 5


def test_the_form_takes_defaults_labels_and_ids_from_the_metadata():
    from ui import finetune_tab as ft

    fields = ft.form_fields()
    config = TrainConfig(dataset="x")
    for name, info in fields.items():
        form_default = ft.FORM_DEFAULTS[name]
        if name == "dataset":
            continue
        if name in ft.task_settings():  # <section>_<field>: the task settings section's own default
            section, field_name = ft.task_settings()[name]
            value = getattr(getattr(config, section), field_name)
            if ft.structured(info):  # GRPO's rewards: a YAML box, empty for none
                assert value == [] and form_default == "", name
                continue
        else:
            value = config.method.name if name == "method" else getattr(
                config.method if name in ft.method_settings() else config, name)
        assert form_default == ((0 if info.number else "") if value is None else value), name
        assert ft.LABELS[name] == info.short
    assert ft.FIELDS == list(ft.form_defaults())
    assert ft.FIELDS[:3] == ["base_model", "dataset", "upload"] and "method" in ft.FIELDS
    ids = ["ft-" + info.form_id for info in fields.values()]
    assert len(set(ids)) == len(ids)
    assert {"ft-warmup", "ft-grad-ckpt", "ft-patience", "ft-min-delta", "ft-assistant-only", "ft-method"} <= set(ids)


def test_the_check_report_is_values_and_reads_as_its_lines():
    from ui import finetune_tab as ft

    report = Report(dataset="bundled:drug-qa", examples=40, targets=["q_proj", "v_proj"], layers=[3])
    assert report.lines == ["40 training examples from bundled:drug-qa", "targets: q_proj, v_proj"]
    assert list(report) == report.lines and report == report.lines
    assert Report("d", 3, None).lines[1] == "targets: (peft defaults)"
    assert report == dataclasses.replace(report) and report != dataclasses.replace(report, examples=41)
    assert ft.count_examples(report) == 40
