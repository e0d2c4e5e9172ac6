"""Small pieces every network's checkpoint loading uses to load strictly and to say, in one line,
why a file was refused: torch's messages run on for paragraphs and byte counts mean little."""

from __future__ import annotations

import inspect


def can_assign() -> bool:
    """torch >= 2.1 loads a state dict by assigning its tensors (what a meta-built net needs)."""
    import torch

    return "assign" in inspect.signature(torch.nn.Module.load_state_dict).parameters


def first_line(exc: BaseException) -> str:
    """`Type: first sentence` of an exception: torch's messages run on for paragraphs."""
    text = str(exc).strip().splitlines()
    sentence = text[0].split(". ")[0].rstrip(".")[:160] if text else ""
    return f"{type(exc).__name__}: {sentence}" if sentence else type(exc).__name__


def human_size(size: int) -> str:
    """A file size as people read it: `470.0 MiB`, `3.5 KiB`, `12 bytes`."""
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 1024:.1f} KiB" if size >= 1024 else f"{size} bytes"
