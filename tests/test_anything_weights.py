"""Depth Anything V2 weights: the reference's key layout, the size read from the tensors, the two file
formats (official .pth, ControlNet's fp16 .safetensors), every broken file refused with a message,
the places searched, and the licence rule (only ViT-S is ever downloaded)."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any, ClassVar

import pytest

from lib_depth.midas.weights import WeightsError
from tests.anything_support import meta_state_dict, random_state_dict, reference_layout, save_pth, save_safetensors
from tests.python_without import WITHOUT_PACKAGE
from tests.test_layers import LIB, heavy_imports, module_name

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def vits_state() -> dict[str, Any]:
    return random_state_dict("vits", seed=0)


def test_the_package_imports_no_torch_at_module_level() -> None:
    for path in sorted((LIB / "anything").glob("*.py")):
        heavy = heavy_imports(path, module_name(path))
        assert not heavy, f"{path.relative_to(LIB)} imports {heavy} at module level"


@pytest.mark.parametrize("encoder", ["vits", "vitb", "vitl"])
def test_our_network_has_the_reference_layout(encoder: str) -> None:
    """Names and shapes equal those recorded from the reference's DepthAnythingV2(**model_configs[enc])."""
    from lib_depth.anything.config import AnythingConfig
    from lib_depth.anything.network import build

    with torch.device("meta"):
        net = build(AnythingConfig.reference(encoder))
    ours = sorted((k, tuple(v.shape)) for k, v in net.state_dict().items())
    assert ours == sorted(reference_layout(encoder))


@pytest.mark.parametrize(("encoder", "width", "blocks", "features", "layers"), [
    ("vits", 384, 12, 64, (2, 5, 8, 11)), ("vitb", 768, 12, 128, (2, 5, 8, 11)),
    ("vitl", 1024, 24, 256, (4, 11, 17, 23))])
def test_the_size_is_read_from_the_tensors(encoder: str, width: int, blocks: int, features: int,
                                           layers: tuple[int, ...]) -> None:
    """Storage-less tensors of each size (ViT-L's 1.3 GB never exists) give its encoder and head widths."""
    from lib_depth.anything.config import AnythingConfig

    cfg = AnythingConfig.from_state_dict(meta_state_dict(encoder))
    assert (cfg.encoder, cfg.embed_dim, cfg.depth, cfg.heads, cfg.features, cfg.layers) == (
        encoder, width, blocks, width // 64, features, layers)
    assert cfg == AnythingConfig.reference(encoder)
    assert cfg.licence == ("Apache-2.0" if encoder == "vits" else "CC-BY-NC-4.0")


def test_a_file_named_large_holding_small_loads_as_small(tmp_path: Path, vits_state: dict[str, Any]) -> None:
    from lib_depth.anything import load_network

    net, cfg = load_network(save_pth(tmp_path / "depth_anything_v2_vitl.pth", vits_state))
    assert cfg.encoder == "vits"
    assert all(torch.equal(net.state_dict()[k], v) for k, v in vits_state.items())


def test_controlnets_fp16_safetensors_loads_as_fp32(tmp_path: Path, vits_state: dict[str, Any]) -> None:
    """ControlNet's/Forge's depth_anything_v2_vitl.safetensors: the same keys in fp16 (this one holds ViT-S)."""
    from lib_depth.anything import load_network

    half = {k: v.half() for k, v in vits_state.items()}
    path = save_safetensors(tmp_path / "annotator" / "downloads" / "depth_anything_v2" /
                            "depth_anything_v2_vitl.safetensors", half)
    net, cfg = load_network(path)
    assert cfg.encoder == "vits"
    params = net.state_dict()
    assert all(params[k].dtype == torch.float32 and torch.equal(params[k], v.float()) for k, v in half.items())


@pytest.mark.parametrize("cut", [0.5, 0.999])
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_a_truncated_file_is_named_as_such(tmp_path: Path, vits_state: dict[str, Any], suffix: str, cut: float) -> None:
    from lib_depth.anything import load_network

    full = tmp_path / f"full{suffix}"
    (save_pth if suffix == ".pth" else save_safetensors)(full, vits_state)
    path = tmp_path / f"depth_anything_v2_vits{suffix}"
    path.write_bytes(full.read_bytes()[: int(full.stat().st_size * cut)])
    with pytest.raises(WeightsError, match="truncated, damaged or not a"):
        load_network(path)


def test_garbage_and_empty_files(tmp_path: Path) -> None:
    from lib_depth.anything import load_network

    (tmp_path / "a.pth").write_bytes(b"not a checkpoint at all" * 100)
    (tmp_path / "b.pth").write_bytes(b"")
    with pytest.raises(WeightsError, match="truncated, damaged"):
        load_network(tmp_path / "a.pth")
    with pytest.raises(WeightsError, match="empty"):
        load_network(tmp_path / "b.pth")


class Payload:
    """Stands for any object a hostile checkpoint carries: unpickling it would run its class's code."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (print, ("this must never run",))


def test_python_objects_are_refused_not_unpickled(tmp_path: Path, vits_state: dict[str, Any],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from lib_depth.anything import load_network

    path = tmp_path / "depth_anything_v2_vits.pth"
    torch.save({**vits_state, "extra": Payload()}, str(path))
    with pytest.raises(WeightsError, match=r"holds Python objects .* never unpickled"):
        load_network(path)
    legacy = tmp_path / "legacy.pth"  # the old (non-zip) format takes another path through torch.load
    buffer = io.BytesIO()
    pickle.dump({"pretrained.cls_token": Payload()}, buffer)
    legacy.write_bytes(buffer.getvalue())
    with pytest.raises(WeightsError):
        load_network(legacy)
    assert "this must never run" not in capsys.readouterr().out


def test_wrong_layouts_say_what_differs(tmp_path: Path, vits_state: dict[str, Any]) -> None:
    from lib_depth.anything import load_network

    missing = dict(vits_state)
    del missing["depth_head.scratch.refinenet4.resConfUnit1.conv1.weight"]
    extra = {**vits_state, "pretrained.register_tokens": torch.zeros(1, 4, 384)}
    reshaped = {**vits_state, "depth_head.projects.0.weight": torch.zeros(40, 384, 1, 1)}
    hf = {"backbone.embeddings.cls_token": torch.zeros(1, 1, 384)}
    cases = [(missing, "1 tensors missing, e.g. depth_head.scratch.refinenet4"),
             (extra, "1 unknown, e.g. pretrained.register_tokens"),
             (reshaped, r"wrong shape, e.g. depth_head.scratch.layer1_rn.weight|of the wrong shape"),
             (hf, "transformers layout")]
    for index, (state, message) in enumerate(cases):
        with pytest.raises(WeightsError, match=message):
            load_network(save_pth(tmp_path / f"case{index}.pth", state))


def test_other_encoders_are_refused_by_their_shape(tmp_path: Path) -> None:
    from lib_depth.anything.config import AnythingConfig, LayoutError

    giant = meta_state_dict("vitl")
    giant["pretrained.cls_token"] = torch.empty(1, 1, 1536, device="meta")
    with pytest.raises(LayoutError, match="1536 wide with 24 blocks"):
        AnythingConfig.from_state_dict(giant)


# --------------------------------------------------------------------------------------------
# where the files are found, their hashes, the download


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, midas_cache: Path) -> dict[str, Path]:
    """Empty own folder, a WebUI-like tree and Hugging Face cache, none of the user's real ones."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr("lib_depth.anything.weights.webui_places", lambda: [])
    return {"own": tmp_path / "own", "controlnet": tmp_path / "sd-webui-controlnet" / "annotator" / "downloads",
            "forge": tmp_path / "models" / "ControlNetPreprocessor", "hf": tmp_path / "hf"}


def pin(monkeypatch: pytest.MonkeyPatch, path: Path) -> str:
    """Make `path`'s hash the published one of its name (a random file cannot have the real one)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    from lib_depth.anything import weights

    monkeypatch.setitem(weights.PUBLISHED_SHA256, path.name, digest)
    return digest


def test_controlnet_and_forge_folders_are_searched(places: dict[str, Path], vits_state: dict[str, Any],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from lib_depth.anything.weights import resolve

    name = "depth_anything_v2_vitl.safetensors"
    for folder in ("controlnet", "forge"):
        path = save_safetensors(places[folder] / "depth_anything_v2" / name, vits_state)
        pin(monkeypatch, path)
        found = resolve(search_dirs=[places[folder]], models_dir=places["own"])
        assert (found.path, found.verified) == (path, True)
        path.unlink()


def test_a_found_file_with_the_wrong_hash_is_refused(places: dict[str, Path], vits_state: dict[str, Any]) -> None:
    """Found by searching under a published name, a file must be that file: corruption loads silently."""
    from lib_depth.anything.weights import resolve

    path = save_pth(places["own"] / "depth_anything_v2_vits.pth", vits_state)
    with pytest.raises(WeightsError, match=r"not 715fade1\.\.\. of the published depth_anything_v2_vits\.pth"):
        resolve(models_dir=places["own"])
    assert resolve(weights=str(path)).verified is False  # named explicitly: trusted, loaded as it is


def test_the_largest_size_found_is_preferred_unless_one_is_asked(places: dict[str, Path], vits_state: dict[str, Any],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from lib_depth.anything import AnythingSettings, find_weights
    from lib_depth.anything.weights import resolve

    small = save_pth(places["own"] / "depth_anything_v2_vits.pth", vits_state)
    large = save_pth(places["own"] / "depth_anything_v2_vitl.pth", vits_state)  # unpinned name: not hashed
    pin(monkeypatch, small)
    assert resolve(models_dir=places["own"]).path == large
    assert resolve(models_dir=places["own"], encoder="vits").path == small
    assert find_weights(AnythingSettings(models_dir=str(places["own"]), encoder="small")) == small
    assert find_weights(AnythingSettings(weights=str(places["own"]), encoder="vits")) == small


def test_the_hugging_face_cache_is_searched(places: dict[str, Path], vits_state: dict[str, Any],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from lib_depth.anything.weights import resolve

    repo = places["hf"] / "models--depth-anything--Depth-Anything-V2-Small"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc")
    path = save_pth(repo / "snapshots" / "abc" / "depth_anything_v2_vits.pth", vits_state)
    pin(monkeypatch, path)
    assert resolve(models_dir=places["own"]).path == path


def forbid_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []

    def refuse(url: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(str(url))
        raise AssertionError("no download expected")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return asked


@pytest.mark.parametrize("encoder", ["vitb", "vitl"])
def test_licence_restricted_sizes_are_never_downloaded(places: dict[str, Path], encoder: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from lib_depth.anything.weights import resolve

    asked = forbid_network(monkeypatch)
    with pytest.raises(WeightsError, match=r"CC-BY-NC-4\.0: never downloaded"):
        resolve(allow_download=True, models_dir=places["own"], encoder=encoder)
    assert asked == []


class FakeResponse(io.BytesIO):
    headers: ClassVar[dict[str, str]] = {}

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()


def test_the_small_download_is_checked_against_its_sha256(places: dict[str, Path],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A download with another hash leaves nothing behind; with the pinned hash it is used, verified."""
    from lib_depth.anything import weights

    body = b"pretend weights" * 1000
    urls: list[str] = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=0: urls.append(url) or FakeResponse(body))
    with pytest.raises(WeightsError, match="not the published 715fade1"):
        weights.resolve(allow_download=True, models_dir=places["own"])
    assert urls == ["https://huggingface.co/depth-anything/Depth-Anything-V2-Small/resolve/main/"
                    "depth_anything_v2_vits.pth"]
    assert os.listdir(places["own"]) == []
    monkeypatch.setattr(weights, "SMALL_SHA256", hashlib.sha256(body).hexdigest())
    monkeypatch.setitem(weights.PUBLISHED_SHA256, weights.SMALL_NAME, weights.SMALL_SHA256)
    found = weights.resolve(allow_download=True, models_dir=places["own"])
    assert (found.path, found.verified) == (places["own"] / "depth_anything_v2_vits.pth", True)
    assert found.path.read_bytes() == body


def test_nothing_found_says_where_it_looked(places: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from lib_depth.anything.weights import resolve

    forbid_network(monkeypatch)
    with pytest.raises(WeightsError) as caught:
        resolve(search_dirs=[places["forge"]], models_dir=places["own"])
    message = str(caught.value)
    assert str(places["forge"]) in message and str(places["own"]) in message and "Apache-2.0" in message
    assert "depth_anything_v2_vitl.safetensors" in message


WITHOUT = WITHOUT_PACKAGE + r"""
from pathlib import Path
import lib_depth.anything as anything
assert "torch" not in sys.modules and "timm" not in sys.modules
settings = anything.AnythingSettings(weights=sys.argv[2], device="cpu")
print(anything.find_weights(settings).name)
try:
    anything.AnythingEstimator.from_pretrained(settings)
except anything.DepthError as exc:
    print(exc)
"""


@pytest.mark.parametrize("package", ["torch", "safetensors"])
def test_a_missing_package_is_named(tmp_path: Path, vits_state: dict[str, Any], package: str) -> None:
    """Importing the package needs neither torch nor safetensors; loading names what is missing."""
    path = save_safetensors(tmp_path / "depth_anything_v2_vitl.safetensors", vits_state)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", WITHOUT, package, str(path)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    name, message = done.stdout.strip().splitlines()
    assert name == path.name
    what = "PyTorch" if package == "torch" else "the Python package safetensors"
    assert f"needs {what}" in message
