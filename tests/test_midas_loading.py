"""MiDaS loads in the environments real WebUIs have (tools/test.sh runs this file in each of them).

A1111 + ControlNet pins timm 0.9.5, whose ResNetV2 reads a tensor's values while it is built; Forge
installs mediapipe 1.x, which breaks `import controlnet_aux` with an AttributeError. Loading the
DPT-hybrid needs neither controlnet_aux's package `__init__` nor the plain (slow) build.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lib_depth.depth.dependencies import INSTALL_SPECS, MissingDependency
from lib_depth.depth.errors import DepthError, internal_error
from lib_depth.midas import device, network, weights
from lib_depth.network_base import device as base_device  # where the probe runs: patched there
from tests.python_without import WITHOUT_PACKAGE

REPO = Path(__file__).resolve().parents[1]


def run_python(code: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def test_loads_on_the_meta_device_with_this_timm(midas_checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast load (no random initialisation) works on this environment's timm, 0.9.5 included."""
    monkeypatch.setattr(network, "_meta_fails", False)
    net = network.load_network(midas_checkpoint)
    import timm  # after the load: it imports torchvision, which network_class makes importable
    assert network._meta_fails is False, f"timm {timm.__version__} fell back to the plain build"
    assert not any(t.is_meta for t in (*net.parameters(), *net.buffers()))


def test_meta_and_plain_builds_give_the_same_network(midas_checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(network, "_meta_fails", False)
    fast = network.load_network(midas_checkpoint)
    monkeypatch.setattr(network, "_meta_fails", True)  # as after a failed meta build: the plain way
    plain = network.load_network(midas_checkpoint)
    x = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        assert torch.equal(fast(x), plain(x))


def test_a_network_that_cannot_be_built_on_meta_falls_back_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A timm that computes with tensors while building: plain build, remembered (never both again)."""
    import torch

    attempts = []

    class ReadsValues(torch.nn.Module):
        def __init__(self, **kwargs: object) -> None:
            super().__init__()
            attempts.append(torch.empty(2).device.type)
            torch.empty(2).tolist()  # what no meta tensor can do
            self.conv = torch.nn.Conv2d(3, 1, 1)

    monkeypatch.setattr(network, "_meta_fails", False)
    net, on_meta = network._build(ReadsValues)
    assert (on_meta, network._meta_fails, attempts) == (False, True, ["meta", "cpu"])
    network._build(ReadsValues)
    assert attempts == ["meta", "cpu", "cpu"]  # the next load does not try meta again
    assert net.conv.weight.device.type == "cpu"


BROKEN_CONTROLNET_AUX = r"""
import json, shutil, sys, warnings
from pathlib import Path
warnings.simplefilter("ignore")
import importlib.util
real = Path(importlib.util.find_spec("controlnet_aux").submodule_search_locations[0])
fake = Path(sys.argv[1]) / "controlnet_aux"
(fake / "midas").mkdir(parents=True)
# Forge's mediapipe 1.x: the package __init__ fails with an AttributeError, not an ImportError
(fake / "__init__.py").write_text(
    "raise AttributeError(\"module 'mediapipe' has no attribute 'solutions'\")\n")
(fake / "midas" / "__init__.py").write_text("raise ImportError('huggingface_hub is broken')\n")
shutil.copytree(real / "midas" / "midas", fake / "midas" / "midas")
sys.path.insert(0, sys.argv[1])
from lib_depth.midas import network
dpt = network.network_class()
report = {"module": dpt.__module__, "controlnet_aux_imported": "controlnet_aux" in sys.modules}
try:
    import controlnet_aux  # the host's own import fails as it did before, not because of us
except Exception as exc:
    report["real_import"] = type(exc).__name__
print(json.dumps(report))
"""


def test_a_broken_controlnet_aux_package_does_not_stop_midas(tmp_path: Path) -> None:
    done = run_python(BROKEN_CONTROLNET_AUX, str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"module": "_depth_tools_dpt.dpt_depth", "controlnet_aux_imported": False,
                      "real_import": "AttributeError"}


AFTER_REAL_IMPORT = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from lib_depth.midas import network
ours = network.network_class()
ok = None
try:
    import controlnet_aux.midas.midas.dpt_depth as real
    ok = real.DPTDepthModel is not None and "controlnet_aux" in sys.modules
except AttributeError as exc:  # Forge's mediapipe 1.x: controlnet_aux itself cannot be imported
    ok = "solutions" in str(exc)
print(json.dumps({"ours": ours.__module__, "later_real_import_as_without_us": ok}))
"""


def test_the_real_package_imports_as_usual_afterwards() -> None:
    """Another extension importing controlnet_aux after us gets its real package (or its own error)."""
    done = run_python(AFTER_REAL_IMPORT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "ours": "_depth_tools_dpt.dpt_depth", "later_real_import_as_without_us": True}


NO_PACKAGE = WITHOUT_PACKAGE + r"""
from lib_depth.midas import network
from lib_depth.depth.dependencies import MissingDependency
try:
    network.network_class()
except MissingDependency as exc:
    print(exc)
"""


@pytest.mark.parametrize("package", ["controlnet_aux", "timm"])
def test_a_missing_package_is_named_with_the_command(package: str) -> None:
    done = run_python(NO_PACKAGE, package)
    assert done.returncode == 0, done.stderr[-2000:]
    message = done.stdout.strip()
    assert message.startswith(f"MiDaS depth estimation needs the Python package {package}, which is not installed")
    assert f'-m pip install "{INSTALL_SPECS[package]}"' in message and sys.executable in message


def test_install_specs_are_the_installers() -> None:
    import install  # the repository root is on sys.path in the tests (tests/test_install.py)

    for req in install.REQUIREMENTS:
        assert INSTALL_SPECS[req.dist] == req.spec


def test_an_internal_error_is_one_line_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    try:
        raise NotImplementedError("Cannot copy out of meta tensor; no data!")
    except NotImplementedError as exc:
        with caplog.at_level(logging.ERROR, logger="lib_depth"):
            error = internal_error(exc, "photo.png")
            again = internal_error(error)  # an outer layer does not log it a second time
    assert str(error) == "photo.png: internal error in Depth Tools: NotImplementedError: Cannot copy out of meta " \
                         "tensor; no data!"
    assert again is error
    assert len(caplog.records) == 1 and caplog.records[0].exc_info is not None


# ---------------------------------------------------------------- precision on this user's CPU


def test_cpu_flags_tell_native_bf16() -> None:
    assert device.cpu_bf16_support("flags\t\t: fpu sse avx2 avx512f avx512_bf16\n") is True
    assert device.cpu_bf16_support("flags\t\t: fpu sse avx2 amx_tile amx_bf16\n") is True
    assert device.cpu_bf16_support("flags\t\t: fpu sse avx2 fma\n") is False  # AVX2 only
    assert device.cpu_bf16_support("Features\t: fp asimd bf16 sve\n") is True  # ARM
    assert device.cpu_bf16_support("processor : 0\n") is None  # no flags line: only a probe can tell


class TimedNet:
    """Stands in for the network in the precision probe: bf16 autocast costs `bf16_cost` x fp32, on
    a clock of its own (`perf_counter`), so a loaded machine cannot change the outcome; under bf16
    a band of columns comes out `bf16_shift` 8-bit levels higher (the extremes stay put)."""

    def __init__(self, bf16_cost: float, bf16_shift: float = 0.0) -> None:
        self.bf16_cost, self.bf16_shift, self.calls, self.now = bf16_cost, bf16_shift, [], 0.0

    def perf_counter(self) -> float:
        return self.now

    def __call__(self, x):
        import torch

        bf16 = torch.is_autocast_cpu_enabled()
        self.calls.append("bf16" if bf16 else "fp32")
        self.now += 0.1 * (self.bf16_cost if bf16 else 1.0)
        width = x.shape[3]
        out = torch.ones(x.shape[0], x.shape[2], width) * torch.arange(width, dtype=torch.float32)
        if bf16:
            out[..., 5:16] += self.bf16_shift * (width - 1) / 255
        return out


@pytest.mark.parametrize(("flags", "bf16_cost", "bf16_shift", "expected"), [
    (False, 0.5, 0, "fp32"),   # no native bf16: fp32 without measuring, however the probe would come out
    (True, 0.5, 0, "bf16"),    # native bf16, measured 2x faster, the same map: bf16
    (True, 20.0, 0, "fp32"),   # flags say yes but the probe measures it 20x slower: fp32
    (True, 0.78, 0, "fp32"),   # 1.28x faster: not worth it
    (True, 0.5, 3, "fp32"),    # 2x faster, but 3 levels off in places: fp32
    (None, 0.5, 0, "bf16"),    # flags unknown (not Linux): the probe decides
])
def test_auto_precision_on_the_cpu(flags: bool | None, bf16_cost: float, bf16_shift: float, expected: str,
                                   midas_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base_device, "cpu_bf16_support", lambda: flags)
    net = TimedNet(bf16_cost, bf16_shift)
    monkeypatch.setattr(base_device, "time", net)  # the probe's clock
    assert device.measure_cpu_precision(net, f"test-{flags}-{bf16_cost}-{bf16_shift}") == expected
    assert ("bf16" in net.calls) is (flags is not False)  # never probed where the CPU has no bf16


def probe(fp32: float, bf16: float, max_levels: int, mean_levels: float = 0.0) -> device.PrecisionProbe:
    return device.PrecisionProbe(fp32_seconds=fp32, bf16_seconds=bf16, max_levels=max_levels,
                                 mean_levels=mean_levels)


@pytest.mark.parametrize(("measured", "expected"), [
    (probe(12.2, 11.3, 6, 0.92), "fp32"),  # Depth Anything ViT-S in a real Forge on an AMX CPU (issue 22)
    (probe(7.5, 4.2, 1, 0.3), "bf16"),     # 1.8x faster and within one level everywhere
    (probe(7.5, 4.2, 2, 0.3), "fp32"),     # as fast, but two levels off somewhere
    (probe(1.29, 1.0, 0), "fp32"),         # just under 1.3x
    (probe(1.3, 1.0, 0), "bf16"),          # 1.3x
    (probe(1.0, 20.0, 0), "fp32"),         # a CPU emulating bf16
    (probe(1.0, 0.0, 0), "fp32"),          # a timer that saw nothing decides nothing
])
def test_the_choice_from_the_measurements(measured: device.PrecisionProbe, expected: str) -> None:
    assert device.choose_cpu_precision(measured) == expected


def test_a_choice_remembered_by_an_older_release_is_measured_again(midas_cache: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Releases before the probe version stored a bare "bf16" under the same key: not reused."""
    monkeypatch.setattr(base_device, "cpu_bf16_support", lambda: True)
    net = TimedNet(bf16_cost=0.92)  # 1.09x: the old rule's "bf16" would no longer be chosen
    monkeypatch.setattr(base_device, "time", net)
    key = device.precision_state_key("test-old-choice")
    weights.update_state("cpu_precision", key, "bf16")
    assert device.measure_cpu_precision(net, "test-old-choice") == "fp32"
    assert "bf16" in net.calls  # measured
    record = weights.read_state()["cpu_precision"][key]
    assert record["probe"] == device.PROBE_VERSION and record["max_levels"] == 0
    calls = len(net.calls)
    assert device.measure_cpu_precision(net, "test-old-choice") == "fp32"
    assert len(net.calls) == calls  # the new record is reused: measured once


def test_missing_dependency_is_a_depth_error() -> None:
    error = MissingDependency("OpenEXR", "reading EXR files")
    assert isinstance(error, DepthError)  # the CLI and the tab print it as their one line
    assert str(error) == (f'reading EXR files needs the Python package OpenEXR, which is not installed; install it '
                          f'with: "{sys.executable}" -m pip install "OpenEXR>=3.3,<4"')
