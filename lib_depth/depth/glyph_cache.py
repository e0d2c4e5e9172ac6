"""A font that remembers the text it has rendered, for the histogram chart.

Every cut click redraws the chart (its cutoff line and shading move), and ~90 % of a redraw was
FreeType laying out and rasterising the same ~17 strings again (title, legend, axis labels, the
suggestions' tags): ~17 ms of a ~20 ms redraw idle, 40 ms on a loaded 2-core machine. Only the
cutoff's own label is new per click. The cached masks are what the font itself returns, so the
chart is pixel for pixel the same.
"""

from __future__ import annotations

from typing import Any

#: Distinct (text, position fraction, colour) renderings kept per font; a chart uses ~20, and each
#: click adds one cutoff label.
MAX_ENTRIES = 512


def _key(name: str, text: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Hashable form of a call (newer Pillow passes `start` as a list)."""

    def frozen(value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    return (name, text, tuple(frozen(a) for a in args), tuple(sorted((k, frozen(v)) for k, v in kwargs.items())))


class CachedFont:
    """Wraps a Pillow font: `getmask2` and `getbbox` (what `ImageDraw.text`/`textbbox` call) are
    memoised; everything else goes to the font. The masks are never written to by Pillow."""

    def __init__(self, font: Any) -> None:
        self._font = font
        self._cache: dict[tuple[Any, ...], Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name == "_font":  # not set yet (copy, pickle): no endless recursion
            raise AttributeError(name)
        return getattr(self._font, name)

    def _remember(self, name: str, text: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        key = _key(name, text, args, kwargs)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= MAX_ENTRIES:
                self._cache.clear()
            found = self._cache[key] = getattr(self._font, name)(text, *args, **kwargs)
        return found

    def getmask2(self, text: Any, *args: Any, **kwargs: Any) -> Any:
        return self._remember("getmask2", text, args, kwargs)

    def getbbox(self, text: Any, *args: Any, **kwargs: Any) -> Any:
        return self._remember("getbbox", text, args, kwargs)
