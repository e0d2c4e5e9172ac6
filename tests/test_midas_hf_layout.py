"""The MiDaS DPT-hybrid in Hugging Face's layout (Intel/dpt-hybrid-midas: config.json +
model.safetensors or pytorch_model.bin) loads into our network and computes what transformers'
`DPTForDepthEstimation` computes on the same file.

The proof builds transformers' model with the published hybrid config (`PUBLISHED`), fills it with
machine-independent random values (tests/integer_weights.py: transformers' own init gives only the
layout), saves it with `save_pretrained` and loads that folder through our code. The network must be
full size: our DPT-hybrid (controlnet_aux's) has one fixed layout. Needs transformers with the
hybrid DPT (forge: 4.46.1, webui: 4.30.2); the file-level checks below it run everywhere.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lib_depth.midas import hf_layout
from lib_depth.midas.network import _ensure_torchvision, load_network
from lib_depth.midas.weights import WeightsError, resolve, searched_description
from tests.integer_weights import integer_state_dict
from tests.midas_hf_support import PUBLISHED, to_hf_layout

torch = pytest.importorskip("torch")

TOLERANCE = 1e-4  # of the output's range

def transformers_dpt() -> Any:
    _ensure_torchvision()  # transformers imports torchvision: the CPU torch beside a CUDA torchvision here
    transformers = pytest.importorskip("transformers", reason="transformers is not installed in this environment "
                                       "(the forge one has 4.46.1, the webui one 4.30.2)")
    import inspect

    if "is_hybrid" not in inspect.signature(transformers.DPTConfig).parameters:
        pytest.skip(f"transformers {transformers.__version__} has no DPT-hybrid (added in 4.26)")
    return transformers


@pytest.fixture(scope="module")
def hf_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """(transformers' DPT-hybrid with integer random values, the folder save_pretrained wrote)."""
    transformers = transformers_dpt()
    config = transformers.DPTConfig(**{k: v for k, v in PUBLISHED.items() if k not in ("architectures", "model_type")})
    with torch.device("meta"):  # the layout only; the values come from the names
        model = transformers.DPTForDepthEstimation(config)
    model.load_state_dict(integer_state_dict(model.state_dict()), assign=True)
    model.eval()
    folder = tmp_path_factory.mktemp("dpt-hybrid-midas")
    model.save_pretrained(folder, safe_serialization=True)  # the default since 4.35 (4.30: pytorch_model.bin)
    return model, folder


@pytest.fixture(scope="module")
def our_net(hf_model: tuple[Any, Path]) -> Any:
    """Our network, loaded from the model.safetensors transformers wrote."""
    return load_network(hf_model[1] / "model.safetensors")


@pytest.fixture(scope="module")
def predicted(hf_model: tuple[Any, Path]) -> Any:
    """transformers' `predicted_depth` for `picture(384, 384)` (1x384x384)."""
    with torch.no_grad():
        return hf_model[0](pixel_values=as_input(picture(384, 384))).predicted_depth


def as_input(rgb: np.ndarray) -> Any:
    """uint8 HxWx3 -> 1x3xHxW in [-1, 1], as our estimator (and DPTImageProcessor's 0.5/0.5) normalises."""
    return torch.from_numpy(rgb.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None].contiguous()


def relative_difference(ours: Any, theirs: Any) -> float:
    theirs = torch.as_tensor(theirs, dtype=torch.float32)
    spread = float(theirs.max() - theirs.min())
    assert spread > 0, "transformers' map is flat: the comparison would prove nothing"
    return float((torch.as_tensor(ours) - theirs).abs().max()) / spread


def picture(height: int, width: int) -> np.ndarray:
    """A photo-like uint8 RGB: smooth shapes and some noise (the same on any machine)."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    noise = np.random.default_rng(7).integers(0, 40, (height, width, 3))
    base = np.stack([200 * x + 30, 150 * (1 - y) + 50, 120 * ((x - 0.5) ** 2 + (y - 0.4) ** 2 < 0.05) + 60], -1)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# the proof: our network = transformers' on the same file


@pytest.mark.slow
def test_our_network_computes_what_transformers_computes(predicted: Any, our_net: Any) -> None:
    theirs = predicted
    with torch.no_grad():
        ours = our_net(as_input(picture(384, 384)))
    assert ours.shape == theirs.shape == (1, 384, 384)
    difference = relative_difference(ours, theirs)
    print(f"max |ours - transformers| / range at 384x384: {difference:.2e}")
    assert difference < TOLERANCE


@pytest.mark.slow
def test_the_same_at_another_size(hf_model: tuple[Any, Path], our_net: Any) -> None:
    """Our estimator feeds other sizes than 384, the position embeddings resized (bilinear, on both
    sides). transformers' hybrid refuses any size but its config's (a check in
    DPTViTHybridEmbeddings.forward; its neck also takes the tokens for a square grid, so only square
    inputs compare): its `image_size` is set to the input's here, nothing else."""
    model, _ = hf_model
    x = as_input(picture(320, 320))
    model.dpt.embeddings.image_size = (320, 320)
    try:
        with torch.no_grad():
            theirs = model(pixel_values=x).predicted_depth
    finally:
        model.dpt.embeddings.image_size = (384, 384)
    with torch.no_grad():
        ours = our_net(x)
    difference = relative_difference(ours, theirs)
    print(f"max |ours - transformers| / range at 320x320: {difference:.2e}")
    assert difference < TOLERANCE


@pytest.mark.slow
def test_the_estimator_maps_a_picture_from_the_folder(hf_model: tuple[Any, Path], predicted: Any) -> None:
    """Picture in, map out, with the folder named as `--weights` names it: at 384 x 384 and
    resolution 384 our estimator neither resizes nor pads, so its map is transformers' prediction."""
    from lib_depth.midas import MidasEstimator, MidasSettings

    folder = hf_model[1]
    estimator = MidasEstimator.from_pretrained(MidasSettings(weights=str(folder), device="cpu", precision="fp32"))
    assert estimator.weights == folder / "model.safetensors"
    nearness = estimator(picture(384, 384), 384)
    assert nearness.shape == (384, 384) and nearness.dtype == np.float32
    assert relative_difference(torch.from_numpy(nearness), predicted[0]) < TOLERANCE
    wide = estimator(picture(120, 200), 256)
    assert wide.shape == (120, 200) and np.isfinite(wide).all() and float(wide.std()) > 0


@pytest.mark.slow
def test_pytorch_model_bin_gives_the_same_tensors(hf_model: tuple[Any, Path], tmp_path: Path) -> None:
    """The older file of the same repository, read with the tensors-only loader."""
    model, folder = hf_model
    shutil.copyfile(folder / "config.json", tmp_path / "config.json")
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    assert hf_layout.folder_weights(tmp_path) == tmp_path / "pytorch_model.bin"
    from_bin, from_safetensors = hf_layout.read_state_dict(tmp_path), hf_layout.read_state_dict(folder)
    assert list(from_bin) == list(from_safetensors) == list(hf_layout.midas_shapes())
    assert all(torch.equal(from_bin[k], from_safetensors[k]) for k in from_bin)


@pytest.mark.slow
def test_transformers_writes_the_config_checked_here(hf_model: tuple[Any, Path]) -> None:
    """What save_pretrained writes carries the published values the loader checks."""
    _, folder = hf_model
    written = json.loads((folder / "config.json").read_text())
    for key, value in PUBLISHED.items():
        if key != "backbone_config":
            assert written[key] == value, key
    for key, value in PUBLISHED["backbone_config"].items():
        assert str(written["backbone_config"][key]).lower() == str(value).lower(), key
    hf_layout.check_config(folder / "config.json")


@pytest.mark.slow
def test_the_numpy_reader_reads_what_safetensors_reads(hf_model: tuple[Any, Path], monkeypatch) -> None:
    """Without the safetensors package the file is read with numpy alone, to the same tensors."""
    from safetensors.torch import load_file

    _, folder = hf_model
    reference = load_file(str(folder / "model.safetensors"))
    monkeypatch.setitem(__import__("sys").modules, "safetensors.torch", None)  # import fails: not installed
    read = hf_layout.read_tensors(folder / "model.safetensors")
    assert list(read) == list(reference)
    assert all(torch.equal(read[k], reference[k]) for k in reference)


# --------------------------------------------------------------------------------------------
# found where users keep it


@pytest.mark.slow
def test_found_in_the_hugging_face_cache(hf_model: tuple[Any, Path], tmp_path: Path, monkeypatch) -> None:
    """`models--Intel--dpt-hybrid-midas/snapshots/<rev>/`, files linked as huggingface_hub links them."""
    _, folder = hf_model
    repo = tmp_path / "hub" / "models--Intel--dpt-hybrid-midas"
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (snapshot / name).symlink_to(folder / name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    found = resolve(models_dir=tmp_path / "own")
    assert found.path == snapshot / "model.safetensors"
    assert "Intel/dpt-hybrid-midas" in searched_description(models_dir=tmp_path / "own")
    assert set(load_network(found.path, found.verified).state_dict()) == set(hf_layout.midas_shapes())


# --------------------------------------------------------------------------------------------
# wrong files: one line naming the file, nothing changed


def write_config(folder: Path, **changes: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({**PUBLISHED, **changes}))
    return folder / "config.json"


def refused(path: Path) -> str:
    """The one-line WeightsError that reading `path` gives; the files are unchanged."""
    files = sorted(p for p in (path.parent.iterdir() if path.is_file() else path.iterdir()))
    before = {p: p.read_bytes() for p in files}
    with pytest.raises(WeightsError) as caught:
        hf_layout.read_state_dict(path)
    assert {p: p.read_bytes() for p in files} == before
    message = str(caught.value)
    assert "\n" not in message, message
    return message


def save(tensors: dict[str, Any], path: Path) -> Path:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path


@pytest.mark.parametrize(("changes", "said"), [
    ({"is_hybrid": False}, "is_hybrid is False, not True"),
    ({"hidden_size": 1024, "neck_hidden_sizes": [256, 512, 1024, 1024]}, "hidden_size is 1024, not 768"),  # dpt-large
    ({"model_type": "depth_anything"}, "model_type is 'depth_anything', not 'dpt'"),
    ({"backbone_config": {**PUBLISHED["backbone_config"], "layer_type": "preactivation"}},
     "backbone_config.layer_type is 'preactivation'"),
])
def test_another_config_is_named(tmp_path: Path, changes: dict[str, Any], said: str) -> None:
    config = write_config(tmp_path / "other", **changes)
    (tmp_path / "other" / "model.safetensors").write_bytes(b"not read: the config is refused first")
    message = refused(tmp_path / "other")
    assert str(config) in message and said in message, message


def test_a_config_that_is_not_json_is_named(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{ not json")
    (tmp_path / "model.safetensors").write_bytes(b"x" * 64)
    message = refused(tmp_path / "model.safetensors")
    assert str(tmp_path / "config.json") in message and "cannot read this transformers config" in message


@pytest.mark.parametrize("without_package", [False, True])
@pytest.mark.parametrize("content", [b"", b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": 1", b"PK\x03\x04" + b"\0" * 300])
def test_a_damaged_safetensors_file_is_named(tmp_path: Path, monkeypatch, content: bytes,
                                             without_package: bool) -> None:
    if without_package:
        monkeypatch.setitem(__import__("sys").modules, "safetensors.torch", None)
    write_config(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(content)
    message = refused(tmp_path)
    assert str(tmp_path / "model.safetensors") in message and "truncated, damaged" in message, message


def test_a_truncated_safetensors_file_is_named(tmp_path: Path) -> None:
    whole = save({"dpt.embeddings.cls_token": torch.zeros(1, 1, 768)}, tmp_path / "whole" / "model.safetensors")
    cut = tmp_path / "cut" / "model.safetensors"
    cut.parent.mkdir()
    cut.write_bytes(whole.read_bytes()[:-100])
    assert "truncated, damaged" in refused(cut)


@pytest.mark.parametrize(("tensors", "said"), [
    ({"dpt.embeddings.mask_token": (1, 1, 768)}, "unknown tensor dpt.embeddings.mask_token"),
    ({"dpt.embeddings.cls_token": (1, 1, 1024)}, "tensor dpt.embeddings.cls_token is shape (1, 1, 1024)"),
    ({"dpt.encoder.layer.0.attention.attention.query.weight": (768, 768)}, "layer 0 has no attention key.weight"),
    ({"dpt.encoder.layer.3.attention.attention.key.bias": (1024,),
      "dpt.encoder.layer.3.attention.attention.query.bias": (768,),
      "dpt.encoder.layer.3.attention.attention.value.bias": (768,)}, "key.bias is shape (1024,)"),
    ({"dpt.embeddings.cls_token": (1, 1, 768)}, "tensors of the DPT-hybrid are missing"),
])
def test_a_file_of_another_network_is_named(tmp_path: Path, tensors: dict[str, tuple[int, ...]], said: str) -> None:
    path = save({name: torch.zeros(shape) for name, shape in tensors.items()}, tmp_path / "model.safetensors")
    message = refused(path)
    assert str(path) in message and said in message, message


def test_a_pickle_beside_a_config_is_never_run(tmp_path: Path) -> None:
    """pytorch_model.bin goes through the tensors-only loader: a Python object in it is refused, not run."""
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple[Any, ...]:
            return os.mkdir, (str(marker),)

    write_config(tmp_path / "model")
    torch.save({"dpt.embeddings.cls_token": Payload()}, tmp_path / "model" / "pytorch_model.bin")
    message = refused(tmp_path / "model")
    assert str(tmp_path / "model" / "pytorch_model.bin") in message and not marker.exists(), message


def test_a_folder_without_weights_is_not_taken_for_one(tmp_path: Path) -> None:
    write_config(tmp_path)
    assert hf_layout.folder_weights(tmp_path) is None
    with pytest.raises(WeightsError, match=r"has no dpt_hybrid-midas-501f0c75\.pt"):
        resolve(weights=tmp_path)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_the_numpy_reader_reads_half_precision_files(tmp_path: Path, monkeypatch, dtype: str) -> None:
    """fp16 and bf16 copies of the model exist; numpy has no bf16, its bits are widened to fp32's."""
    from safetensors.torch import load_file

    values = torch.from_numpy(np.linspace(-3.0, 3.0, 24, dtype=np.float32).reshape(2, 3, 4)).to(getattr(torch, dtype))
    path = save({"a": values, "b": values[0].clone()}, tmp_path / "model.safetensors")
    reference = load_file(str(path))
    monkeypatch.setitem(__import__("sys").modules, "safetensors.torch", None)
    read = hf_layout.read_tensors(path)
    assert all(torch.equal(read[k].float(), reference[k].float()) for k in reference)
    assert torch.equal(read["a"].float(), values.float())


def test_the_test_renaming_is_undone_exactly() -> None:
    """tests/midas_hf_support.py's renaming (for the ComfyUI tests) and hf_layout's are each other's inverse."""
    state = integer_state_dict(hf_layout.midas_shapes())
    back = hf_layout.to_midas(to_hf_layout(state), Path("support"))
    dropped = set(hf_layout.DROPPED)
    assert list(back) == list(state)
    assert all(torch.equal(back[k], state[k]) for k in state if k not in dropped)


@pytest.mark.slow
def test_the_test_renaming_gives_transformers_names(hf_model: tuple[Any, Path]) -> None:
    """What tests/midas_hf_support.py writes has exactly the names and shapes of transformers' model."""
    model, _ = hf_model
    shapes = {k: tuple(v.shape) for k, v in to_hf_layout(integer_state_dict(hf_layout.midas_shapes())).items()}
    assert shapes == {k: tuple(v.shape) for k, v in model.state_dict().items()}
