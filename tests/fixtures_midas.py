"""Session fixtures for the MiDaS tests: one random DPT-hybrid checkpoint per test run.

The published weights cannot be downloaded here, so the real network (controlnet_aux's
DPTDepthModel, 123M parameters) gives the layout and `tests/integer_weights.py` the values: the same
bits on any CPU and with either timm (a seeded torch init is neither), saved the way the real file is;
everything else goes through the real loading path. A random checkpoint
cannot match the published sha256, so code that finds weights by searching refuses it (which the
tests check); tests that need a loaded model name the file explicitly (trusted, not hashed).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integer_weights import dpt_hybrid_spread, integer_state_dict

__all__ = ["midas_cache", "midas_checkpoint", "midas_estimator", "midas_settings"]


@pytest.fixture(scope="session")
def midas_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private state folder (remembered verifications, CPU precision choice) for this run."""
    path = tmp_path_factory.mktemp("midas_cache")
    previous = os.environ.get("DEPTH_TOOLS_CACHE")
    os.environ["DEPTH_TOOLS_CACHE"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("DEPTH_TOOLS_CACHE", None)
    else:
        os.environ["DEPTH_TOOLS_CACHE"] = previous


@pytest.fixture(scope="session")
def midas_checkpoint(tmp_path_factory: pytest.TempPathFactory, midas_cache: Path) -> Path:
    """`<tmp>/dpt_hybrid-midas-501f0c75.pt`: the real network's state dict, random weights (470 MiB).

    `tools/test.sh` runs the suite in three environments with one checkpoint: it names the file in
    DEPTH_TOOLS_TEST_CHECKPOINT; the first run writes it (atomically), the others read it."""
    import torch

    from lib_depth import midas

    shared = os.environ.get("DEPTH_TOOLS_TEST_CHECKPOINT")
    if shared and Path(shared).is_file():
        return Path(shared)
    # the layout only (timm 0.9.5 cannot build this network on the meta device)
    layout = midas.network_class()(path=None, backbone="vitb_rn50_384", non_negative=True).state_dict()
    path = Path(shared) if shared else tmp_path_factory.mktemp("midas_weights") / midas.WEIGHTS_NAME
    partial = path.with_name(path.name + ".partial")
    torch.save(integer_state_dict(layout, spread=dpt_hybrid_spread), partial)
    partial.replace(path)
    return path


@pytest.fixture(scope="session")
def midas_settings(midas_checkpoint: Path) -> object:
    """Settings naming the random checkpoint, on the CPU in fp32 (deterministic, exact comparisons);
    on DEPTH_TOOLS_TEST_DEVICE where that is set (bench/gpu.sh: CUDA)."""
    from lib_depth.midas import MidasSettings
    from tests.devices import DEVICE

    return MidasSettings(weights=str(midas_checkpoint), device=DEVICE, precision="fp32")


@pytest.fixture()
def midas_estimator(midas_settings: object) -> object:
    """The process-wide cached estimator for `midas_settings` (what the CLI and the WebUI share).

    Asked for again in each test: a test that loads Depth Anything frees MiDaS (one model per
    process), and a test run after it must get a loaded MiDaS, not the freed object."""
    from lib_depth.midas import get_estimator

    return get_estimator(midas_settings)
