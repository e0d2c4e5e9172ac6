"""gradio 3's queue and long tasks: MiDaS on a CPU takes longer than httpx's 5 s default timeout.

gradio 3.41 hands each queued event to itself over HTTP with a bare request; httpx >= 0.25 applies
the client's 5 s default to it, and every longer task ends in an empty "Error" (A1111 pins httpx
0.24.1). The environment must match the WebUI's; the standalone launcher also lifts the timeout.
"""

from __future__ import annotations

import gradio as gr
import httpx
import pytest

from lib_depth.ui.app import build_tab, lift_queue_timeout
from lib_depth.ui.compat import GRADIO_MAJOR, gradio3_queue_read_timeout
from tests.fixtures_ui import free_port

pytestmark = pytest.mark.skipif(GRADIO_MAJOR >= 4, reason="gradio 3's queue only")


def test_environment_lets_gradio3_queue_wait_for_long_tasks() -> None:
    timeout = gradio3_queue_read_timeout()
    assert timeout is None, (
        f"gradio {gr.__version__}'s queue would stop every task after {timeout} s with httpx {httpx.__version__}: "
        "pin httpx==0.24.1 (httpcore<0.18, h11<0.15), as the WebUI does"
    )


def test_standalone_launcher_lifts_the_queue_timeout() -> None:
    blocks = build_tab()
    blocks.queue()
    blocks.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = blocks._queue.queue_client
        if gradio3_queue_read_timeout() is None:
            assert lift_queue_timeout(blocks) is False  # this httpx sets none: nothing to lift
        else:
            assert lift_queue_timeout(blocks) is True
            assert client.timeout.read is None
    finally:
        blocks.close()
