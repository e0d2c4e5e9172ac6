"""The tab's own route (always), and the HTTP API in the WebUI: `/depth-tools/v1/...` on the
WebUI's own FastAPI app, only when it serves its API (`--api`, or `--nowebui`), as A1111 adds
`/sdapi` (webui.py), with the WebUI's MiDaS settings, its model unloading after each MiDaS
request, and its `--api-auth` credentials."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from ..api import ApiLimits, make_router
from . import host, models


def api_enabled() -> bool:
    return bool(host.cmd_opt("api", False) or host.cmd_opt("nowebui", False))


def credentials() -> dict[str, str]:
    """`--api-auth user:pass,user2:pass2`, parsed as A1111's Api does."""
    found: dict[str, str] = {}
    for pair in str(host.cmd_opt("api_auth", None) or "").split(","):
        user, sep, password = pair.partition(":")
        if sep:
            found[user] = password
    return found


async def _drain(request: Request) -> None:
    """Read what the client is still sending (up to the upload bound) before refusing it.

    Our routes stream their uploads themselves, so a refusal comes before the body is read; a
    server that answers and closes then leaves the client writing into a closed socket, and the
    client sees a broken pipe instead of the 401 (A1111's own routes parse their JSON bodies first)."""
    left = ApiLimits().json_body_limit()
    async for chunk in request.stream():
        left -= len(chunk)
        if left < 0:
            return


def auth_dependencies() -> list[Any]:
    """HTTP basic auth against `--api-auth`, as the WebUI's own routes require it; none without it."""
    users = credentials()
    if not users:
        return []

    # module-level names: FastAPI 0.94 resolves the (string) annotation in this module's globals
    basic = HTTPBasic(auto_error=False)  # a request without credentials is refused below, drained too

    async def check(request: Request, given: HTTPBasicCredentials | None = Depends(basic)) -> None:  # noqa: B008
        expected = None if given is None else users.get(given.username)
        if given is None or expected is None or not secrets.compare_digest(given.password, expected):
            await _drain(request)
            raise HTTPException(401, "Incorrect username or password", headers={"WWW-Authenticate": "Basic"})

    return [Depends(check)]


def app_started(demo: Any, app: Any) -> None:
    """on_app_started: the tab's own route (its previews, `ui.fast_preview`) always; the HTTP API
    when the WebUI serves its API."""
    from ..ui.fast_preview import make_tab_router  # gradio: imported in a WebUI only

    app.include_router(make_tab_router())
    if not api_enabled():
        return
    app.include_router(make_router(settings_fn=models.model_settings, after_midas=models.after_run,
                                   dependencies=auth_dependencies()))
