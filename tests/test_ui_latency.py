"""What keeps the tab quick without losing the queue where work is long (bench/bench_tab_latency.py
measures the latency itself in chromium against real WebUIs; no timing here).

- Cut buttons, chart clicks and typed numbers have no gradio event at all: the tab's own script
  and route answer them (tests/test_tab_fast_path.py).
- Events that only re-level the loaded render (the post-processing ticks and choices, and the
  `sync` that brings gradio's values after the tab's route) skip gradio's queue and its progress
  overlay: the queue's round trip was most of a cut click's time.
- Loading renders, Make, MiDaS and sequences stay on the queue: progress bars and Interrupt need it.
- The chart's glyph cache draws the very same pixels.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from lib_depth.depth import chart
from lib_depth.ui.app import build_ui
from lib_depth.ui.exr import load_view
from lib_depth.ui.exr_events import SAMPLE

PREVIEW_HANDLERS = {"on_controls", "on_synced"}
FAST_PATH_HANDLERS = {"on_cutoff_typed", "pick", "on_no_cut", "on_chart_click"}
LONG_HANDLERS = {"on_source", "on_channel", "on_file_choice", "on_make_any", "on_run", "on_frame"}


def _events(blocks: Any) -> list[tuple[str, bool, str]]:
    """(handler name, queued, show_progress) of every event of the Blocks, read the same way from
    gradio 3.41 (a list + dependency dicts) and 4.x (a dict of BlockFunctions)."""
    fns = blocks.fns if isinstance(blocks.fns, list) else list(blocks.fns.values())
    dependencies = getattr(blocks, "dependencies", None)
    events = []
    for i, fn in enumerate(fns):
        dependency = dependencies[i] if isinstance(dependencies, list) else {}
        queue = getattr(fn, "queue", dependency.get("queue"))
        progress = getattr(fn, "show_progress", dependency.get("show_progress"))
        events.append((getattr(fn.fn, "__name__", ""), queue is not False, progress))
    return events


def test_preview_events_skip_the_queue_and_long_work_keeps_it() -> None:
    events = _events(build_ui().blocks)
    kinds = Counter(events)
    exr_preview = [e for e in events if not e[1]]
    assert {name for name, _, _ in exr_preview} == PREVIEW_HANDLERS, kinds
    assert not {name for name, _, _ in events} & FAST_PATH_HANDLERS, kinds  # the tab's route runs them
    assert {progress for _, _, progress in exr_preview} == {"hidden"}
    long_work = [e for e in events if e[0] in LONG_HANDLERS]
    assert {name for name, _, _ in long_work} == LONG_HANDLERS
    assert all(queued for _, queued, _ in long_work), kinds


def test_chart_glyph_cache_draws_the_same_pixels() -> None:
    view = load_view(str(SAMPLE), "auto", None, 1 << 26)
    chart._font.cache_clear()  # first drawings: straight from FreeType
    fresh = [chart.draw_histogram(view.histogram, cut) for cut in (None, 254.5, 300.25)]
    again = [chart.draw_histogram(view.histogram, cut) for cut in (300.25, None, 254.5)]
    for a, b in zip(fresh, [again[1], again[2], again[0]], strict=True):
        np.testing.assert_array_equal(a, b)
