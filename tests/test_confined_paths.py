"""Typed paths stay inside the app's folders (data.paths), so a public link cannot read the server's files: the
exfiltration chain (estimate a file outside the data folder → its copy is served from the data folder) is refused
at its first step, through the running app's own HTTP API."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from data.paths import confine, confine_ref
from data.records import DataError
from tests.conftest import ROOT

SECRET_ROW = {"messages": [{"role": "user", "content": "the owner's notes"},
                           {"role": "assistant", "content": "not for visitors"}]}


@pytest.fixture
def outside(tmp_path_factory) -> Path:
    """A chat JSONL in a folder that is no allowed root (not under pytest's temporary folder either)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="pharmatune-outside-", dir="/var/tmp"))
    path = folder / "notes.jsonl"
    path.write_text(json.dumps(SECRET_ROW) + "\n", encoding="utf-8")
    yield path
    path.unlink()
    folder.rmdir()


def test_paths_outside_the_roots_are_refused_with_the_roots_named(outside, tmp_path):
    with pytest.raises(DataError, match=r"Dataset: .*notes\.jsonl is outside the folders this app reads") as caught:
        confine(outside, "Dataset")
    assert "PHARMATUNE_ALLOWED_ROOTS" in str(caught.value)
    climbing = os.path.relpath(outside, ROOT)  # ../../var/tmp/… from the working folder
    assert climbing.startswith("..")
    with pytest.raises(DataError):
        confine_ref(climbing, "Dataset")
    link = tmp_path / "innocent.jsonl"  # inside an allowed root, pointing out of it
    link.symlink_to(outside)
    with pytest.raises(DataError, match="outside the folders"):
        confine(link, "Dataset")
    assert confine_ref("bundled:ddi-binary", "Dataset") == "bundled:ddi-binary"
    assert confine_ref("shared:ddi", "Dataset") == "shared:ddi"
    inside = tmp_path / "mine.jsonl"
    assert confine(inside, "Dataset") == inside.resolve()


def test_each_tab_refuses_an_outside_path_before_opening_it(outside, monkeypatch, tmp_path):
    from ui import data_tab, finetune_tab, openai_tab

    monkeypatch.setenv("PHARMATUNE_DATA", str(tmp_path / "data"))
    with pytest.raises(finetune_tab.InputProblem, match=r"Dataset \(dataset\): .* outside the folders"):
        finetune_tab.make_config({"dataset": str(outside)})
    with pytest.raises(finetune_tab.InputProblem, match=r"Validation set \(eval_dataset\): .* outside"):
        finetune_tab.make_config({"dataset": "bundled:ddi-binary", "eval_dataset": str(outside)})
    with pytest.raises(DataError, match="outside the folders"):
        openai_tab.prepare_source(None, str(outside), "train")
    with pytest.raises(DataError, match="outside the folders"):
        data_tab.resolve_source(None, str(outside), "train")
    assert not (tmp_path / "data" / "openai").exists()  # nothing was copied where Gradio serves files
    from ui import studies_tab

    with pytest.raises(studies_tab.InputProblem, match=r"Storage \(storage\): /etc/pharmatune\.db is outside"):
        studies_tab._storage("sqlite:////etc/pharmatune.db")  # a SQLite study file is a typed path too


@pytest.mark.slow
def test_the_exfiltration_chain_is_refused_at_its_first_step_over_http(outside, tmp_path):
    from gradio_client import Client

    from tests.test_app_server import App

    app = App(tmp_path, env={"PHARMATUNE_ALLOWED_ROOTS": ""})
    try:
        client = Client(app.url, verbose=False)
        summary, *_ = client.predict(None, str(outside), "train", "gpt-4o-mini", "3", api_name="/on_estimate")
        assert "outside the folders this app reads" in summary and "not for visitors" not in summary
        assert not (app.data / "openai").exists() or not any((app.data / "openai").iterdir())
        assert "Traceback" not in app.log_path.read_text()
        # Gradio serves what a visitor exported, not the rest of the data folder.
        import httpx

        (app.data / "openai").mkdir(parents=True, exist_ok=True)
        copy = app.data / "openai" / "notes-train.jsonl"
        copy.write_text(json.dumps(SECRET_ROW) + "\n", encoding="utf-8")
        export = app.data / "exports" / "board.csv"
        export.write_text("model,accuracy\n", encoding="utf-8")
        refused = httpx.get(f"{app.url}/gradio_api/file={copy.resolve()}", timeout=30)
        assert refused.status_code in (403, 404) and "not for visitors" not in refused.text
        served = httpx.get(f"{app.url}/gradio_api/file={export.resolve()}", timeout=30)
        assert served.status_code == 200 and served.text == "model,accuracy\n"
    finally:
        app.stop()
