"""The HTTP API in the stand-in WebUI: mounted only when the WebUI serves its API (--api or
--nowebui, as A1111 adds /sdapi), behind --api-auth when that is set, with the WebUI's settings."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.api_support import docs_client, request, serve
from tests.host_double import WebUI

SCENE = Path(__file__).resolve().parents[1] / "examples" / "scene.exr"
client = docs_client()


def started(make_webui: Callable[..., WebUI], **flags: object) -> WebUI:
    webui = make_webui("controlnet", start=False)
    for name, value in flags.items():
        setattr(webui.shared.cmd_opts, name, value)
    webui.start()
    return webui


def test_no_routes_without_api(make_webui: Callable[..., WebUI]) -> None:
    webui = started(make_webui)
    with serve(webui.app()) as url:
        status, _ = request(f"{url}/depth-tools/v1/info", method="GET")
    assert status == 404 and webui.errors == []


@pytest.mark.parametrize("flag", ["api", "nowebui"])
def test_routes_with_api_or_nowebui(make_webui: Callable[..., WebUI], flag: str) -> None:
    webui = started(make_webui, **{flag: True})
    with serve(webui.app()) as url:
        info = client.call("info", url=url)
        answer = client.call("exr", SCENE, url, cutoff=300)
        status, doc = request(f"{url}/openapi.json", method="GET")  # the WebUI's own /docs lists them
    assert info["download"] is True  # the WebUI's setting (on by default), not the command line's
    assert answer["far"] == 300 and base64.b64decode(answer["depth"]).startswith(b"\x89PNG")
    assert status == 200 and "/depth-tools/v1/exr" in doc["paths"]
    assert webui.errors == []


def test_api_auth_is_required_when_set(make_webui: Callable[..., WebUI]) -> None:
    webui = started(make_webui, api=True, api_auth="ann:secret,bob:pw")
    with serve(webui.app()) as url:
        with pytest.raises(client.DepthToolsError) as caught:
            client.call("info", url=url)
        assert caught.value.status == 401
        with pytest.raises(client.DepthToolsError) as caught:
            client.call("exr", SCENE, url, auth=("ann", "wrong"))
        assert caught.value.status == 401
        assert client.call("exr", SCENE, url, auth=("bob", "pw"))["channel"] == "Y"


def test_a_refused_upload_is_heard_as_401_not_a_broken_pipe(make_webui: Callable[..., WebUI], tmp_path: Path) -> None:
    """The routes stream their uploads, so auth refuses before the body is read: the refusal waits
    until the client has sent it, or a 40 MB upload ends in a broken pipe instead of the 401."""
    big = tmp_path / "big.exr"
    big.write_bytes(bytes(40 << 20))
    webui = started(make_webui, api=True, api_auth="ann:secret")
    with serve(webui.app()) as url:
        for auth in (("ann", "wrong"), None):
            with pytest.raises(client.DepthToolsError) as caught:
                client.call("exr", big, url, auth=auth)
            assert caught.value.status == 401 and "Incorrect username or password" in str(caught.value.detail)
