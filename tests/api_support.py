"""Helpers for the HTTP API tests: serving an app on 127.0.0.1, raw requests, the docs' client."""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from tests.fixtures_ui import free_port

REPO = Path(__file__).resolve().parents[1]


def docs_client() -> ModuleType:
    """docs/api_client.py, the example users paste: the tests talk to the servers through it."""
    spec = importlib.util.spec_from_file_location("depth_tools_api_client", REPO / "docs" / "api_client.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """`app` under uvicorn in a thread on a free port; yields its base URL."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def request(url: str, body: bytes | Iterable[bytes] | None = None, headers: dict[str, str] | None = None,
            method: str = "POST", send_body: bool = True) -> tuple[int, dict]:
    """A raw request (any headers, a chunked body from an iterable, or none sent at all): (status, JSON)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    try:
        if send_body:
            chunked = body is not None and not isinstance(body, bytes)
            conn.request(method, parts.path, body=body, headers=headers or {}, encode_chunked=chunked)
        else:  # headers only (a Content-Length the body never follows): the server must answer anyway
            conn.putrequest(method, parts.path)
            for key, value in (headers or {}).items():
                conn.putheader(key, value)
            conn.endheaders()
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def post_json(url: str, doc: dict) -> tuple[int, dict]:
    return request(url, json.dumps(doc).encode(), {"Content-Type": "application/json"})
