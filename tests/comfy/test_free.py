"""`POST /free` (ComfyUI's *Unload models*) really drops our cached MiDaS network: while it is
cached, damaging its weights file changes nothing (the network is not read again); after /free
the next call must load the file again, and so fails on the damaged file, naming it."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

from tests.comfy.server import Comfy, error_of, upload
from tests.comfy.test_model_nodes import midas_graph, picture


def graph(name: str, weights: str, step: int) -> dict:
    """A MiDaS run whose `a` differs per step, so that ComfyUI's output cache cannot answer it
    (the node must run, from our cached network or a fresh load)."""
    made = midas_graph(name, weights=weights, resolution=320)
    made["midas"]["inputs"]["a"] = 6.28 + step * 1e-3
    return made


def test_free_unloads_our_cached_model(comfy: Comfy, midas_checkpoint: Path, tmp_path: Path) -> None:
    weights = f"free-{uuid.uuid4().hex[:6]}.pt"
    placed = comfy.root / "models" / "depth_tools" / weights
    placed.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(midas_checkpoint, placed)
    name = upload(comfy, picture(tmp_path / f"free-{uuid.uuid4().hex[:6]}.png", 96, 64))
    try:
        assert error_of(comfy.run(graph(name, weights, 1))) is None
        # damaged, as a new file in its place (a cached network may be memory-mapped from the old
        # one: truncating that in place would crash the process, as it would any mmap user)
        damaged = placed.with_suffix(".part")
        damaged.write_bytes(placed.read_bytes()[:4096])
        damaged.replace(placed)
        assert error_of(comfy.run(graph(name, weights, 2))) is None  # still cached
        status, _ = comfy.post("/free", {"unload_models": True, "free_memory": True})
        assert status == 200
        time.sleep(2)  # the prompt worker applies /free's flags between prompts
        message = error_of(comfy.run(graph(name, weights, 3)))
    finally:
        placed.unlink()
    assert message is not None and weights in message and "\n" not in message.strip(), message
