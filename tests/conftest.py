"""Shared test set-up. Fixture modules are split by area and re-exported here so that
session-scoped fixtures (the random MiDaS checkpoint, the standalone UI server) exist once per run."""

from __future__ import annotations

from fnmatch import fnmatchcase as fnmatch
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


#: fixtures that make a test slow whatever it does: the 470 MiB random DPT-hybrid network (loaded,
#: or written the first time) and a real chromium
SLOW_FIXTURES = ("midas_checkpoint", "chromium")

#: slow tests that do not name those fixtures (node id patterns), each over ~5 s on a busy machine:
#: fresh Python processes that import torch, timm or gradio, fuzzing, and the network fetched
#: with `request.getfixturevalue`
SLOW_TESTS = (
    "tests/test_fuzz_exr.py::test_fuzz_exr_no_case_crashes_hangs_or_writes_for_a_failed_file",
    "tests/test_midas_loading.py::test_a_broken_controlnet_aux_package_does_not_stop_midas",
    "tests/test_midas_loading.py::test_the_real_package_imports_as_usual_afterwards",
    "tests/test_midas_loading.py::test_a_missing_package_is_named_with_the_command*",
    "tests/test_scripts.py::test_loads_the_way_a1111_loads_it",
    "tests/test_missing_packages.py::test_without_openexr_the_tab_says_what_to_install",
    "tests/test_missing_packages.py::test_without_controlnet_aux_the_exr_tab_works",
    "tests/test_api.py::*standalone*",  # the standalone server loads the network
    "tests/test_outputs_unchanged.py::*midas*",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `slow` what the quick run (`bash tools/test.sh --quick`: `-m "not browser and not slow"`)
    leaves to the full run, in one place, so that a new MiDaS or chromium test is slow by its fixtures."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if any(f in fixtures for f in SLOW_FIXTURES) or any(fnmatch(item.nodeid, p) for p in SLOW_TESTS):
            item.add_marker(pytest.mark.slow)


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
