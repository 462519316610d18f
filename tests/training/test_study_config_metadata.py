"""The search and study configs' field metadata is the one place for their labels, help, limits and choices: every
field has them, the configs' checks refuse a value just past each limit naming the field (a study only the knobs
it reads), and the Studies form takes its defaults, labels, ids and number checks from it — a change to one
field's metadata (a throwaway subclass here) reaches the form, its messages and the page."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import pytest

from config_loader import FieldInfo, describe, field_info
from errors import ConfigError
from training.config import TrainConfig
from training.search import config as search_config
from training.search.config import Param, SearchConfig
from training.studies import config as study_config
from training.studies.config import StudyConfig
from training.studies.registry import STUDIES
from ui import studies_form as sf

TRAIN = {"dataset": "train.jsonl", "eval_dataset": "val.jsonl", "max_steps": 8}
SPACE = {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-3}}


@pytest.fixture(autouse=True)
def made_up_paths_are_allowed(monkeypatch):
    """The form tests name files that need not exist (/data/train.jsonl)."""
    monkeypatch.setenv("PHARMATUNE_ALLOWED_ROOTS", os.pathsep.join([os.environ.get("PHARMATUNE_ALLOWED_ROOTS", ""),
                                                                    "/data"]))


def form(**fields) -> dict:
    base = dict(base_model="hf:/models/tiny", dataset="/data/train.jsonl", eval_dataset="/data/val.jsonl",
                max_steps=6, batch_size=4, max_length=64, eval_every=1, trials=8, trial_steps=4, top_k=1, seed=1)
    return {**base, **fields}


def all_fields():
    return [(cls.__name__, info) for cls in (SearchConfig, StudyConfig, Param) for info in field_info(cls).values()]


@pytest.mark.parametrize("owner, info", all_fields(), ids=lambda x: getattr(x, "name", x))
def test_every_field_has_a_label_and_a_help(owner, info):
    assert info.label and info.label != info.name and info.help, f"{owner}.{info.name} has no label or help"


def test_choices_come_from_the_registries():
    search, study = field_info(SearchConfig), field_info(StudyConfig)
    assert (search["sampler"].choices, search["pruner"].choices, search["protocol"].choices) == \
        (search_config.SAMPLERS, search_config.PRUNERS, search_config.PROTOCOLS)
    assert study["study"].choices == tuple(STUDIES) and field_info(Param)["type"].choices == search_config.PARAM_TYPES
    assert sf.KINDS == ("search", *STUDIES)


def just_past(info: FieldInfo) -> list:
    step = 1 if info.whole else 0.5
    past = []
    if info.minimum is not None:
        past.append(info.minimum - step if not (info.zero_is_none and info.minimum - step == 0) else -1)
    if info.exclusive_minimum is not None:
        past.append(info.exclusive_minimum)
    if info.maximum is not None:
        past.append(info.maximum + step)
    if info.exclusive_maximum is not None:
        past.append(info.exclusive_maximum)
    return [int(v) if info.whole else float(v) for v in past]


def reader(name: str) -> str:
    """A study that reads the knob (any study reads the rest)."""
    return next((study for study, entry in STUDIES.items() if name in entry.reads), "data-efficiency")


LIMITED = [(cls, info, value) for cls in (SearchConfig, StudyConfig) for info in field_info(cls).values()
           for value in just_past(info)]


@pytest.mark.parametrize("cls, info, value", LIMITED, ids=lambda x: getattr(x, "name", getattr(x, "__name__", str(x))))
def test_a_value_past_a_limit_is_refused_naming_the_field(cls, info, value):
    spec = {"train": TRAIN, "space": SPACE, info.name: value}
    if cls is StudyConfig:
        spec = {"train": TRAIN, "study": reader(info.name), info.name: value}
    with pytest.raises(ConfigError) as caught:
        cls.from_dict(spec).check()
    assert str(caught.value).startswith(f"{info.name} must be {info.limits}"), str(caught.value)


def test_a_study_leaves_the_other_studies_knobs_be():
    assert StudyConfig.from_dict({"train": TRAIN, "study": "lora-rank", "epsilon": 5.0, "lissa_depth": 0}).check()
    with pytest.raises(ConfigError, match=r"epsilon must be in \[0, 1\) \(got 5.0\)"):
        StudyConfig.from_dict({"train": TRAIN, "study": "data-efficiency", "epsilon": 5.0}).check()
    with pytest.raises(ConfigError, match="study 'lora-rnak' is not one of .*Did you mean 'lora-rank'"):
        StudyConfig.from_dict({"train": TRAIN, "study": "lora-rnak"}).check()


def test_the_form_takes_defaults_labels_and_ids_from_the_metadata():
    fields = sf.form_fields()
    configs = {**{name: TrainConfig(dataset="x") for name in sf.BASE}, **{name: SearchConfig(train={}) for name in
                                                                         sf.SEARCH},
               **{name: StudyConfig(study="lora-rank", train={}) for name in sf.STUDY}, "eval_every": SearchConfig(train={})}
    assert sf.FIELDS == list(sf.form_defaults()) == ["kind", *sf.BASE, *sf.SEARCH, *sf.STUDY]
    for name, info in fields.items():
        assert sf.LABELS[name] == info.short, name
        if name == "dataset":
            continue
        value = configs[name].method.name if name == "method" else getattr(configs[name], name)
        value = sf.PAGE.get(name, {}).get("default", value)  # where the page starts elsewhere (a study's short runs)
        if name in sf.WHOLE_LISTS:
            value = ", ".join(map(str, value))
        assert sf.FORM_DEFAULTS[name] == ((0 if info.number else "") if value is None else value), name
    # the browser tests find the inputs by these ids
    assert all(info.form_id == name.replace("_", "-") for name, info in fields.items())
    assert (sf.LABELS["max_steps"], sf.LABELS["trials"], sf.LABELS["select_k"]) == \
        ("Max steps per run", "Trials", "Select top k")


@dataclass
class TighterSearch(SearchConfig):  # a throwaway change to one field's metadata
    trials: int = field(default=5, metadata=describe("Tries (phase one)", "a test's trials", short="Tries", minimum=4))


@dataclass
class TighterStudy(StudyConfig):
    intrinsic_examples: int = field(default=64, metadata=describe(
        "Examples for TwoNN", "a test's examples", short="TwoNN examples", minimum=10))


def test_a_change_to_the_metadata_reaches_the_form_and_the_check(monkeypatch):
    monkeypatch.setattr(search_config, "SearchConfig", TighterSearch)
    monkeypatch.setattr(study_config, "StudyConfig", TighterStudy)
    fields, defaults = sf.form_fields(), sf.form_defaults()
    assert (fields["trials"].label, fields["trials"].short, defaults["trials"]) == ("Tries (phase one)", "Tries", 5)
    assert (fields["intrinsic_examples"].short, defaults["intrinsic_examples"]) == ("TwoNN examples", 64)
    with pytest.raises(sf.InputProblem, match=r"^Tries \(trials\) must be a whole number of at least 4 \(got 3\)"):
        sf.make_config(form(trials=3))
    config = sf.make_config(form(trials=4))
    assert isinstance(config, TighterSearch) and config.trials == 4
    with pytest.raises(ConfigError, match=r"^trials must be at least 4 \(got 3\)\.$"):  # the YAML's check too
        dataclasses.replace(config, trials=3).check()
    with pytest.raises(sf.InputProblem, match=r"TwoNN examples \(intrinsic_examples\) must be a whole number of at "
                                              r"least 10 \(got 9\)"):
        sf.make_config(form(kind="lora-rank", intrinsic_examples=9))
    assert sf.make_config(form(kind="lora-rank")).intrinsic_examples == 64  # the new default, through the form


def test_the_page_shows_the_metadata(monkeypatch):
    gr = pytest.importorskip("gradio")
    from ui import studies_tab

    monkeypatch.setattr(search_config, "SearchConfig", TighterSearch)
    with gr.Blocks():
        built = studies_tab.form_layout()
    trials = built.fields["trials"]
    assert (trials.label, trials.value, trials.elem_id, trials.precision) == ("Tries (phase one)", 5, "st-trials", 0)
    assert built.fields["max_steps"].label == "Max steps per run (full length)"  # the page's own words for a base field
    assert built.fields["pruner"].choices == [(name, name) for name in search_config.PRUNERS]
