"""The real `python app.py` in a child process, over HTTP: the README's --auth and upload-limit claims.

`--no-preload` keeps the builtin model out of it: these tests are about the web server, not the model.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

START_LIMIT_S = 180  # only catches an app that never comes up; it normally answers in a few seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class App:
    """`python app.py --port <free> --no-preload *args`, ready once GET / answers 200."""

    def __init__(self, tmp_path: Path, *args: str, env: dict | None = None):
        self.data = tmp_path / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / "app.log"
        self.log = self.log_path.open("w")
        environment = {**os.environ, "PHARMATUNE_DATA": str(self.data), "PHARMATUNE_RUNS": str(tmp_path / "runs"),
                       **(env or {})}
        environment.pop("GRADIO_TEMP_DIR", None)  # app.py puts uploads under PHARMATUNE_DATA/uploads
        self.process = subprocess.Popen([sys.executable, "app.py", "--port", str(self.port), "--no-preload", *args],
                                        cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=environment)
        deadline = time.monotonic() + START_LIMIT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            try:
                if httpx.get(self.url + "/", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"app.py did not answer within {START_LIMIT_S} s:\n{self.log_path.read_text()}")

    def uploaded(self, name: str) -> list[Path]:
        return list((self.data / "uploads").rglob(name)) if (self.data / "uploads").is_dir() else []

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture
def start_app(tmp_path):
    started = []

    def start(*args, env=None):
        started.append(App(tmp_path, *args, env=env))
        return started[-1]

    yield start
    for app in started:
        app.stop()


def upload(client: httpx.Client, name: str, size: int) -> httpx.Response:
    return client.post("/gradio_api/upload", files={"files": (name, b"x" * size, "application/octet-stream")},
                       timeout=60)


def test_auth_refuses_requests_without_the_password_and_lets_a_login_in(start_app):
    app = start_app("--auth", "ana:s3cret")
    anonymous = httpx.Client(base_url=app.url, timeout=30)
    # The page itself is the login form; everything behind it is refused.
    assert anonymous.get("/config").status_code == 401
    assert anonymous.get("/gradio_api/info").status_code == 401
    assert upload(anonymous, "anonymous.txt", 10).status_code == 401
    assert app.uploaded("anonymous.txt") == []

    wrong = httpx.Client(base_url=app.url, timeout=30)
    assert wrong.post("/login", data={"username": "ana", "password": "wrong"}).status_code in (400, 401)
    assert wrong.get("/config").status_code == 401

    user = httpx.Client(base_url=app.url, timeout=30)
    assert user.post("/login", data={"username": "ana", "password": "s3cret"}).status_code == 200
    config = user.get("/config")
    assert config.status_code == 200 and config.json()["mode"] == "blocks"
    # With the default limit (200 MB) a 2 MB upload is accepted: the refusal in the next test is the setting's.
    accepted = upload(user, "two-mb.bin", 2 * 1024**2)
    assert accepted.status_code == 200, accepted.text
    assert [Path(p).stat().st_size for p in accepted.json()] == [2 * 1024**2]


def test_the_upload_limit_refuses_a_larger_file_and_accepts_a_smaller_one(start_app):
    app = start_app(env={"PHARMATUNE_MAX_UPLOAD_MB": "1"})
    client = httpx.Client(base_url=app.url, timeout=30)
    refused = upload(client, "two-mb.bin", 2 * 1024**2)
    assert refused.status_code == 413, refused.text
    assert "1048576 bytes" in refused.text  # 1 MB = 1,048,576 bytes
    assert app.uploaded("two-mb.bin") == []

    accepted = upload(client, "half-mb.bin", 512 * 1024)
    assert accepted.status_code == 200, accepted.text
    [path] = accepted.json()
    assert Path(path).read_bytes() == b"x" * (512 * 1024)
    assert [p.resolve() for p in app.uploaded("half-mb.bin")] == [Path(path).resolve()]


def test_a_corrupt_store_is_one_sentence_and_chat_still_works(start_app, tmp_path):
    from gradio_client import Client

    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "pharmatune.sqlite").write_bytes(b"this is not a database" * 100)
    app = start_app()
    log = app.log_path.read_text()
    assert "cannot be used: file is not a database. Chat still works" in log and "Traceback" not in log
    result = Client(app.url, verbose=False).predict("hello there", "dummy:echo", "dummy:echo", False, "", 0, 1, 16, "",
                                                    api_name="/respond")
    assert "You said: hello there" in str(result)
