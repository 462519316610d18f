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


def test_cli_lists_models_and_streams_a_dummy_answer():
    out = subprocess.run([sys.executable, "-m", "models", "chat", "hello there", "--model", "dummy:echo"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "You said: hello there"
    bad = subprocess.run([sys.executable, "-m", "models", "chat", "hi", "--model", "nope:x"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown model scheme 'nope'" in bad.stderr and "Traceback" not in bad.stderr
