"""Where Hugging Face's copy of the DPT-hybrid (`Intel/dpt-hybrid-midas`) is, by path alone.

transformers keeps a model as a folder: `config.json` beside `model.safetensors` (or the older
`pytorch_model.bin`), in the Hugging Face cache under `models--Intel--dpt-hybrid-midas/snapshots/<rev>/`.
`weights` searches with these names; `hf_layout` reads such a file. No torch, nothing read here.
"""

from __future__ import annotations

from pathlib import Path

REPO = "Intel/dpt-hybrid-midas"
#: the weights file of a transformers folder, in the order from_pretrained prefers them
FILES = ("model.safetensors", "pytorch_model.bin")
#: (repository, file) entries of the Hugging Face cache to look in
CACHED = tuple((REPO, name) for name in FILES)


def folder_weights(folder: Path) -> Path | None:
    """The weights file of a transformers folder (config.json beside it), else None."""
    if not (folder / "config.json").is_file():
        return None
    return next((folder / name for name in FILES if (folder / name).is_file()), None)


def is_hf_file(path: Path) -> bool:
    """A transformers weights file: a safetensors file (never lllyasviel's layout), or a
    `pytorch_model.bin` beside a config.json."""
    return path.suffix == ".safetensors" or (path.name == FILES[1] and (path.parent / "config.json").is_file())
