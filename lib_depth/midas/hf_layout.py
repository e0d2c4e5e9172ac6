"""The same DPT-hybrid in Hugging Face's layout (`Intel/dpt-hybrid-midas`), renamed for our network.

transformers' `DPTForDepthEstimation` with the hybrid config (a BiT ResNet-50 stem under ViT-B/16)
is lllyasviel's `dpt_hybrid-midas-501f0c75.pt` converted by transformers'
`models/dpt/convert_dpt_hybrid_to_pytorch.py`: the tensors are the same, only renamed, with each
block's `attn.qkv` split into query/key/value and the ViT's unused ImageNet head dropped. Users of
transformers or diffusers (`pipeline("depth-estimation", model="Intel/dpt-hybrid-midas")`) have it
in the Hugging Face cache as `config.json` + `model.safetensors` (or `pytorch_model.bin`); here it
is renamed back, strictly: every tensor of the file used once, every shape checked, any other
file a one-line WeightsError naming it. The dropped head (never run by DPT) is filled with zeros.

Verification: no sha256 of Intel/dpt-hybrid-midas's files could be found in a source we can cite,
so a copy found by searching is verified structurally (the config is the hybrid MiDaS one and the
strict conversion above succeeds), not by hash. That is safe because nothing here can run code: a
safetensors file is plain data, and a `pytorch_model.bin` goes through the restricted tensors-only
loader (`network_base.torch_load`) and is never fully unpickled, whatever its name or hash.

Differences that stay (transformers' numerics, not the file): its LayerNorms use eps 1e-12
(`layer_norm_eps`), timm's 1e-6; tests/test_midas_hf_layout.py measures what that leaves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..network_base.torch_load import load_tensors
from ..network_base.weights import WeightsError
from .hf_folder import FILES, REPO, folder_weights, is_hf_file

if TYPE_CHECKING:
    import torch

__all__ = ["FILES", "REPO", "check_config", "folder_weights", "is_hf_file", "midas_shapes", "read_state_dict"]

#: config.json values that fix the layout and the computation: (key, value, transformers' default
#: when the key is absent); `backbone_config` is checked apart
CONFIG = (("model_type", "dpt", None), ("is_hybrid", True, False), ("hidden_size", 768, 768),
          ("num_hidden_layers", 12, 12), ("num_attention_heads", 12, 12), ("intermediate_size", 3072, 3072),
          ("hidden_act", "gelu", "gelu"), ("qkv_bias", True, True), ("image_size", 384, 384),
          ("patch_size", 16, 16), ("num_channels", 3, 3), ("readout_type", "project", "ignore"),
          ("backbone_out_indices", [2, 5, 8, 11], [2, 5, 8, 11]),
          ("reassemble_factors", [1, 1, 1, 0.5], [4, 2, 1, 0.5]),
          ("neck_hidden_sizes", [256, 512, 768, 768], [96, 192, 384, 768]), ("fusion_hidden_size", 256, 256),
          ("neck_ignore_stages", [0, 1], [0, 1]), ("backbone_featmap_shape", [1, 1024, 24, 24], [1, 1024, 24, 24]),
          ("head_in_index", -1, -1), ("add_projection", False, False),
          ("use_batch_norm_in_fusion_residual", False, False))
BACKBONE = (("layer_type", "bottleneck", "preactivation"), ("depths", [3, 4, 9], [3, 4, 6, 3]),
            ("out_features", ["stage1", "stage2", "stage3"], None), ("global_padding", "same", None),
            ("embedding_dynamic_padding", True, False), ("num_groups", 32, 32))

_HIDDEN, _MLP, _LAYERS, _TOKENS = 768, 3072, 12, 577
_STAGES = ((3, 256), (4, 512), (9, 1024))  # BiT / ResNetV2 stages: blocks, output channels (a quarter inside)


def midas_shapes() -> dict[str, tuple[int, ...]]:
    """Every tensor name and shape of our network (controlnet_aux's DPTDepthModel, `vitb_rn50_384`),
    in its state-dict order: what a converted file must give exactly."""
    vit, bit = "pretrained.model.", "pretrained.model.patch_embed.backbone."
    shapes: dict[str, tuple[int, ...]] = {f"{vit}cls_token": (1, 1, _HIDDEN), f"{vit}pos_embed": (1, _TOKENS, _HIDDEN),
                                          f"{bit}stem.conv.weight": (64, 3, 7, 7)}
    shapes |= {f"{bit}stem.norm.{p}": (64,) for p in ("weight", "bias")}
    channels = 64
    for s, (blocks, out) in enumerate(_STAGES):
        mid = out // 4
        for b in range(blocks):
            block = f"{bit}stages.{s}.blocks.{b}."
            if b == 0:
                shapes[f"{block}downsample.conv.weight"] = (out, channels, 1, 1)
                shapes |= {f"{block}downsample.norm.{p}": (out,) for p in ("weight", "bias")}
            first = channels if b == 0 else out
            for i, (cout, cin, k) in enumerate(((mid, first, 1), (mid, mid, 3), (out, mid, 1)), 1):
                shapes[f"{block}conv{i}.weight"] = (cout, cin, k, k)
                shapes |= {f"{block}norm{i}.{p}": (cout,) for p in ("weight", "bias")}
        channels = out
    shapes |= {f"{vit}patch_embed.proj.weight": (_HIDDEN, channels, 1, 1), f"{vit}patch_embed.proj.bias": (_HIDDEN,)}
    linear = (("attn.qkv", 3 * _HIDDEN, _HIDDEN), ("attn.proj", _HIDDEN, _HIDDEN), ("mlp.fc1", _MLP, _HIDDEN),
              ("mlp.fc2", _HIDDEN, _MLP))
    for i in range(_LAYERS):
        for name, rows, cols in (("norm1", 0, 0), linear[0], linear[1], ("norm2", 0, 0), linear[2], linear[3]):
            weight = (rows, cols) if rows else (_HIDDEN,)
            shapes |= {f"{vit}blocks.{i}.{name}.weight": weight, f"{vit}blocks.{i}.{name}.bias": weight[:1]}
    shapes |= {f"{vit}norm.weight": (_HIDDEN,), f"{vit}norm.bias": (_HIDDEN,),
               f"{vit}head.weight": (1000, _HIDDEN), f"{vit}head.bias": (1000,)}
    for n in (3, 4):
        post = f"pretrained.act_postprocess{n}."
        shapes |= {f"{post}0.project.0.weight": (_HIDDEN, 2 * _HIDDEN), f"{post}0.project.0.bias": (_HIDDEN,),
                   f"{post}3.weight": (_HIDDEN, _HIDDEN, 1, 1), f"{post}3.bias": (_HIDDEN,)}
    shapes |= {"pretrained.act_postprocess4.4.weight": (_HIDDEN, _HIDDEN, 3, 3),
               "pretrained.act_postprocess4.4.bias": (_HIDDEN,)}
    shapes |= {f"scratch.layer{i}_rn.weight": (256, c, 3, 3) for i, c in enumerate((256, 512, 768, 768), 1)}
    for r in range(1, 5):
        for conv in ("out_conv", *(f"resConfUnit{u}.conv{c}" for u in (1, 2) for c in (1, 2))):
            k = 1 if conv == "out_conv" else 3
            name = f"scratch.refinenet{r}.{conv}"
            shapes |= {f"{name}.weight": (256, 256, k, k), f"{name}.bias": (256,)}
    for n, (cout, cin, k) in ((0, (128, 256, 3)), (2, (32, 128, 3)), (4, (1, 32, 1))):
        shapes |= {f"scratch.output_conv.{n}.weight": (cout, cin, k, k), f"scratch.output_conv.{n}.bias": (cout,)}
    return shapes


def _fusion(match: re.Match) -> str:
    """transformers numbers the fusion layers from the deepest (its 0 is MiDaS's refinenet4)."""
    rest = match[2].replace("projection", "out_conv").replace("residual_layer", "resConfUnit")
    return f"scratch.refinenet{4 - int(match[1])}.{rest.replace('convolution', 'conv')}"


_BIT, _RESNET = r"dpt\.embeddings\.backbone\.bit\.", "pretrained.model.patch_embed.backbone."
_VIT_BLOCK = {"attention.output.dense": "attn.proj", "intermediate.dense": "mlp.fc1", "output.dense": "mlp.fc2",
              "layernorm_before": "norm1", "layernorm_after": "norm2"}
#: transformers name (full match) -> ours; q/k/v are joined apart
RULES: tuple[tuple[str, str | Callable[[re.Match], str]], ...] = (
    (r"dpt\.embeddings\.cls_token", "pretrained.model.cls_token"),
    (r"dpt\.embeddings\.position_embeddings", "pretrained.model.pos_embed"),
    (_BIT + r"embedder\.convolution\.(weight)", _RESNET + r"stem.conv.\1"),
    (_BIT + r"embedder\.norm\.(weight|bias)", _RESNET + r"stem.norm.\1"),
    (_BIT + r"encoder\.stages\.(\d+)\.layers\.(\d+)\.((?:downsample\.)?(?:conv|norm)\d?\.(?:weight|bias))",
     _RESNET + r"stages.\1.blocks.\2.\3"),
    (r"dpt\.embeddings\.projection\.(weight|bias)", r"pretrained.model.patch_embed.proj.\1"),
    (r"dpt\.encoder\.layer\.(\d+)\.(" + "|".join(re.escape(k) for k in _VIT_BLOCK) + r")\.(weight|bias)",
     lambda m: f"pretrained.model.blocks.{m[1]}.{_VIT_BLOCK[m[2]]}.{m[3]}"),
    (r"dpt\.layernorm\.(weight|bias)", r"pretrained.model.norm.\1"),
    (r"neck\.reassemble_stage\.readout_projects\.(\d)\.0\.(weight|bias)",
     lambda m: f"pretrained.act_postprocess{int(m[1]) + 1}.0.project.0.{m[2]}"),
    (r"neck\.reassemble_stage\.layers\.(\d)\.projection\.(weight|bias)",
     lambda m: f"pretrained.act_postprocess{int(m[1]) + 1}.3.{m[2]}"),
    (r"neck\.reassemble_stage\.layers\.(\d)\.resize\.(weight|bias)",
     lambda m: f"pretrained.act_postprocess{int(m[1]) + 1}.4.{m[2]}"),
    (r"neck\.convs\.(\d)\.weight", lambda m: f"scratch.layer{int(m[1]) + 1}_rn.weight"),
    (r"neck\.fusion_stage\.layers\.(\d)\.((?:projection|residual_layer[12]\.convolution[12])\.(?:weight|bias))",
     _fusion),
    (r"head\.head\.(\d)\.(weight|bias)", r"scratch.output_conv.\1.\2"),
)
_RULES = tuple((re.compile(pattern), target) for pattern, target in RULES)
_QKV = re.compile(r"dpt\.encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)\.(weight|bias)")
#: ours, absent from transformers' file: the ViT's ImageNet classifier, which DPT never runs
DROPPED = ("pretrained.model.head.weight", "pretrained.model.head.bias")


# --------------------------------------------------------------------------------------------
# the config


def check_config(path: Path) -> None:
    """WeightsError naming `path` unless it is the hybrid MiDaS config (Intel/dpt-hybrid-midas's)."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise WeightsError(f"cannot read this transformers config ({type(exc).__name__}: {exc}); "
                           f"use the config.json of {REPO}", path) from None
    if not isinstance(config, dict):
        raise WeightsError(f"this transformers config is not a JSON object; use the config.json of {REPO}", path)
    backbone = config.get("backbone_config")
    wrong = [f"{key} is {config.get(key, default)!r}, not {value!r}" for key, value, default in CONFIG
             if config.get(key, default) != value]
    if not isinstance(backbone, dict):
        wrong.append("it has no BiT backbone_config")
    else:
        wrong += [f"backbone_config.{key} is {backbone.get(key, default)!r}, not {value!r}"
                  for key, value, default in BACKBONE if str(backbone.get(key, default)).lower() != str(value).lower()]
    if wrong:
        raise WeightsError(f"this is not the DPT-hybrid MiDaS config of {REPO} ({'; '.join(wrong[:3])}); "
                           "only that model can be loaded as MiDaS", path)


# --------------------------------------------------------------------------------------------
# reading the tensors


_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4", "U8": "u1"}


def read_safetensors_numpy(path: Path) -> dict[str, Any]:
    """A safetensors file's tensors with numpy alone (the format: 8-byte little-endian header
    length, a JSON header of dtype/shape/data_offsets, then the data): for an environment
    without the `safetensors` package. bf16 comes back as uint16 bits (`_to_torch` widens it)."""
    data = np.memmap(path, dtype=np.uint8, mode="r")
    size = int(data[:8].view("<u8")[0]) if data.size >= 8 else -1
    if not 2 <= size <= data.size - 8:
        raise ValueError(f"header length {size} does not fit the file")
    header = json.loads(bytes(data[8:8 + size]).decode("utf-8"))
    start, tensors = 8 + size, {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = np.dtype(_DTYPES[info["dtype"]])
        begin, end = (int(v) for v in info["data_offsets"])
        shape = tuple(int(n) for n in info["shape"])
        if not 0 <= begin <= end <= data.size - start or end - begin != dtype.itemsize * int(np.prod(shape)):
            raise ValueError(f"tensor {name} has offsets {begin}..{end} that do not fit its shape or the file")
        tensors[name] = (info["dtype"], data[start + begin:start + end].view(dtype).reshape(shape))
    return tensors


def _to_torch(dtype: str, array: np.ndarray) -> torch.Tensor:
    import torch

    tensor = torch.from_numpy(np.array(array))
    if dtype == "BF16":  # the upper half of a float32's bits
        tensor = (tensor.to(torch.int32) << 16).view(torch.float32)
    return tensor


def read_tensors(path: Path) -> Mapping[str, Any]:
    """The tensors of a transformers weights file, as torch tensors; never unpickled."""
    if path.suffix != ".safetensors":
        state = load_tensors(path, mmap=False)  # weights_only: tensors and plain containers, nothing else
        if not isinstance(state, Mapping):
            raise ValueError(f"it holds a {type(state).__name__}, not a state dict")
        return state
    try:
        from safetensors.torch import load_file
    except ImportError:
        return {name: _to_torch(dtype, array) for name, (dtype, array) in read_safetensors_numpy(path).items()}
    return load_file(str(path))


# --------------------------------------------------------------------------------------------
# renaming


def _rename(name: str) -> str | None:
    for pattern, target in _RULES:
        match = pattern.fullmatch(name)
        if match:
            return target(match) if callable(target) else match.expand(target)
    return None


def to_midas(state: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """transformers' DPT-hybrid tensors -> ours (names and shapes exactly those of `midas_shapes`)."""
    import torch

    expected = midas_shapes()
    renamed: dict[str, Any] = {}
    qkv: dict[tuple[str, str], dict[str, Any]] = {}
    for name, tensor in state.items():
        joined = _QKV.fullmatch(name)
        if joined:
            qkv.setdefault((joined[1], joined[3]), {})[joined[2]] = tensor
            continue
        ours = _rename(name)
        if ours is None or ours not in expected:
            raise WeightsError(f"unknown tensor {name} for transformers' DPT-hybrid ({REPO}); this is another "
                               "model or a damaged file", path)
        renamed[ours] = _checked(name, tensor, expected[ours], path)
    for (layer, kind), parts in qkv.items():
        if set(parts) != {"query", "key", "value"}:
            missing = sorted({"query", "key", "value"} - set(parts))
            raise WeightsError(f"encoder layer {layer} has no attention {missing[0]}.{kind}: the file is "
                               f"incomplete or not {REPO}", path)
        ours = f"pretrained.model.blocks.{layer}.attn.qkv.{kind}"
        if ours not in expected:
            raise WeightsError(f"unknown encoder layer {layer} for {REPO} (it has {_LAYERS})", path)
        parts = {name: _checked(f"dpt.encoder.layer.{layer}.attention.attention.{name}.{kind}", part,
                                expected[ours], path, rows=_HIDDEN) for name, part in parts.items()}
        renamed[ours] = torch.cat([parts["query"], parts["key"], parts["value"]], dim=0)
    for name in DROPPED:
        renamed.setdefault(name, torch.zeros(expected[name]))
    missing = [name for name in expected if name not in renamed]
    if missing:
        raise WeightsError(f"{len(missing)} tensors of the DPT-hybrid are missing, e.g. {missing[0]} "
                           f"(our name): the file is incomplete or not {REPO}", path)
    return {name: renamed[name].float() for name in expected}


def _checked(name: str, tensor: Any, shape: tuple[int, ...], path: Path, rows: int | None = None) -> Any:
    """`tensor` if it is a floating-point tensor of `shape` (its first side `rows` for a q/k/v part)."""
    want = (rows, *shape[1:]) if rows else shape
    if not getattr(tensor, "is_floating_point", lambda: False)() or tuple(tensor.shape) != want:
        what = f"shape {tuple(tensor.shape)} of {tensor.dtype}" if hasattr(tensor, "shape") else type(tensor).__name__
        raise WeightsError(f"tensor {name} is {what}, the DPT-hybrid's is {want} floats: "
                           f"this is not {REPO}", path)
    return tensor


def read_state_dict(path: Path) -> dict[str, Any]:
    """A transformers folder or weights file -> our network's state dict; WeightsError naming the file."""
    weights = folder_weights(path) if path.is_dir() else path
    if weights is None:
        raise WeightsError(f"this folder has no config.json with {' or '.join(FILES)} ({REPO})", path)
    if (weights.parent / "config.json").is_file():
        check_config(weights.parent / "config.json")
    try:
        state = read_tensors(weights)
    except WeightsError:
        raise
    except Exception as exc:
        text = str(exc).strip().splitlines()
        if "Weights only load failed" in str(exc) or "Unsupported global" in str(exc):
            raise WeightsError(f"this file holds Python objects besides tensors; it is never unpickled (that "
                               f"could run code): replace it with {REPO}'s {FILES[0]}", weights) from None
        raise WeightsError(f"cannot read the transformers weights: the file is truncated, damaged or not "
                           f"{' or '.join(FILES)} ({type(exc).__name__}: {text[0][:160] if text else ''}); "
                           f"replace it with {REPO}'s", weights) from None
    return to_midas(state, weights)
