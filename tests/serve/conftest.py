"""A real HTTP server for the /v1 API in this process (uvicorn on a free loopback port, in a thread), so tests
talk to it with the real openai client and can still look at the compute thread, the batcher and the queue."""
from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import yaml

RUN_ID = "training-20261121-120000-ab12"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, *, public: bool = False):
        import uvicorn

        from serve import api

        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = self.url + "/v1"
        self._server = uvicorn.Server(uvicorn.Config(api.create_app(public=public), host="127.0.0.1", port=port,
                                                     log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, name="test-api-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test API server did not start")
            time.sleep(0.02)

    def client(self, key: str = "unused", **kwargs):
        import openai

        return openai.OpenAI(base_url=self.base_url, api_key=key, **{"max_retries": 0, "timeout": 120, **kwargs})

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)


@pytest.fixture(scope="module")
def server():
    started = Server()
    yield started
    started.stop()


@pytest.fixture(autouse=True)
def api_env(monkeypatch, tmp_path):
    """Dummy models served, no keys, empty local-models and runs folders, a fresh model listing for each test."""
    from serve import api

    monkeypatch.setenv("PHARMATUNE_API_DUMMY", "1")
    for name in ("PHARMATUNE_API_KEYS", "PHARMATUNE_API_QUEUE", "PHARMATUNE_API_MAX_BATCH", "PHARMATUNE_API_BATCH_MS",
                 "PHARMATUNE_DUMMY_GATE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PHARMATUNE_LOCAL_MODELS", str(tmp_path / "local_models"))
    monkeypatch.setenv("PHARMATUNE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(api, "_listed", (0.0, []))
    yield
    assert api.ADMISSION.inside == 0 or _drains(api.ADMISSION), "a request kept its place in the queue"


def _drains(admission, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while admission.inside and time.monotonic() < deadline:
        time.sleep(0.05)
    return admission.inside == 0


def make_run(runs: Path, weights: Path, run_id: str = RUN_ID) -> str:
    """A finished SFT run whose full weights are `weights` (what the Fine-tune tab leaves behind)."""
    folder = runs / run_id
    shutil.copytree(weights, folder / "model")
    (folder / "config.yaml").write_text(yaml.safe_dump({"task": "sft", "base_model": "builtin:smollm2-135m-instruct"}))
    return f"run:{run_id}"
