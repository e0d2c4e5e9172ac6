"""The depth histogram as a picture: where the pixels are, where to cut, and what a cut removes.

Drawn with Pillow rather than a gradio plot component, so it looks the same under gradio 3.x and
4.x (their plot components differ) and needs no plotting library. The y axis is logarithmic: a
render is often 80 % back wall and 0.05 % per empty bucket, and on a linear axis the buckets that
decide the cut would be invisible. `ChartLayout` maps a click on the picture back to a depth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .glyph_cache import CachedFont
from .process import EMPTY_BUCKET_SHARE, Histogram

#: Drawn at twice the displayed size so it stays crisp on high-density screens.
SCALE = 2
WIDTH, HEIGHT = 640, 240
#: The chart's title in the tab, where a click on it sets the cutoff.
CLICK_TITLE = "Pixels per depth bucket (log scale): click to cut"
TITLE = "Pixels per depth bucket (log scale)"
#: Log axis floor: buckets with a smaller share of the image are drawn as a stub.
MIN_SHARE = 1e-4

PANEL = (17, 24, 39)
GRID = (55, 65, 81)
TEXT = (209, 213, 219)
MUTED = (148, 163, 184)
OCCUPIED = (96, 165, 250)
EMPTY = (71, 85, 105)
SUGGESTION = (251, 191, 36)
CUTOFF = (248, 113, 113)
BEYOND = (30, 16, 24)


@dataclass(frozen=True)
class ChartLayout:
    """Where the plot area sits in the picture (in the picture's own pixels) and what it spans."""

    left: int
    right: int
    top: int
    bottom: int
    near: float
    far: float

    def x_of(self, depth: float) -> float:
        span = self.far - self.near
        t = 0.5 if span <= 0 else (depth - self.near) / span
        return self.left + t * (self.right - self.left)

    def depth_at(self, x: float) -> float | None:
        """The depth under picture column `x`, or None outside the plot (a click beside it)."""
        if not self.left <= x <= self.right or self.far <= self.near:
            return None
        return self.near + (x - self.left) / (self.right - self.left) * (self.far - self.near)

    def y_of(self, share: float) -> float:
        low, high = math.log10(MIN_SHARE), 0.0
        t = (math.log10(max(share, MIN_SHARE)) - low) / (high - low)
        return self.bottom - t * (self.bottom - self.top)


def layout(histogram: Histogram, width: int = WIDTH, height: int = HEIGHT) -> ChartLayout:
    s = SCALE
    return ChartLayout(
        left=52 * s,
        right=(width - 20) * s,
        top=54 * s,
        bottom=(height - 40) * s,
        near=float(histogram.edges[0]),
        far=float(histogram.edges[-1]),
    )


def decimals_for(near: float, far: float) -> int:
    """Decimals that resolve a thousandth of the depth range (2 for renders in cm, more in metres)."""
    span = far - near
    if not span > 0 or not math.isfinite(span):
        return 2
    return int(min(6, max(2, math.ceil(-math.log10(span / 1000)))))


def format_depth(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


@lru_cache(maxsize=8)
def _font(size: int) -> CachedFont:
    """The chart's font at `size`, remembering what it rendered: a redraw renders only new text."""
    return CachedFont(_load_font(size))


def _load_font(size: int) -> ImageFont.ImageFont:
    """Pillow's scalable built-in font (Pillow >= 10.1), else DejaVu, else the bitmap default
    (the WebUI pins Pillow 9.5, which has no sized built-in font)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        pass
    for name in ("DejaVuSans.ttf", "Arial.ttf", "LiberationSans-Regular.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default()


def _text_width(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont) -> int:
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    return int(right - left)


def _dashed_vline(draw: ImageDraw.ImageDraw, x: float, top: float, bottom: float, colour: tuple, width: int) -> None:
    dash = 6 * SCALE
    y = top
    while y < bottom:
        draw.line([(x, y), (x, min(y + dash, bottom))], fill=colour, width=width)
        y += 2 * dash


def _dim(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """A bar beyond the cutoff: the same hue, faded into the shaded region."""
    return tuple(int(c * 0.45 + b * 0.55) for c, b in zip(colour, BEYOND, strict=True))  # type: ignore[return-value]


def _share_label(share: float) -> str:
    percent = share * 100
    return f"{percent:g}%"


@dataclass(frozen=True)
class _Canvas:
    """What every part of the chart is drawn with."""

    draw: ImageDraw.ImageDraw
    box: ChartLayout
    small: ImageFont.ImageFont
    digits: int  # decimals of the depth labels

    def label(self, xy: tuple[float, float], text: str, colour: tuple) -> None:
        self.draw.text(xy, text, fill=colour, font=self.small)

    def width_of(self, text: str) -> int:
        return _text_width(self.draw, text, self.small)


def draw_histogram(
    histogram: Histogram,
    cutoff: float | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
    title: str = CLICK_TITLE,
) -> np.ndarray:
    """uint8 HxWx3 RGB picture (SCALE times `width` x `height`) of the 20 buckets, under `title`
    (the tab's chart is clicked to cut; a ComfyUI node's picture is not).

    Occupied buckets are blue, near-empty ones (what the cut suggestions look for) grey; each
    suggestion is an amber dashed line with its value; the cutoff is a red line, and the depths
    beyond it, which all become the far level, are shaded.
    """
    s = SCALE
    box = layout(histogram, width, height)
    image = Image.new("RGB", (width * s, height * s), PANEL)
    draw = ImageDraw.Draw(image)
    canvas = _Canvas(draw, box, _font(12 * s), decimals_for(box.near, box.far))
    draw.text((box.left, 8 * s), title, fill=TEXT, font=_font(13 * s))
    legend = "blue: occupied   grey: near-empty"
    canvas.label((box.right - canvas.width_of(legend), 9 * s), legend, MUTED)
    _draw_grid(canvas)
    cut = cutoff if cutoff is not None and box.near < cutoff < box.far else None
    if cut is not None:
        draw.rectangle([box.x_of(cut), box.top, box.right, box.bottom], fill=BEYOND)
    _draw_bars(canvas, histogram, cut)
    _draw_suggestions(canvas, histogram.suggestions)
    if cut is not None:
        _draw_cutoff(canvas, cut)
    _draw_depth_axis(canvas, width * s)
    return np.asarray(image)


def _draw_grid(canvas: _Canvas) -> None:
    """The log axis: a line and a share label per power of ten."""
    box, s = canvas.box, SCALE
    for exponent in range(round(math.log10(MIN_SHARE)), 1):
        share = 10.0**exponent
        y = box.y_of(share)
        canvas.draw.line([(box.left, y), (box.right, y)], fill=GRID, width=1)
        label = _share_label(share)
        canvas.label((box.left - 6 * s - canvas.width_of(label), y - 7 * s), label, MUTED)


def _draw_bars(canvas: _Canvas, histogram: Histogram, cut: float | None) -> None:
    """One bar per bucket: blue occupied, grey near-empty, faded beyond the cutoff."""
    box, s = canvas.box, SCALE
    valid_total = max(int(histogram.counts.sum()), 1)
    step = (box.right - box.left) / len(histogram.counts)
    for i, (count, share) in enumerate(zip(histogram.counts, histogram.shares, strict=True)):
        x0 = box.left + i * step + 1.5 * s
        x1 = box.left + (i + 1) * step - 1.5 * s
        colour = OCCUPIED if count / valid_total >= EMPTY_BUCKET_SHARE else EMPTY
        if cut is not None and histogram.edges[i] >= cut:
            colour = _dim(colour)
        y = box.y_of(share) if count else box.bottom
        canvas.draw.rectangle([x0, min(y, box.bottom - 2 * s), x1, box.bottom], fill=colour)


def _draw_suggestions(canvas: _Canvas, suggestions: tuple[float, ...]) -> None:
    """Amber dashed lines, and a "cut 254.50" tag above each where it does not overlap another."""
    box, s, draw = canvas.box, SCALE, canvas.draw
    for cut_at in suggestions:
        _dashed_vline(draw, box.x_of(cut_at), box.top - 3 * s, box.bottom, SUGGESTION, 2 * s)
    taken: list[tuple[float, float]] = []
    for cut_at in suggestions:
        x = box.x_of(cut_at)
        label = f"cut {format_depth(cut_at, canvas.digits)}"
        w = canvas.width_of(label) + 10 * s
        lx = min(max(x - w / 2, box.left), box.right - w)
        if any(lx < b and lx + w > a for a, b in taken):
            continue  # two suggestions closer than a label: the buttons below still list both
        taken.append((lx, lx + w))
        ty = box.top - 21 * s
        draw.rounded_rectangle([lx, ty, lx + w, ty + 16 * s], radius=4 * s, fill=SUGGESTION)
        draw.polygon([(x - 4 * s, ty + 16 * s), (x + 4 * s, ty + 16 * s), (x, ty + 20 * s)], fill=SUGGESTION)
        canvas.label((lx + 5 * s, ty + 2 * s), label, PANEL)


def _draw_cutoff(canvas: _Canvas, cut: float) -> None:
    """The red cutoff line and what it does, on the side where the label fits."""
    box, s = canvas.box, SCALE
    x = box.x_of(cut)
    canvas.draw.line([(x, box.top), (x, box.bottom)], fill=CUTOFF, width=2 * s)
    label = f"cutoff {format_depth(cut, canvas.digits)}: all beyond becomes far (black)"
    w = canvas.width_of(label)
    lx = x + 6 * s if x + 6 * s + w <= box.right else x - 6 * s - w
    canvas.draw.rectangle([lx - 3 * s, box.top + 3 * s, lx + w + 3 * s, box.top + 19 * s], fill=BEYOND)
    canvas.label((lx, box.top + 4 * s), label, CUTOFF)


def _draw_depth_axis(canvas: _Canvas, picture_width: int) -> None:
    """The depth axis under the plot: six ticks with their depths, and what the axis means."""
    box, s = canvas.box, SCALE
    canvas.draw.line([(box.left, box.bottom), (box.right, box.bottom)], fill=MUTED, width=s)
    ticks = 5
    for j in range(ticks + 1):
        value = box.near + (box.far - box.near) * j / ticks
        x = box.x_of(value)
        canvas.draw.line([(x, box.bottom), (x, box.bottom + 4 * s)], fill=MUTED, width=s)
        label = format_depth(value, canvas.digits)
        lx = min(max(x - canvas.width_of(label) / 2, box.left - 20 * s), picture_width - canvas.width_of(label) - 4 * s)
        canvas.label((lx, box.bottom + 6 * s), label, MUTED)
    axis = "depth in scene units: near (white in the map) to far (black)"
    canvas.label((box.left, box.bottom + 22 * s), axis, MUTED)
