"""Session fixtures for the UI tests: the standalone tab served once on 127.0.0.1, and Debian's
chromium driven by Playwright (never a downloaded browser: `executable_path` points at the system one).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "UiServer", "artifacts_dir", "browser_page", "chromium", "standalone_ui",
           "ui_server"]

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
#: Without the networking switches chromium keeps trying to reach Google on a closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: How long the server may take to import gradio and bind (a cold start on 2 cores is ~10 s).
SERVER_START_LIMIT = 120.0


@dataclass(frozen=True)
class UiServer:
    url: str
    log: Path
    weights: Path  # the MiDaS checkpoint the server runs (random weights, see fixtures_midas); Path() if none


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_serving(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_LIMIT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the standalone UI exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    pytest.fail(f"the standalone UI did not answer on {url}:\n{log.read_text()[-4000:]}")


@contextlib.contextmanager
def standalone_ui(root: Path, *args: str) -> Iterator[UiServer]:
    """`python -m lib_depth.ui <args>` on a free port, as a user would start it, until the block ends;
    its temporary files, caches and log under `root`."""
    log = root / "server.log"
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HOME": str(root / "hf"),
        "DEPTH_TOOLS_CACHE": str(root / "cache"),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "TMPDIR": str(root),
    }
    command = [sys.executable, "-m", "lib_depth.ui", "--port", str(port), *args]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_serving(url, proc, log)
        yield UiServer(url, log, Path(args[args.index("--weights") + 1]) if "--weights" in args else Path())
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory, midas_checkpoint: Path) -> Iterator[UiServer]:
    """The standalone tab for the whole session, with MiDaS on the session's random checkpoint
    (CPU, fp32: the same numbers as in-process)."""
    args = ("--weights", str(midas_checkpoint), "--device", "cpu", "--precision", "fp32")
    with standalone_ui(tmp_path_factory.mktemp("ui_server"), *args) as server:
        yield server


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """One headless chromium for the session (Debian's package, installed by tools/setup.sh browser)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash tools/setup.sh browser`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def browser_page(
    browser: Browser, width: int, height: int, wait_ms: int, **context_options: Any
) -> Iterator[tuple[Any, list[str]]]:
    """A fresh page in its own context, and the page's JavaScript errors as they come (the tests
    assert there are none); the context is closed afterwards."""
    context = browser.new_context(viewport={"width": width, "height": height}, **context_options)
    page = context.new_page()
    page.set_default_timeout(wait_ms)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page, errors
    finally:
        context.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """artifacts/browser/ in the repo (git-ignored): screenshots and downloads to look at after a run."""
    path = REPO / "artifacts" / "browser"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
