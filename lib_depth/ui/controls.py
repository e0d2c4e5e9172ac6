"""The post-processing controls both sub-tabs share, defined once (and the "send to" buttons).

`PostControls` is the one ordered definition. Each of its fields is a control: the value's type
and default, the gradio component that shows it, the event that means "the user changed it", and
what the value sets in `DepthOptions`. The EXR tab's `MapControls` and the MiDaS tab's
`MidasControls` extend it with their own fields; the components (`lay_out`), the values a handler
gets (`from_values`, by name), the options (`options`) and the events that re-render
(`edit_events`) all come from these fields. A new control is one field here, and no position
anywhere moves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeVar

import gradio as gr

from ..depth.process import DepthOptions
from . import hosting
from .compat import commit_events

BITS_CHOICES = ("8-bit", "16-bit")
_CONTROL = "depth_tools_control"

#: How a user's edit shows: a tick or a choice (`input`), a number entered (Enter or leaving the
#: box: `compat.commit_events`), a slider let go (`release`, not one event per pixel dragged).
Listen = Literal["input", "commit", "release"]
C = TypeVar("C", bound="PostControls")


@dataclass(frozen=True, kw_only=True)
class Control:
    """What a field of a controls dataclass is besides its value."""

    build: Callable[[str], Any]  # elem_id -> the component (inside an open row or column)
    listen: Listen = "input"
    option: Callable[[Any], dict[str, Any]] | None = None  # the value -> `DepthOptions` keywords; None: none
    shown_by: str | None = None  # a checkbox control: this one shows only while that is ticked


def control(default: Any, build: Callable[[str], Any], listen: Listen = "input",
            option: Callable[[Any], dict[str, Any]] | None = None, shown_by: str | None = None) -> Any:
    """A dataclass field that is a control (see `Control`)."""
    spec = Control(build=build, listen=listen, option=option, shown_by=shown_by)
    return field(default=default, metadata={_CONTROL: spec})


def checkbox(label: str) -> Callable[[str], Any]:
    return lambda elem_id: gr.Checkbox(label=label, elem_id=elem_id)


def slider(spec: tuple[float, float, float, float], label: str, info: str) -> Callable[[str], Any]:
    """A slider from a (minimum, maximum, step, default) spec."""
    minimum, maximum, step, value = spec
    return lambda elem_id: gr.Slider(minimum=minimum, maximum=maximum, step=step, value=value, label=label,
                                     info=info, elem_id=elem_id)


def _bits_radio(elem_id: str) -> Any:
    return gr.Radio(label="PNG bit depth", choices=list(BITS_CHOICES), value=BITS_CHOICES[0], elem_id=elem_id)


def _seed_box(elem_id: str) -> Any:
    """Hidden at first: shown while "Noise in the background" is ticked (`shown_by`)."""
    return gr.Number(label="Noise seed", value=0, precision=0, visible=False, elem_id=elem_id)


@dataclass(frozen=True, kw_only=True)
class PostControls:
    """The post-processing both tabs offer, in layout order (two a row). `mask` sets no level: it
    asks for a mask PNG (and its preview) beside the map."""

    compress: bool = control(False, checkbox("Compress empty depth ranges"), option=lambda v: {"compress": bool(v)})
    invert: bool = control(False, checkbox("Invert (near = black)"), option=lambda v: {"invert": bool(v)})
    mask: bool = control(False, checkbox("Mask PNG (white = subject)"))
    noise: bool = control(False, checkbox("Noise in the background"), option=lambda v: {"noise": bool(v)})
    bits: str = control(BITS_CHOICES[0], _bits_radio, option=lambda v: {"bits": 16 if v == BITS_CHOICES[1] else 8})
    seed: float | None = control(0, _seed_box, "commit", option=lambda v: {"seed": int(v or 0)}, shown_by="noise")

    @classmethod
    def from_values(cls: type[C], values: Mapping[str, Any]) -> C:
        """The controls out of a handler's values by name; every field must be there (a control the
        wiring forgot is a KeyError naming it, never a silent default)."""
        missing = [f.name for f in fields(cls) if f.name not in values]
        if missing:
            raise KeyError(f"{cls.__name__}: no value for {', '.join(missing)}")
        return cls(**{f.name: values[f.name] for f in fields(cls)})

    def options(self, **more: Any) -> DepthOptions:
        """`DepthOptions` from every control that sets one, plus `more` (a tab's own, e.g. the cutoff)."""
        keywords: dict[str, Any] = {}
        for name, spec in controls_of(type(self)).items():
            if spec.option is not None:
                keywords.update(spec.option(getattr(self, name)))
        return DepthOptions(**keywords, **more)


def controls_of(specs: Any) -> dict[str, Control]:
    """The fields among `specs` (a controls dataclass or its fields) that are controls, in order."""
    chosen = fields(specs) if isinstance(specs, type) else specs
    return {f.name: f.metadata[_CONTROL] for f in chosen if _CONTROL in f.metadata}


def own_controls(cls: type[PostControls]) -> dict[str, Control]:
    """The controls `cls` adds to `PostControls` (a tab's own, laid out apart from the shared ones)."""
    shared = controls_of(PostControls)
    return {name: spec for name, spec in controls_of(cls).items() if name not in shared}


def lay_out(specs: Mapping[str, Control], prefix: str, per_row: int = 1) -> dict[str, Any]:
    """Build the controls (inside an open column), `per_row` a row; elem_ids are `<prefix>_<name>`.
    Returns the components by name."""
    built: dict[str, Any] = {}
    names = list(specs)
    for start in range(0, len(names), per_row):
        row = names[start : start + per_row]
        with gr.Row() if per_row > 1 else nullcontext():
            built.update({name: specs[name].build(f"{prefix}_{name}") for name in row})
    for name, spec in specs.items():
        if spec.shown_by is not None:
            built[spec.shown_by].change(lambda on: gr.update(visible=bool(on)), built[spec.shown_by], built[name])
    return built


def post_controls(prefix: str) -> dict[str, Any]:
    """The shared controls, two a row, as both tabs show them."""
    return lay_out(controls_of(PostControls), prefix, per_row=2)


def edit_events(specs: Mapping[str, Control], components: Mapping[str, Any],
                commit: Any = None) -> Iterator[Callable[..., Any]]:
    """The event listeners that mean "the user changed a control", one or more per control.
    `commit`: the tab's hidden commit button (`commit_button`), whose click stands for every typed
    number of the tab; without one, each box's own events (`compat.commit_events`)."""
    committed = False
    for name, spec in specs.items():
        component = components[name]
        if spec.listen != "commit":
            yield getattr(component, spec.listen)
        elif commit is None:
            yield from commit_events(component)
        elif not committed:
            committed = True
            yield commit.click


def commit_button(prefix: str) -> Any:
    """`<prefix>_commit`, hidden (status.STYLE): `javascript/depth_tools_tab.js` clicks it once per
    number typed and entered (Enter, or leaving the box). A box's own events fire twice for one
    value (gradio 3: Enter and leaving; gradio 4: the typing and Enter): two previews (issue 22)."""
    return gr.Button("Commit", elem_id=f"{prefix}_commit")


def send_buttons(result: gr.Image, prefix: str) -> None:
    """The WebUI's "Send to img2img / inpaint / extras" for `result`, side by side; nothing standalone."""
    host = hosting.current()
    if not host.can_send_images():
        return
    with gr.Row(elem_id=f"{prefix}_send"):
        host.create_send_buttons(result, prefix)
