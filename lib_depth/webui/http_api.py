"""The HTTP API in the WebUI: `/depth-tools/v1/...` on the WebUI's own FastAPI app, only when it
serves its API (`--api`, or `--nowebui`), as A1111 adds `/sdapi` (webui.py) — with the WebUI's
MiDaS settings, its model unloading after each MiDaS request, and its `--api-auth` credentials."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import Depends, HTTPException
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from ..api import make_router
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


def auth_dependencies() -> list[Any]:
    """HTTP basic auth against `--api-auth`, as the WebUI's own routes require it; none without it."""
    users = credentials()
    if not users:
        return []

    # module-level names: FastAPI 0.94 resolves the (string) annotation in this module's globals
    def check(given: HTTPBasicCredentials = Depends(HTTPBasic())) -> None:  # noqa: B008 (FastAPI idiom)
        expected = users.get(given.username)
        if expected is None or not secrets.compare_digest(given.password, expected):
            raise HTTPException(401, "Incorrect username or password", headers={"WWW-Authenticate": "Basic"})

    return [Depends(check)]


def app_started(demo: Any, app: Any) -> None:
    """on_app_started: include the routes when the WebUI serves its API."""
    if not api_enabled():
        return
    app.include_router(make_router(settings_fn=models.midas_settings, after_midas=models.after_run,
                                   dependencies=auth_dependencies()))
