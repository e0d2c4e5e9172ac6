"""The package installs: a wheel built from pyproject.toml holds every module of lib_depth, and the
`depthmap` command of a fresh virtual environment it is installed into converts the sample.

Offline and in seconds: the wheel is built with the running environment's setuptools (no build
isolation, no index), and the fresh venv reaches the running environment's numpy, OpenEXR and cv2
through a .pth file instead of installing them. The build runs on a copy of the sources, so that
nothing (build/, *.egg-info) is written into the checkout.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from lib_depth.cli import main

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "scene.exr"


def sources() -> set[str]:
    """lib_depth's modules in the checkout, as paths inside a wheel."""
    return {p.relative_to(REPO).as_posix() for p in (REPO / "lib_depth").rglob("*.py") if "__pycache__" not in p.parts}


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """With no PYTHONPATH: what runs must come from where it was installed, not from the checkout."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("packaging")
    src = tmp / "src"
    shutil.copytree(REPO / "lib_depth", src / "lib_depth", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", src)
    proc = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
               "--wheel-dir", tmp / "dist", src, cwd=tmp)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (built,) = (tmp / "dist").glob("depth_tools-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path) -> Path:
    """A fresh venv with the wheel installed (by pip, which writes the `depthmap` script); returns its bin/."""
    env_dir = wheel.parent.parent / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(env_dir)
    python = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=env_dir)
    (Path(purelib.stdout.strip()) / "running_env.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    proc = run(python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel, cwd=env_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return python.parent


def test_the_wheel_holds_every_module(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sources() - names
    assert not missing, f"modules left out of the wheel: {sorted(missing)}"
    entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "depthmap = lib_depth.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_installed_depthmap_converts_the_sample_like_the_checkout(installed: Path, tmp_path: Path) -> None:
    where = run(installed / "python", "-c", "import lib_depth; print(lib_depth.__file__)", cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(installed.parent), where.stdout + where.stderr
    usage = run(installed / "depthmap", "--help", cwd=tmp_path)
    assert usage.returncode == 0 and "--sequence" in usage.stdout, usage.stderr
    proc = run(installed / "depthmap", SAMPLE, "--mask", "-o", tmp_path / "installed", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert main([str(SAMPLE), "--mask", "-o", str(tmp_path / "checkout")]) == 0
    for name in ("scene.depth.png", "scene.mask.png"):
        assert (tmp_path / "installed" / name).read_bytes() == (tmp_path / "checkout" / name).read_bytes()
