"""Our Depth Anything V2 equals an independent implementation: transformers'
`DepthAnythingForDepthEstimation` (4.46.1 in the forge environment; the webui one, 4.30.2, predates
Depth Anything) on the same random weights, converted the way transformers' own
`convert_depth_anything_to_hf.py` converts the official files.

One documented difference is bridged: transformers 4.46 interpolates DINOv2's position embedding
with `size=(rows, cols)`, the reference (`depth_anything_v2/dinov2.py`) with `scale_factor=(rows +
0.1) / 37`, which samples slightly different points. The tight comparisons give transformers the
reference's function (copied below from dinov2.py); `test_plain_transformers_*` measure the
unbridged difference. At 518 x 518 no interpolation happens on either side.
"""

from __future__ import annotations

import math
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lib_depth.midas.network import _ensure_torchvision
from tests.anything_support import picture, random_state_dict, save_pth
from tests.devices import DEVICE, on_device

torch = pytest.importorskip("torch")
_ensure_torchvision()  # transformers imports torchvision: the CPU torch beside a CUDA torchvision here
transformers = pytest.importorskip("transformers")
if not hasattr(transformers, "DepthAnythingForDepthEstimation"):
    pytest.skip(f"transformers {transformers.__version__} has no Depth Anything (added in 4.38; the forge "
                "environment has 4.46.1)", allow_module_level=True)

TOLERANCE = 1e-4  # of the output's range
TINY = dict(encoder="custom", embed_dim=64, depth=4, heads=2, layers=(0, 1, 2, 3), features=16,
            out_channels=(8, 16, 32, 64))


#: transformers 5 renamed Dinov2's attention projections (the GPU machine of bench/gpu.sh has 5.x)
V5_ATTENTION = {".attention.attention.query.": ".attention.q_proj.", ".attention.attention.key.": ".attention.k_proj.",
                ".attention.attention.value.": ".attention.v_proj.", ".attention.output.dense.": ".attention.o_proj."}


def v5_attention_names(state: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """`state` in transformers 4's names, renamed to 5's where the model has those."""
    if "backbone.encoder.layer.0.attention.q_proj.weight" not in wanted:
        return state
    renamed = {}
    for key, value in state.items():
        for old, new in V5_ATTENTION.items():
            key = key.replace(old, new)
        renamed[key] = value
    return renamed


def to_transformers(state: dict[str, Any], cfg: Any) -> Any:
    """The transformers model with `state` (reference layout), renamed as convert_depth_anything_to_hf.py does."""
    backbone = transformers.Dinov2Config(
        hidden_size=cfg.embed_dim, num_hidden_layers=cfg.depth, num_attention_heads=cfg.heads, mlp_ratio=4,
        image_size=518, patch_size=14, layerscale_value=1.0, layer_norm_eps=1e-6,
        out_indices=[i + 1 for i in cfg.layers], apply_layernorm=True, reshape_hidden_states=False)
    config = transformers.DepthAnythingConfig(
        backbone_config=backbone, reassemble_hidden_size=cfg.embed_dim, patch_size=14,
        fusion_hidden_size=cfg.features, neck_hidden_sizes=list(cfg.out_channels), depth_estimation_type="relative")
    names = {"pretrained.cls_token": "backbone.embeddings.cls_token",
             "pretrained.mask_token": "backbone.embeddings.mask_token",
             "pretrained.pos_embed": "backbone.embeddings.position_embeddings",
             "pretrained.patch_embed.proj": "backbone.embeddings.patch_embeddings.projection",
             "pretrained.norm": "backbone.layernorm", "depth_head.scratch.output_conv1": "head.conv1",
             "depth_head.scratch.output_conv2.0": "head.conv2", "depth_head.scratch.output_conv2.2": "head.conv3"}
    for i in range(cfg.depth):
        block, layer = f"pretrained.blocks.{i}", f"backbone.encoder.layer.{i}"
        names |= {f"{block}.ls1.gamma": f"{layer}.layer_scale1.lambda1",
                  f"{block}.ls2.gamma": f"{layer}.layer_scale2.lambda1",
                  f"{block}.norm1": f"{layer}.norm1", f"{block}.norm2": f"{layer}.norm2",
                  f"{block}.mlp": f"{layer}.mlp", f"{block}.attn.proj": f"{layer}.attention.output.dense"}
    for i in range(4):
        names |= {f"depth_head.projects.{i}": f"neck.reassemble_stage.layers.{i}.projection",
                  f"depth_head.resize_layers.{i}": f"neck.reassemble_stage.layers.{i}.resize",
                  f"depth_head.scratch.layer{i + 1}_rn": f"neck.convs.{i}",
                  f"depth_head.scratch.refinenet{i + 1}": f"neck.fusion_stage.layers.{3 - i}"}
    renamed = {}
    for key, value in state.items():
        if ".attn.qkv." in key:
            layer, kind, d = key.split(".")[2], key.rsplit(".", 1)[1], cfg.embed_dim
            for j, part in enumerate(("query", "key", "value")):
                renamed[f"backbone.encoder.layer.{layer}.attention.attention.{part}.{kind}"] = value[j * d:(j + 1) * d]
            continue
        prefix = max((p for p in names if key == p or key.startswith(p + ".")), key=len)
        tail = key[len(prefix):].replace("resConfUnit1.conv", "residual_layer1.convolution").replace(
            "resConfUnit2.conv", "residual_layer2.convolution").replace("out_conv", "projection")
        renamed[names[prefix] + tail] = value
    model = transformers.DepthAnythingForDepthEstimation(config).eval()
    model.load_state_dict(v5_attention_names(renamed, model.state_dict()), strict=True)
    return model.requires_grad_(False)


def reference_interpolate_pos_encoding(self: Any, x: Any, h: int, w: int) -> Any:
    """depth_anything_v2/dinov2.py `interpolate_pos_encoding`, its logic unchanged (its `w, h` are the
    input's height and width: `B, nc, w, h = x.shape`), on transformers' embeddings module."""
    import torch
    from torch import nn

    previous_dtype = x.dtype
    npatch = x.shape[1] - 1
    N = self.position_embeddings.shape[1] - 1
    if npatch == N and w == h:
        return self.position_embeddings
    pos_embed = self.position_embeddings.float()
    class_pos_embed = pos_embed[:, 0]
    patch_pos_embed = pos_embed[:, 1:]
    dim = x.shape[-1]
    w0, h0 = h // 14 + 0.1, w // 14 + 0.1
    sqrt_N = math.sqrt(N)
    sx, sy = float(w0) / sqrt_N, float(h0) / sqrt_N
    patch_pos_embed = nn.functional.interpolate(
        patch_pos_embed.reshape(1, int(sqrt_N), int(sqrt_N), dim).permute(0, 3, 1, 2),
        scale_factor=(sx, sy), mode="bicubic", antialias=False)
    assert int(w0) == patch_pos_embed.shape[-2] and int(h0) == patch_pos_embed.shape[-1]
    patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).view(1, -1, dim)
    return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1).to(previous_dtype)


def bridged(model: Any) -> Any:
    embeddings = model.backbone.embeddings
    embeddings.interpolate_pos_encoding = types.MethodType(reference_interpolate_pos_encoding, embeddings)
    return model


def deviation(ours: Any, theirs: Any) -> float:
    """max |difference| / range of theirs."""
    spread = float(theirs.max() - theirs.min())
    assert spread > 0 and float((theirs > 0).float().mean()) > 0.5, "random weights gave a flat output"
    return float((ours - theirs).abs().max()) / spread


def network_input(height: int, width: int, resolution: int) -> Any:
    """Our preprocessing of a structured picture of height x width at `resolution` (a tensor)."""
    import torch

    from lib_depth.anything.geometry import prepare

    x, _ = prepare(picture(height, width), resolution)
    return on_device(torch.from_numpy(x)[None])


# --------------------------------------------------------------------------------------------
# the real ViT-S, loaded from an official-layout file through our loader


@pytest.fixture(scope="module")
def vits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Any, Any]:
    """(ours, transformers bridged, transformers as it is, the config read from the file)."""
    from lib_depth.anything import load_network

    state = random_state_dict("vits", seed=0)
    path = save_pth(tmp_path_factory.mktemp("da_ref") / "depth_anything_v2_vits.pth", state)
    ours, cfg = load_network(path)
    return (*on_device(ours, bridged(to_transformers(state, cfg)), to_transformers(state, cfg)), cfg)


# (picture height, width, resolution): 518 square (no interpolation), landscape, portrait, odd sizes
# and a resolution that is not a multiple of 14
VITS_CASES = [(518, 518, 518), (360, 500, 518), (333, 250, 266), (301, 517, 200)]


@pytest.mark.parametrize(("height", "width", "resolution"), VITS_CASES, ids=lambda v: str(v))
def test_vits_equals_transformers(vits: tuple[Any, ...], height: int, width: int, resolution: int) -> None:
    ours, theirs, _, cfg = vits
    assert cfg.encoder == "vits" and sum(p.numel() for p in ours.parameters()) == 24_785_089
    x = network_input(height, width, resolution)
    import torch

    with torch.inference_mode():
        expected = theirs(pixel_values=x).predicted_depth
        got = ours(x)
    assert got.shape == expected.shape == x.shape[:1] + x.shape[2:]
    error = deviation(got, expected)
    print(f"ViT-S {tuple(x.shape[2:])}: max deviation {error:.2e} of the range")
    assert error < TOLERANCE


def test_plain_transformers_at_518_square(vits: tuple[Any, ...]) -> None:
    """Without the bridge: at the trained size neither side interpolates, so they agree as they are."""
    import torch

    ours, _, theirs, _ = vits
    x = network_input(518, 518, 518)
    with torch.inference_mode():
        assert deviation(ours(x), theirs(pixel_values=x).predicted_depth) < TOLERANCE


# --------------------------------------------------------------------------------------------
# a tiny network (same position grid, fewer blocks and channels): many shapes at little cost

TINY_SHAPES = [(518, 518), (518, 686), (686, 518), (266, 476), (378, 378), (140, 966), (14 * 23, 14 * 31)]


@pytest.fixture(scope="module")
def tiny() -> tuple[Any, Any]:
    import torch

    from lib_depth.anything.config import AnythingConfig
    from lib_depth.anything.network import build

    cfg = AnythingConfig(**TINY)
    net = build(cfg)
    rng = np.random.RandomState(3)
    state = {}
    for name, value in net.state_dict().items():
        fan_in = 1 if value.ndim == 1 or name.endswith(("pos_embed", "cls_token", "mask_token")) else value[0].numel()
        scale = 0.5 / math.sqrt(fan_in)
        state[name] = torch.from_numpy((rng.standard_normal(tuple(value.shape)) * scale).astype(np.float32))
        if name.endswith(("ls1.gamma", "ls2.gamma")) or (name.endswith("weight") and value.ndim == 1):
            state[name] = state[name].abs() + 0.5
    state["depth_head.scratch.output_conv2.2.bias"][:] = 1.0
    net.load_state_dict(state, strict=True)
    return on_device(net, bridged(to_transformers(state, cfg)))


@pytest.mark.parametrize("shape", TINY_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_tiny_network_equals_transformers(tiny: tuple[Any, Any], shape: tuple[int, int]) -> None:
    import torch

    ours, theirs = tiny
    x = on_device(torch.from_numpy(np.random.RandomState(shape[0] + shape[1]).standard_normal((2, 3, *shape))
                                   .astype(np.float32)))
    with torch.inference_mode():
        error = deviation(ours(x), theirs(pixel_values=x).predicted_depth)
    print(f"tiny {shape}: max deviation {error:.2e} of the range")
    assert error < TOLERANCE


def test_plain_transformers_differ_off_the_trained_size(tiny: tuple[Any, Any]) -> None:
    """The documented difference is real: off 518 x 518 transformers' `size=` interpolation samples the
    position embedding up to 0.1 cell away from the reference's points. How much that moves a map
    depends on how rough the embedding is: 0.27% of the range for this tiny net, 6-11% for the random
    ViT-S above (white-noise embeddings; the trained ones are smooth), hence the bridge in the tight tests."""
    import torch

    ours, _ = tiny
    plain = on_device(to_transformers({k: v.cpu() for k, v in ours.state_dict().items()}, ours.config))
    x = on_device(torch.from_numpy(np.random.RandomState(0).standard_normal((1, 3, 518, 686)).astype(np.float32)))
    with torch.inference_mode():
        error = deviation(ours(x), plain(pixel_values=x).predicted_depth)
    print(f"plain transformers 4.46 vs reference form, 518x686: {error:.2e} of the range")
    assert TOLERANCE < error < 0.05


# --------------------------------------------------------------------------------------------
# preprocessing against transformers' DPTImageProcessor as Depth Anything's hub configs set it


def depth_anything_processor(**overrides: Any) -> Any:
    """preprocessor_config.json of depth-anything/Depth-Anything-V2-*-hf: 518, keep aspect, multiple of 14,
    bicubic (PIL), ImageNet mean/std, no padding."""
    options = dict(do_resize=True, size={"height": 518, "width": 518}, keep_aspect_ratio=True, ensure_multiple_of=14,
                   resample=3, do_rescale=True, rescale_factor=1 / 255, do_normalize=True, do_pad=False,
                   image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    return transformers.DPTImageProcessor(**(options | overrides))


def test_normalisation_equals_transformers() -> None:
    from lib_depth.anything.geometry import prepare

    image = picture(518, 700)
    ours, shape = prepare(image, 518)
    assert shape.content == (518, 700)  # no resize: only the pixel transform is compared
    theirs = depth_anything_processor(do_resize=False)(images=image, return_tensors="np")["pixel_values"][0]
    assert np.abs(ours - theirs).max() < 1e-5


@pytest.mark.parametrize(("height", "width"), [(1080, 1920), (1920, 1080), (600, 800), (777, 1001), (2000, 2000)])
def test_sizes_equal_transformers_where_both_sides_shrink(height: int, width: int) -> None:
    """Where both sides are above 518, transformers' "scale as little as possible" is the reference's lower
    bound. Below it they part: a 640x360 picture is 924x518 for the reference (and us), 518x294 for
    transformers, which fits the side nearer to 518; transformers also resizes with PIL (antialiased)."""
    from lib_depth.anything.geometry import network_shape

    processor = depth_anything_processor()
    theirs = processor(images=np.zeros((height, width, 3), np.uint8), return_tensors="np")["pixel_values"].shape[2:]
    assert network_shape(height, width, 518).content == tuple(theirs)


def test_the_estimator_runs_the_compared_network(vits: tuple[Any, ...], tmp_path: Path) -> None:
    """The estimator's map is this network's output, resized bilinearly (align_corners) to the picture."""
    import torch
    import torch.nn.functional as F

    from lib_depth.anything import AnythingEstimator, AnythingSettings

    theirs = vits[1]
    path = save_pth(tmp_path / "depth_anything_v2_vits.pth", random_state_dict("vits", seed=0))
    estimator = AnythingEstimator.from_pretrained(AnythingSettings(weights=str(path), device=DEVICE, precision="fp32"))
    image = picture(301, 517)
    x = network_input(301, 517, 200)
    with torch.inference_mode():
        expected = F.interpolate(theirs(pixel_values=x).predicted_depth[None], (301, 517),
                                 mode="bilinear", align_corners=True)[0, 0]
    got = estimator(image, 200)
    assert got.shape == (301, 517) and got.dtype == np.float32
    assert deviation(torch.from_numpy(got), expected.cpu()) < TOLERANCE
