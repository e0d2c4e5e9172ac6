"""Installer hook of the WebUI (A1111 1.10, Forge, reForge) and of ComfyUI-Manager: installs what Depth
Tools needs and the host lacks.

ComfyUI-Manager (and `comfy node install`) pip-installs requirements.txt, then runs this file with
ComfyUI's python and the pack folder as cwd: there is no WebUI `launch` module there, so pip is run
directly (`PipRunner`), with the same constraints.

The WebUI runs this file in a subprocess at every start-up and after "Install from URL", with its
own root on PYTHONPATH (`import launch` works). It must be quiet and fast when everything is
present, and must never disturb the WebUI's own packages: torch and torchvision are never
installed or upgraded (every installed torch-side package is pinned to its current version in a
pip constraints file), numpy stays below 2 (gradio 3.41.2 needs it), gradio is left alone.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Requirement:
    """A package Depth Tools imports, with the version range it was tested with."""

    dist: str
    minimum: str
    below: str
    why: str
    needs_torch: bool = False

    @property
    def spec(self) -> str:
        return f"{self.dist}>={self.minimum},<{self.below}"


REQUIREMENTS: tuple[Requirement, ...] = (
    # OpenEXR 3.3 introduced the `OpenEXR.File` API that lib_depth.exr uses.
    Requirement("OpenEXR", "3.3", "4", "reading EXR depth passes"),
    # controlnet_aux brings MiDaS DPT-hybrid (and timm, einops, scikit-image); 0.0.10 is the tested one.
    Requirement("controlnet_aux", "0.0.9", "0.1", "MiDaS depth estimation", needs_torch=True),
)

#: Packages the WebUI already has and which must keep their exact version while we install.
PINNED_IF_INSTALLED = (
    "torch",
    "torchvision",
    "torchaudio",
    "xformers",
    "numpy",
    "gradio",
    "gradio_client",
    "Pillow",
    "timm",
    "transformers",
    "huggingface_hub",
    "safetensors",
    "opencv-python",
    "opencv-python-headless",
    "opencv-contrib-python",
    "opencv-contrib-python-headless",
    "fastapi",
    "pydantic",
    "scipy",
    "scikit-image",
)
#: Bounds for packages that are absent (pip might otherwise pick versions the WebUI cannot run with).
BOUNDS_IF_ABSENT = {
    "numpy": "numpy<2",  # gradio 3.41.2 (A1111 1.10, reForge) is built against numpy 1
    "opencv-python-headless": "opencv-python-headless<4.12",  # 4.12 requires numpy 2
    "huggingface_hub": "huggingface_hub<1.0",  # gradio 4.40 (Forge) needs < 1.0
}

VersionOf = Callable[[str], "str | None"]


def installed_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def version_key(version: str) -> tuple[int, ...]:
    """Numeric release part of a version ("2.1.2+cu121" -> (2, 1, 2)); enough for our ranges."""
    match = re.match(r"\d+(?:\.\d+)*", version.strip())
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def satisfied(req: Requirement, version: str | None) -> bool:
    if version is None:
        return False
    key = version_key(version)
    return version_key(req.minimum) <= key < version_key(req.below)


def missing(version_of: VersionOf = installed_version) -> list[Requirement]:
    return [req for req in REQUIREMENTS if not satisfied(req, version_of(req.dist))]


def constraints(version_of: VersionOf = installed_version) -> list[str]:
    """pip constraints: installed protected packages pinned exactly, absent ones bounded."""
    lines = []
    for dist in PINNED_IF_INSTALLED:
        version = version_of(dist)
        if version is not None:
            lines.append(f"{dist}=={version}")
        elif dist in BOUNDS_IF_ABSENT:
            lines.append(BOUNDS_IF_ABSENT[dist])
    # A WebUI with opencv-python but not the headless wheel (which controlnet_aux asks for): same version.
    if version_of("opencv-python-headless") is None and version_of("opencv-python") is not None:
        lines = [line for line in lines if not line.startswith("opencv-python-headless")]
        lines.append(f"opencv-python-headless=={version_of('opencv-python')}")
    return lines


def install(launch: ModuleType, version_of: VersionOf = installed_version, stream=sys.stdout) -> list[Requirement]:
    """Install what is missing through `launch.run_pip`; return what could not be installed."""
    todo = missing(version_of)
    if not todo:
        return []
    has_torch = version_of("torch") is not None and version_of("torchvision") is not None
    skipped = [req for req in todo if req.needs_torch and not has_torch]
    for req in skipped:
        print(
            f"Depth Tools: not installing {req.dist} ({req.why}): it needs the WebUI's torch and torchvision, "
            "which are missing from this Python; Depth Tools will never install them itself.",
            file=stream,
        )
    todo = [req for req in todo if req not in skipped]
    if not todo:
        return skipped
    fd, path = tempfile.mkstemp(prefix="depth-tools-constraints-", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="utf8") as fh:
            fh.write("\n".join(constraints(version_of)) + "\n")
        specs = " ".join(f'"{req.spec}"' for req in todo)
        names = ", ".join(req.dist for req in todo)
        try:
            launch.run_pip(f'install {specs} -c "{path}"', f"Depth Tools requirements: {names}")
        except Exception as exc:  # A1111 raises RuntimeError with pip's output; Forge prints and returns None
            print(
                f"Depth Tools: could not install {names} ({str(exc).strip().splitlines()[0] if str(exc) else exc}).\n"
                f"Install by hand with the WebUI's Python: {sys.executable} -m pip install {specs}",
                file=stream,
            )
            return skipped + todo
    finally:
        os.unlink(path)
    return skipped


class PipRunner:
    """`launch.run_pip` for a host without the WebUI's `launch` (ComfyUI): pip of this python."""

    def run_pip(self, command: str, desc: str | None = None) -> str:
        if desc:
            print(f"Installing {desc}", flush=True)
        done = subprocess.run([sys.executable, "-m", "pip", *shlex.split(command), "--disable-pip-version-check"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"pip failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-2000:]}")
        return done.stdout


def main() -> None:
    try:
        import launch  # the WebUI's, on PYTHONPATH when it runs this file
    except ModuleNotFoundError:  # ComfyUI-Manager, comfy-cli: ComfyUI's own python
        install(PipRunner())
        return
    install(launch)


if __name__ == "__main__":
    main()
