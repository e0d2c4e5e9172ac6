"""install.py: quiet when everything is there, installs what is missing without touching torch."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import install
from tests.host_double import HERE as HOST_DOUBLE
from tests.host_double import launch_module

REPO = Path(__file__).resolve().parents[1]

#: A typical A1111 1.10 install on CUDA, without what Depth Tools adds.
A1111 = {
    "torch": "2.1.2+cu121",
    "torchvision": "0.16.2+cu121",
    "numpy": "1.26.2",
    "gradio": "3.41.2",
    "gradio_client": "0.5.0",
    "Pillow": "9.5.0",
    "timm": "0.9.16",
    "transformers": "4.30.2",
    "opencv-python": "4.10.0.84",
    "scikit-image": "0.21.0",
}


class RecordingLaunch:
    """The WebUI's `launch` module, recording each pip command and the constraints it pointed to."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, str, list[str]]] = []
        self.fail = fail

    def run_pip(self, command: str, desc: str | None = None, live: bool = False) -> str:
        path = command.split(" -c ", 1)[1].strip().strip('"')
        self.calls.append((command, desc or "", Path(path).read_text().split()))
        if self.fail:
            raise RuntimeError("Couldn't install OpenEXR.\nCommand: pip install ...\nError code: 1")
        return ""


def versions(**changes: str | None):
    table = {**A1111, **changes}
    return lambda dist: table.get(dist)


def test_quiet_and_no_pip_when_everything_is_installed() -> None:
    launch = RecordingLaunch()
    out = io.StringIO()
    assert install.install(launch, stream=out) == []  # this environment has every requirement
    assert launch.calls == [] and out.getvalue() == ""


def test_runs_as_the_webui_runs_it_and_says_nothing(tmp_path: Path) -> None:
    """`python install.py` with the WebUI root (here: the stand-in `launch`) on PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": str(HOST_DOUBLE)}
    done = subprocess.run(
        [sys.executable, str(REPO / "install.py")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


def test_installs_what_is_missing_with_torch_and_the_webui_pinned() -> None:
    launch = RecordingLaunch()
    out = io.StringIO()
    assert install.install(launch, versions(OpenEXR=None, controlnet_aux=None), stream=out) == []
    [(command, desc, pins)] = launch.calls
    assert command.startswith('install "OpenEXR>=3.3,<4" "controlnet_aux>=0.0.9,<0.1" -c ')
    assert "torch" not in command.split(" -c ")[0].replace("controlnet_aux", "")
    assert "OpenEXR" in desc and "controlnet_aux" in desc
    for pin in (
        "torch==2.1.2+cu121",
        "torchvision==0.16.2+cu121",
        "numpy==1.26.2",
        "gradio==3.41.2",
        "timm==0.9.16",
        "opencv-python==4.10.0.84",
        # controlnet_aux asks for the headless wheel: the same version as the WebUI's opencv
        "opencv-python-headless==4.10.0.84",
        "huggingface_hub<1.0",
    ):
        assert pin in pins
    assert not Path(command.split(" -c ", 1)[1].strip('"')).exists()  # the constraints file is cleaned up


def test_only_the_missing_package_and_outdated_versions() -> None:
    launch = RecordingLaunch()
    install.install(launch, versions(OpenEXR="3.2.4", controlnet_aux="0.0.10"), stream=io.StringIO())
    [(command, _, _)] = launch.calls
    assert '"OpenEXR>=3.3,<4"' in command and "controlnet_aux" not in command


def test_absent_numpy_is_kept_below_2() -> None:
    assert "numpy<2" in install.constraints(versions(numpy=None))
    assert "opencv-python-headless<4.12" in install.constraints(versions(**{"opencv-python": None}))


def test_never_installs_torch_side_packages_without_the_webuis_torch() -> None:
    launch = RecordingLaunch()
    out = io.StringIO()
    failed = install.install(launch, versions(torchvision=None, OpenEXR=None, controlnet_aux=None), stream=out)
    assert [req.dist for req in failed] == ["controlnet_aux"]
    [(command, _, _)] = launch.calls
    assert "controlnet_aux" not in command and "OpenEXR" in command
    assert "never install them" in out.getvalue()


def test_a_pip_failure_is_a_message_not_a_crash() -> None:
    out = io.StringIO()
    failed = install.install(RecordingLaunch(fail=True), versions(OpenEXR=None, controlnet_aux="0.0.10"), stream=out)
    assert [req.dist for req in failed] == ["OpenEXR"]
    text = out.getvalue()
    assert "could not install OpenEXR" in text and "pip install" in text and "Traceback" not in text


def test_stand_in_launch_records_calls() -> None:
    """The host double's `launch` (used by the subprocess test) has A1111's two functions."""
    launch = launch_module()
    assert launch.is_installed("numpy") and not launch.is_installed("surely_not_a_package_name")
    launch.run_pip("install x", "x")
    assert launch.pip_calls == [("install x", "x")]


@pytest.mark.parametrize(
    ("version", "ok"), [("3.5.3", True), ("3.3", True), ("3.2.9", False), ("4.0.0", False), ("3.4.0rc1", True)]
)
def test_version_ranges(version: str, ok: bool) -> None:
    assert install.satisfied(install.REQUIREMENTS[0], version) is ok


def test_runs_as_comfyui_manager_runs_it_without_the_webuis_launch() -> None:
    """ComfyUI-Manager runs `python install.py` with ComfyUI's python and the pack folder as cwd:
    no `launch` module there. With everything installed it must be quiet and succeed (it failed with
    `No module named 'launch'`)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "install.py"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "launch" not in done.stderr and done.stdout == ""


def test_the_comfyui_pip_runner_reports_a_failed_install() -> None:
    """Without `launch`, pip itself runs; a requirement pip cannot find is an error naming pip's reason."""
    with pytest.raises(RuntimeError, match="pip failed"):
        install.PipRunner().run_pip("install --no-index --no-deps --find-links /nonexistent depth-tools-no-such-dist")
