"""Run the real app in a child process and drive it with Playwright in Debian's Chromium."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync"]


def pytest_collection_modifyitems(config, items):
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing (make test installs Debian's chromium when run as root)"
        print(f"\nSkipping browser tests: {reason}")
        for item in items:
            if "e2e" in str(item.fspath):
                item.add_marker(pytest.mark.skip(reason=reason))
    for item in items:
        if "e2e" in str(item.fspath):
            item.add_marker(pytest.mark.slow)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningApp:
    def __init__(self, *args: str, env: dict | None = None):
        """`env` adds variables to the app's environment (and so to its jobs'), e.g. a test's gate file."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = open(ROOT / ".cache" / f"e2e-app-{self.port}.log", "w") if (ROOT / ".cache").is_dir() else None
        self.process = subprocess.Popen([sys.executable, "app.py", "--port", str(self.port), *args], cwd=ROOT,
                                        stdout=self.log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                        env={**os.environ, **(env or {})})
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.process.returncode}")
            try:
                if urllib.request.urlopen(self.url, timeout=2).status == 200:
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("app.py did not answer within 90 s")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        if self.log:
            self.log.close()


@pytest.fixture
def start_app():
    started = []

    def start(*args, env=None):
        started.append(RunningApp(*args, env=env))
        return started[-1]

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def gate(tmp_path):
    """A gate file for the app's jobs and models (PHARMATUNE_STEP_GATE, PHARMATUNE_DUMMY_GATE): while it holds N, a
    training run waits after step N and a dummy:gated answer before word N + 1. Removed at the end, so nothing a
    failed test left behind stays held."""
    path = tmp_path / "gate"
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    yield context.new_page()
    context.close()


