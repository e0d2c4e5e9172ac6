"""Which pictures share a forward pass: the same grouping for the CPU path and the device path."""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence


def batches(keys: Sequence[Hashable], size: int) -> Iterator[list[int]]:
    """Indices of equal keys (a network shape), first-seen order, in chunks of at most `size`."""
    groups: dict[Hashable, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    for indices in groups.values():
        for start in range(0, len(indices), size):
            yield indices[start : start + size]
