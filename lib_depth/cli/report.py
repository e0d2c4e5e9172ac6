"""What the command line prints: the progress bar, the histogram advice, one file's lines."""

from __future__ import annotations

from typing import TextIO

from ..depth.pipeline import JobResult
from ..depth.process import Histogram


class Progress:
    """A one-line bar on a terminal; silent when output is piped (logs stay clean)."""

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self.total, self.done, self.stream, self.enabled = total, 0, stream, enabled

    def advance(self, label: str) -> None:
        self.done += 1
        if not self.enabled:
            return
        width = 30
        filled = width * self.done // self.total
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} {label[-40:]:<40}")
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def print_histogram(histogram: Histogram, out: TextIO, heading: str | None = None) -> None:
    """The seed tool's histogram advice (`--depth_cutoff histo`), under `heading` when given."""
    data = histogram.as_dict()
    if heading is not None:
        out.write(f"** {heading}\n")
    out.write("** providing cutting histogram advice, but leaving depthmap unchanged\n")
    for b in data["buckets"]:
        out.write(f"** - {b['index']:02d} - {b['share'] * 100:.2f}% - {b['lower_edge']}\n")
    if data["suggestions"]:
        cuts = ", ".join(f"{c:.2f}" for c in data["suggestions"])
        out.write(f"** suggested cuts (--depth_cutoff): {cuts}\n")
    else:
        out.write("** no empty depth range found: no cut suggested\n")


def print_result(result: JobResult, out: TextIO, err: TextIO, *, notes: bool, lines: bool,
                 histogram_heading: str | None = None, show_histogram: bool = False) -> None:
    """One file's lines: its error, else its `notes` (on stderr) and, with `lines`, the histogram
    advice (`show_histogram`) and the files written."""
    if not result.ok:
        err.write(f"error: {result.error}\n")
        return
    if notes:
        for note in result.notes:
            err.write(f"note: {result.source}: {note}\n")
    if not lines:
        return
    if result.histogram is not None and show_histogram:
        print_histogram(result.histogram, out, histogram_heading)
    for output in result.outputs:
        out.write(f"wrote {output}\n")
