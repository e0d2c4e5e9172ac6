"""Shared test set-up. Fixture modules are split by area and re-exported here so that
session-scoped fixtures (the random MiDaS checkpoint, the standalone UI server) exist once per run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lib_depth.depth.exr import write_depth
from lib_depth.depth.sample import synthetic_scene
from tests.fixtures_midas import *  # noqa: F403
from tests.fixtures_ui import *  # noqa: F403
from tests.fixtures_webui import *  # noqa: F403

REPO = Path(__file__).resolve().parents[1]
SAMPLE_EXR = REPO / "examples" / "scene.exr"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def sample_exr() -> Path:
    return SAMPLE_EXR


@pytest.fixture
def scene_exr(tmp_path: Path) -> Path:
    """A fresh copy of a small synthetic render (Daz-style channel Y) in the test's own folder."""
    path = tmp_path / "scene.exr"
    write_depth(path, synthetic_scene(96, 64), channel="Y")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
