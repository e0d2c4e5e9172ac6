"""The few places where gradio 3.41 (A1111, reForge) and 4.40 (Forge) disagree, handled once.

docs/hosts.md lists the differences; everything else in the tab is written against the API both
versions share (constructor sizes, `gr.update`, no `.style()`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import gradio as gr

GRADIO_MAJOR = int(gr.__version__.split(".")[0])


def image(**kwargs: Any) -> gr.Image:
    """`gr.Image`, sent to the browser as PNG on 4.x too (its default, WebP, would blur depth levels)."""
    if GRADIO_MAJOR >= 4:
        kwargs.setdefault("format", "png")
    return gr.Image(**kwargs)


def file_path(value: Any) -> str:
    """An uploaded file's path: 3.x hands a tempfile wrapper with `.name`, 4.x a str (or FileData)."""
    path = getattr(value, "path", None) or getattr(value, "name", None) or value
    return os.fspath(path)


def file_paths(value: Any) -> list[str]:
    """Paths of a `gr.File` value: None, one file, or a list of them."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [file_path(v) for v in value if v is not None]
    return [file_path(value)]


def js_kwargs(code: str) -> dict[str, str]:
    """Event keyword for client-side JavaScript: `_js=` on 3.x, `js=` on 4.x."""
    return {"js": code} if GRADIO_MAJOR >= 4 else {"_js": code}


def commit_events(number: gr.Number) -> list[Callable[..., Any]]:
    """Listeners for "the user has entered a value" in a number box, without one event per keystroke
    (typing 254.5 would flash an error for 2, and finish out of order on a parallel queue).

    gradio 3: Enter or leaving the box (`blur`; `input` does not even fire when the box is emptied).
    gradio 4: its Number has no `blur`, so Enter, and `input` with only the last of a burst kept.
    """
    if GRADIO_MAJOR >= 4:
        return [number.submit, partial(number.input, trigger_mode="always_last")]
    return [number.submit, number.blur]


def sequential(group: str) -> dict[str, Any]:
    """Event keywords that run a tab's events one at a time, in order (gradio 4 runs different
    listeners concurrently; gradio 3's queue is already sequential standalone)."""
    return {"concurrency_id": group, "concurrency_limit": 1} if GRADIO_MAJOR >= 4 else {}


def quick() -> dict[str, Any]:
    """Event keywords for an event that answers in milliseconds (a cut, a checkbox: the preview):
    off the queue, one plain HTTP request.

    Measured in a real A1111 1.10.1 and Forge in chromium (bench/bench_tab_latency.py), the queue's
    round trip is most of a cut click's time (gradio 3: a new websocket per event, a 50 ms poll, then
    a second HTTP request to itself); the handler itself takes ~20 ms. Long work (Make, MiDaS,
    sequences) stays on the queue: its progress bar and Interrupt need it. Off the queue, `sequential`
    does not apply: such an event may run beside a queued one, so give it only handlers that read state.
    """
    return {"queue": False, "show_progress": "hidden"}


def gradio3_queue_read_timeout() -> float | None:
    """The read timeout gradio 3's queue puts on its own call to the event handler (None: none).

    gradio 3.41 sends each queued event to itself with a bare `httpx.Request`; httpx >= 0.25 gives
    such requests the client's 5 s default, so every task longer than 5 s fails with an empty
    "Error" (A1111 pins httpx 0.24.1). Probed through gradio's own request class, on a mock
    transport: nothing leaves the process.
    """
    if GRADIO_MAJOR >= 4:
        return None
    import asyncio

    import httpx
    from gradio.utils import AsyncRequest

    seen: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["timeout"] = request.extensions.get("timeout") or {}
        return httpx.Response(200, json={})

    async def probe() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            await AsyncRequest(method=AsyncRequest.Method.POST, url="http://127.0.0.1/api/predict", json={},
                               client=client)

    # a thread of its own: the caller may already be inside an event loop (a server, Playwright)
    worker = threading.Thread(target=lambda: asyncio.run(probe()), daemon=True)
    worker.start()
    worker.join()
    return seen.get("timeout", {}).get("read")
