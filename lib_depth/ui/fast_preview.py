"""The EXR tab's own preview route: a cut click answered without a gradio event.

Measured in a real Forge in chromium (issue 22), a gradio event costs the page two or three
70-90 ms re-renders of the whole WebUI (2,500 components) before the new preview's `src` is set;
the handler itself takes 6-11 ms. So the cut buttons, chart clicks and typed numbers of the EXR
tab are sent by `javascript/depth_tools_tab.js` to `POST /depth-tools/tab/exr/preview`, which runs
the tab's own handlers (`exr_events`: the same cutoffs, the same pixels) on the render the server
keeps under the page's key (`shown`), and answers the images as PNG data URLs, the status and the
cutoff, which the script sets in the page. The cutoff in force is kept with the render, so every
gradio event after it (*Make* too) uses it.

Safe to mount beside any app: it serves only previews of renders this server loaded, named by an
unguessable key; the body is a small JSON object; a bad request is a 4xx JSON `detail`, never a 500.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from dataclasses import fields
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..depth.normals import DEPTH_KINDS
from .controls import BITS_CHOICES
from .events import Updates
from .exr import MAX_CUT_BUTTONS, MapControls
from .exr_events import controls_in, made_with, on_chart_click, on_controls, on_cut, on_cutoff_typed, on_no_cut
from .shown import SHOWN

PREVIEW_ROUTE = "/depth-tools/tab/exr/preview"
#: A request is a few hundred bytes; anything near this is not the tab's script.
MAX_BODY = 16 * 1024
ACTIONS = ("cut", "no_cut", "chart", "typed", "controls")
#: The preview's images by their names in the answer (and the components they stand for).
IMAGES = {"chart": "chart", "depth": "depth_image", "normal": "normal_image", "mask": "mask_image"}
CHOICES = {"bits": BITS_CHOICES, "depth_is": DEPTH_KINDS}


class BadRequest(Exception):
    """A request the route refuses: the HTTP status and the one-line reason."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def _number(name: str, value: Any) -> float | None:
    """A number box's value as the page holds it: a number, its text, or empty (None)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadRequest(422, f"{name} must be a number, not {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadRequest(422, f"{name} must be a number, not {str(value)[:40]!r}") from None
    if not math.isfinite(number):
        raise BadRequest(422, f"{name} must be a finite number")
    return number


def parse_controls(raw: Any) -> dict[str, Any]:
    """The controls the page shows, by name (one it leaves out: its default), checked by type."""
    if not isinstance(raw, Mapping):
        raise BadRequest(400, "controls must be an object of the tab's controls by name")
    defaults = MapControls()
    names = [f.name for f in fields(MapControls) if f.name != "cutoff"]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise BadRequest(422, f"unknown controls: {', '.join(map(str, unknown))[:200]}")
    values: dict[str, Any] = {}
    for name in names:
        value = raw.get(name, getattr(defaults, name))
        if name in CHOICES and value not in CHOICES[name]:
            raise BadRequest(422, f"{name} must be one of {', '.join(CHOICES[name])}")
        if name in ("seed", "fov"):
            value = _number(name, value)
        elif name not in CHOICES and not isinstance(value, bool):
            raise BadRequest(422, f"{name} must be true or false")
        values[name] = value
    return values


def _index(body: Mapping[str, Any]) -> int:
    index = body.get("index")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < MAX_CUT_BUTTONS:
        raise BadRequest(422, f"index must be a suggestion's number, 0 to {MAX_CUT_BUTTONS - 1}")
    return index


def _point(body: Mapping[str, Any]) -> list[float]:
    x, y = _number("x", body.get("x")), _number("y", body.get("y"))
    if x is None:
        raise BadRequest(422, "a chart click needs x (and y): the picture's pixel clicked")
    return [x] if y is None else [x, y]


def run_action(action: str, body: Mapping[str, Any], values: dict[str, Any]) -> Updates:
    """The tab's own handler for `action`, on `values` as a gradio event would hand them."""
    if action == "cut":
        return on_cut(_index(body))(values)
    if action == "no_cut":
        return on_no_cut(values)
    if action == "chart":
        return on_chart_click(values, SimpleNamespace(index=_point(body)))
    if action == "typed":
        return on_cutoff_typed({**values, "cutoff": _number("cutoff", body.get("cutoff"))})
    return on_controls(values)


def data_url(picture: Any) -> str | None:
    """A preview image as the page shows it: a PNG data URL (None: nothing new to show)."""
    if isinstance(picture, dict):  # a gr.update: its value, if it has one and is shown
        picture = picture.get("value") if picture.get("visible", True) else None
    if not isinstance(picture, np.ndarray):
        return None
    if picture.ndim == 3:
        picture = cv2.cvtColor(picture, cv2.COLOR_RGB2BGR if picture.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    ok, png = cv2.imencode(".png", picture, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        return None
    return "data:image/png;base64," + base64.b64encode(png.tobytes()).decode("ascii")


def answer(body: Any) -> dict[str, Any]:
    """The route's answer to `body` (`{"view": key, "action": ..., "controls": {...}, ...}`);
    BadRequest for what it refuses."""
    if not isinstance(body, Mapping):
        raise BadRequest(400, "the body must be a JSON object")
    action = body.get("action")
    if action not in ACTIONS:
        raise BadRequest(422, f"action must be one of {', '.join(ACTIONS)}")
    shown = SHOWN.get(body.get("view"))
    if shown is None:
        raise BadRequest(404, "no such render on this server (reloaded or expired): upload it again")
    values = {"view": shown.view, "view_key": body["view"], "cutoff_state": shown.cutoff,
              **parse_controls(body.get("controls", {}))}
    out = run_action(action, body, values)
    if not out:  # a chart click beside the plot
        return {"changed": False, "cutoff": shown.cutoff}
    cutoff = out.get("cutoff_state", shown.cutoff)
    SHOWN.update(body["view"], cutoff=cutoff)
    values["cutoff_state"] = cutoff
    reply: dict[str, Any] = {name: data_url(out.get(component)) for name, component in IMAGES.items()}
    return {**reply, "changed": True, "cutoff": cutoff, "status": out.get("status", ""),
            "stale": not made_with(values, controls_in(values))}


def _refusal(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


async def preview(request: Request) -> JSONResponse:
    """`POST PREVIEW_ROUTE`: JSON in, JSON out (`answer`)."""
    if "json" not in request.headers.get("content-type", ""):
        return _refusal(415, "send application/json")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return _refusal(413, f"the body is over {MAX_BODY} bytes")
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _refusal(400, "the body is not JSON")
    try:
        return JSONResponse(await run_in_threadpool(answer, parsed))
    except BadRequest as exc:
        return _refusal(exc.status, exc.detail)


def make_tab_router() -> APIRouter:
    """The tab's routes, for the app the tab is served by (standalone, or the WebUI's)."""
    router = APIRouter()
    router.add_api_route(PREVIEW_ROUTE, preview, methods=["POST"], include_in_schema=False)
    return router
