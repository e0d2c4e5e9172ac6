"""What the EXR tab's events hand their handlers, by name, for the UI tests that call handlers
directly (`tests/test_ui_exr.py`, `tests/test_ui_sequence.py`): the names are `ExrTab`'s, as the
wiring gives them (`test_wired_handlers_read_their_inputs_and_answer_their_outputs` pins that).
"""

from __future__ import annotations

import html
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lib_depth.ui.exr import MapControls
from lib_depth.ui.exr_events import MADE

Values = dict[str, Any]


def controls(**changes: object) -> Values:
    """The controls' values by name, as the tab's events hand them over (the cutoff in force is
    the `cutoff_state`)."""
    values = {**vars(MapControls()), **changes}
    values["cutoff_state"] = values.pop("cutoff")
    return values


def upload(*paths: Path) -> list[SimpleNamespace]:
    """What gradio 3 hands a `gr.File(file_count="multiple")` handler: objects with `.name`."""
    return [SimpleNamespace(name=str(p)) for p in paths]


def files(*paths: Path, channel: str = "auto", choice: str | None = None, view: str | None = None,
          **changes: object) -> Values:
    """The values of the events that read files: the uploads (none: None), their dropdowns, the controls."""
    return {"files": upload(*paths) if paths else None, "channel": channel, "file_choice": choice,
            "view_choice": view, **controls(**changes)}


def made(out: dict[str, Any]) -> tuple[Any, Any, str]:
    """*Make depth maps*' answer (all of `MADE`): downloads, result image, status."""
    assert set(out) == set(MADE)
    return out["downloads"], out["result"], out["status"]


def text(html_status: str) -> str:
    return html.unescape(html_status)
