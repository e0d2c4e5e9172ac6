"""Hugging Face's layout of the MiDaS DPT-hybrid (Intel/dpt-hybrid-midas) for tests: its published
config and our tensors renamed to transformers' names, for environments without transformers (the
ComfyUI tests). tests/test_midas_hf_layout.py checks the renaming against transformers' own model."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

#: Intel/dpt-hybrid-midas's config: transformers' convert_dpt_hybrid_to_pytorch.py (`get_dpt_config`,
#: the "midas" branch: hidden 768, reassemble factors 1, 1, 1, 0.5, neck 256, 512, 768, 768, patch 16,
#: no batch norm in the fusion residuals, readout "project") over DPTConfig's hybrid defaults
#: (configuration_dpt.py: the BiT backbone_config, backbone_featmap_shape, neck_ignore_stages)
PUBLISHED: dict[str, Any] = {
    "architectures": ["DPTForDepthEstimation"], "model_type": "dpt", "is_hybrid": True, "hidden_size": 768,
    "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu",
    "layer_norm_eps": 1e-12, "image_size": 384, "patch_size": 16, "num_channels": 3, "qkv_bias": True,
    "backbone_out_indices": [2, 5, 8, 11], "readout_type": "project", "reassemble_factors": [1, 1, 1, 0.5],
    "neck_hidden_sizes": [256, 512, 768, 768], "fusion_hidden_size": 256, "head_in_index": -1,
    "use_batch_norm_in_fusion_residual": False, "add_projection": False,
    "backbone_featmap_shape": [1, 1024, 24, 24], "neck_ignore_stages": [0, 1],
    "backbone_config": {"model_type": "bit", "global_padding": "same", "layer_type": "bottleneck",
                        "depths": [3, 4, 9], "out_features": ["stage1", "stage2", "stage3"],
                        "embedding_dynamic_padding": True},
}

_RESNET = r"pretrained\.model\.patch_embed\.backbone\."
_BLOCK = {"attn.proj": "attention.output.dense", "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense",
          "norm1": "layernorm_before", "norm2": "layernorm_after"}
#: ours (full match) -> transformers' names, as its convert_dpt_hybrid_to_pytorch.py renames them
_TO_HF = (
    (r"pretrained\.model\.cls_token", "dpt.embeddings.cls_token"),
    (r"pretrained\.model\.pos_embed", "dpt.embeddings.position_embeddings"),
    (_RESNET + r"stem\.conv\.(.+)", r"dpt.embeddings.backbone.bit.embedder.convolution.\1"),
    (_RESNET + r"stem\.norm\.(.+)", r"dpt.embeddings.backbone.bit.embedder.norm.\1"),
    (_RESNET + r"stages\.(\d+)\.blocks\.(\d+)\.(.+)", r"dpt.embeddings.backbone.bit.encoder.stages.\1.layers.\2.\3"),
    (r"pretrained\.model\.patch_embed\.proj\.(.+)", r"dpt.embeddings.projection.\1"),
    (r"pretrained\.model\.blocks\.(\d+)\.(attn\.proj|mlp\.fc1|mlp\.fc2|norm1|norm2)\.(.+)",
     lambda m: f"dpt.encoder.layer.{m[1]}.{_BLOCK[m[2]]}.{m[3]}"),
    (r"pretrained\.model\.norm\.(.+)", r"dpt.layernorm.\1"),
    (r"pretrained\.act_postprocess(\d)\.0\.project\.0\.(.+)",
     lambda m: f"neck.reassemble_stage.readout_projects.{int(m[1]) - 1}.0.{m[2]}"),
    (r"pretrained\.act_postprocess(\d)\.([34])\.(.+)",
     lambda m: f"neck.reassemble_stage.layers.{int(m[1]) - 1}.{'projection' if m[2] == '3' else 'resize'}.{m[3]}"),
    (r"scratch\.layer(\d)_rn\.(.+)", lambda m: f"neck.convs.{int(m[1]) - 1}.{m[2]}"),
    (r"scratch\.refinenet(\d)\.(.+)", lambda m: f"neck.fusion_stage.layers.{4 - int(m[1])}." + m[2].replace(
        "out_conv", "projection").replace("resConfUnit", "residual_layer").replace(".conv", ".convolution")),
    (r"scratch\.output_conv\.(.+)", r"head.head.\1"),
)


def to_hf_layout(state: dict[str, Any]) -> dict[str, Any]:
    """Our DPT-hybrid state dict in transformers' names: qkv split, the unused ImageNet head dropped."""
    out: dict[str, Any] = {}
    for name, tensor in state.items():
        qkv = re.fullmatch(r"pretrained\.model\.blocks\.(\d+)\.attn\.qkv\.(weight|bias)", name)
        if qkv:
            for part, chunk in zip(("query", "key", "value"), tensor.chunk(3, dim=0), strict=True):
                out[f"dpt.encoder.layer.{qkv[1]}.attention.attention.{part}.{qkv[2]}"] = chunk.contiguous()
            continue
        if name.startswith("pretrained.model.head."):
            continue
        for pattern, target in _TO_HF:
            match = re.fullmatch(pattern, name)
            if match:
                out[target(match) if callable(target) else match.expand(target)] = tensor
                break
        else:
            raise KeyError(f"no transformers name for {name}")
    return out


def write_hf_folder(folder: Path, state: dict[str, Any]) -> Path:
    """`folder/config.json` + `folder/model.safetensors` holding `state` (ours) as transformers saves it."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(PUBLISHED, indent=1))
    save_file({k: v.contiguous() for k, v in to_hf_layout(state).items()}, str(folder / "model.safetensors"),
              metadata={"format": "pt"})
    return folder / "model.safetensors"
