import subprocess
import sys

import pytest

from tests.conftest import ROOT


def test_building_the_ui_imports_neither_torch_nor_transformers():
    code = ("import sys, app; app.build_ui(); "
            "heavy = [m for m in ('torch', 'transformers', 'peft') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_ui_has_every_tab():
    import app

    demo = app.build_ui()
    labels = [b.get("props", {}).get("label") for b in demo.get_config_file()["components"]]
    for tab in ["Chat", "Fine-tune", "Evaluate", "Leaderboard", "Studies", "OpenAI", "Data"]:
        assert tab in labels


@pytest.mark.parametrize("value,expected", [("ana:secret", ("ana", "secret")), ("a:b:c", ("a", "b:c")), (None, None)])
def test_auth_parsing(value, expected):
    import app

    assert app.parse_auth(value) == expected


@pytest.mark.parametrize("value", ["nopassword", ":x", "user:"])
def test_bad_auth_is_refused_with_the_expected_form(value):
    import app

    with pytest.raises(SystemExit, match="user:password"):
        app.parse_auth(value)


def test_cli_lists_the_models_the_ui_offers(tmp_path):
    """`python -m models list` prints the builtin model, each local model or adapter folder, each finished run that
    generates text (newest first), and OpenAI models only when a key is set; folders without weights are left out."""
    import os

    local = tmp_path / "local_models"
    for name, marker in [("a-model", "config.json"), ("b-adapter", "adapter_config.json"), ("c-empty", None)]:
        (local / name).mkdir(parents=True)
        if marker:
            (local / name / marker).write_text("{}")
    runs = tmp_path / "runs"
    for name, task, weights in [
        ("training-20260101-000001-sft", "sft", "adapter/adapter_config.json"),
        ("training-20260101-000002-full", "pretrain", "model/config.json"),
        ("training-20260101-000003-head", "classification", "adapter/adapter_config.json"),  # not a text model
        ("training-20260101-000004-failed", "sft", None),  # saved no weights
    ]:
        (runs / name).mkdir(parents=True)
        (runs / name / "config.yaml").write_text(f"task: {task}\n")
        if weights:
            (runs / name / weights).parent.mkdir(parents=True, exist_ok=True)
            (runs / name / weights).write_text("{}")
    env = {**os.environ, "PHARMATUNE_LOCAL_MODELS": str(local), "PHARMATUNE_RUNS": str(runs)}
    env.pop("OPENAI_API_KEY", None)

    def listed(extra=None):
        out = subprocess.run([sys.executable, "-m", "models", "list"], cwd=ROOT, capture_output=True, text=True,
                             timeout=120, env={**env, **(extra or {})})
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert listed() == [
        "builtin:smollm2-135m-instruct",
        f"hf:{local / 'a-model'}",
        f"hf:{local / 'b-adapter'}",
        "run:training-20260101-000002-full",
        "run:training-20260101-000001-sft",
    ]
    with_key = listed({"OPENAI_API_KEY": "sk-test-not-a-real-key"})
    assert with_key[:5] == listed()
    assert "openai:gpt-4o-mini" in with_key and "openai:gpt-4o" in with_key
    assert all(ref.startswith("openai:") for ref in with_key[5:])


def test_cli_streams_a_dummy_answer():
    out = subprocess.run([sys.executable, "-m", "models", "chat", "hello there", "--model", "dummy:echo"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "You said: hello there"
    bad = subprocess.run([sys.executable, "-m", "models", "chat", "hi", "--model", "nope:x"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown model scheme 'nope'" in bad.stderr and "Traceback" not in bad.stderr
