"""One real ComfyUI server for the whole session (starting one takes ~7 s and CI time is short)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.comfy.server import Comfy, skip_reason, start, stop


@pytest.fixture(scope="session")
def comfy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Comfy]:
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    server = start(tmp_path_factory.mktemp("comfyui"))
    yield server
    stop(server)
