"""The HTTP API through real HTTP: the standalone server (`python -m lib_depth.ui`, a subprocess)
and the stand-in WebUI's app with `--api` (A1111's error middleware, uvicorn in a thread).

Answers are compared with what the command line writes for the same file and options, byte for
byte; every user mistake must be a 4xx with the command line's words in `detail`.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from lib_depth import cli
from lib_depth.api import ApiLimits, make_router
from lib_depth.depth.exr import write_depth
from lib_depth.depth.png import read_png
from lib_depth.depth.sample import synthetic_scene
from lib_depth.webui.settings import OPT_ALLOW_DOWNLOAD, OPT_DEVICE, OPT_PRECISION, OPT_WEIGHTS_DIR
from tests.api_support import docs_client, post_json, request, serve
from tests.fixtures_ui import UiServer
from tests.host_double import webui_double

REPO = Path(__file__).resolve().parents[1]
SCENE = REPO / "examples" / "scene.exr"
MIB = 1 << 20
client = docs_client()


@pytest.fixture(scope="module")
def webui_api(tmp_path_factory: pytest.TempPathFactory, midas_checkpoint: Path) -> Iterator[tuple[str, Any]]:
    """The stand-in WebUI started with --api, its weights folder holding the random checkpoint:
    (base URL, the WebUI's handles)."""
    with webui_double(tmp_path_factory.mktemp("webui_api"), "controlnet") as webui:
        webui.shared.cmd_opts.api = True
        webui.start()
        webui.shared.opts.data.update({OPT_WEIGHTS_DIR: str(midas_checkpoint.parent), OPT_ALLOW_DOWNLOAD: False,
                                       OPT_DEVICE: "cpu", OPT_PRECISION: "fp32"})
        with serve(webui.app()) as url:
            yield url, webui
        assert webui.errors == []


@pytest.fixture(params=["standalone", "webui"])
def base(request: pytest.FixtureRequest) -> str:
    """Each server's base URL (the routes are under /depth-tools/v1)."""
    if request.param == "standalone":
        server: UiServer = request.getfixturevalue("ui_server")
        return server.url.rstrip("/")
    return request.getfixturevalue("webui_api")[0]


@pytest.fixture(scope="module")
def bounded() -> Iterator[str]:
    """A server with small bounds (1 MiB, 0.1 Mpx), to pass them without sending 512 MiB."""
    from fastapi import FastAPI

    app = FastAPI()
    app.include_router(make_router(limits=ApiLimits(max_upload_bytes=MIB, max_pixels=100_000)))
    with serve(app) as url:
        yield url


def cli_result(path: Path, out: Path, *flags: str) -> tuple[dict, dict[str, bytes]]:
    """The command line's --json result for `path` and the PNG bytes it wrote."""
    out.mkdir(parents=True, exist_ok=True)
    args = [str(path), "--json", "-q", "-o", str(out), *flags]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert cli.main(args) == 0
    [result] = json.loads(stdout.getvalue())["files"]
    pngs = {Path(p).name.split(".")[-2]: Path(p).read_bytes() for p in result["outputs"]}
    return result, pngs


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_exr_json_and_multipart_give_the_command_line_bytes(base: str, tmp_path: Path) -> None:
    flags = ("--depth_cutoff", "340", "--compress_map", "--mask", "--noise", "--seed", "7", "--bits", "16")
    expected, pngs = cli_result(SCENE, tmp_path / "cli", *flags)
    options = {"cutoff": 340.0, "compress": True, "mask": True, "noise": True, "seed": 7, "bits": 16}
    status, as_json = post_json(f"{base}/depth-tools/v1/exr", {"exr": b64(SCENE), "filename": "scene.exr", **options})
    assert status == 200, as_json
    as_form = client.call("exr", SCENE, base, **options)
    for answer in (as_json, as_form):
        assert base64.b64decode(answer["depth"]) == pngs["depth"]
        assert base64.b64decode(answer["mask"]) == pngs["mask"]
        assert (answer["near"], answer["far"], answer["channel"]) == (expected["near"], expected["far"], "Y")
        assert answer["histogram"] == expected["histogram"]
        assert (answer["file"], answer["width"], answer["height"], answer["bits"]) == ("scene.exr", 768, 512, 16)


def test_defaults_are_the_command_lines(base: str, tmp_path: Path) -> None:
    _, pngs = cli_result(SCENE, tmp_path / "cli")
    answer = client.call("exr", SCENE, base)
    assert base64.b64decode(answer["depth"]) == pngs["depth"] and answer["mask"] is None
    assert answer["histogram"]["suggestions"] == pytest.approx([254.50, 340.50], abs=0.01)


def test_histogram_alone(base: str, tmp_path: Path) -> None:
    expected, _ = cli_result(SCENE, tmp_path / "cli", "--depth_cutoff", "histo")
    answer = client.call("histogram", SCENE, base, channel="Y")
    assert answer["histogram"] == expected["histogram"] and answer["channel"] == "Y"
    assert "depth" not in answer and (answer["width"], answer["height"]) == (768, 512)


def test_midas_gives_the_command_lines_maps(base: str, tmp_path: Path, midas_checkpoint: Path) -> None:
    image = np.full((72, 120, 3), 128, np.uint8)
    image[:, :60] = np.random.default_rng(0).integers(0, 256, (72, 60, 3), dtype=np.uint8)
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), image)
    cli_result(path, tmp_path / "cli", "--weights", str(midas_checkpoint), "--device", "cpu",
               "--precision", "fp32", "--resolution", "64", "--normal", "--mask", "--bg-threshold", "0.2")
    answer = client.call("midas", path, base, resolution=64, bg_threshold=0.2, mask=True)
    assert (answer["device"], answer["precision"], answer["width"], answer["height"]) == ("cpu", "fp32", 120, 72)
    for name in ("depth", "normal", "mask"):
        got = tmp_path / f"api.{name}.png"
        got.write_bytes(base64.b64decode(answer[name]))
        want = tmp_path / "cli" / f"photo.{name}.png"
        # the standalone server is another process (other torch threads): allow one level of rounding
        diff = np.abs(read_png(got).astype(int) - read_png(want).astype(int))
        assert diff.max() <= 1 and np.mean(diff) < 0.01, name
    info = client.call("info", url=base)
    assert info["loaded"] and info["weights_found"] and info["weights"] == str(midas_checkpoint)
    assert (info["device"], info["precision"]) == ("cpu", "fp32")


def test_info_without_loading(base: str) -> None:
    info = client.call("info", url=base)
    assert info["version"] and info["max_upload_bytes"] == 512 * MIB and info["max_pixels"] == 1 << 28
    assert info["weights_found"] and info["searched"]
    models = {m["name"]: m for m in info["models"]}
    assert models["midas"]["weights"] == info["weights"] and models["midas"]["loaded"] == info["loaded"]
    # each model's own weights: MiDaS's file is never listed as Depth Anything's (it once was, in a real A1111)
    assert models["depth-anything-v2"]["weights"] != info["weights"]


# --- every status code --------------------------------------------------------------------------


def test_bad_input_is_400_in_the_command_lines_words(base: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "notes.exr"
    bad.write_bytes(b"not an exr at all")
    assert cli.main([str(bad)]) == 1
    cli_line = capsys.readouterr().err.strip()
    with pytest.raises(client.DepthToolsError) as caught:
        client.call("exr", bad, base)
    assert caught.value.status == 400 and cli_line == f"error: {tmp_path}/{caught.value.detail}"
    empty = tmp_path / "sky.exr"
    write_depth(empty, np.full((8, 8), np.inf, np.float32))
    for route, path, words in (("exr", empty, "sky.exr: no depth in the image"),
                               ("histogram", empty, "sky.exr: no depth in the image"),
                               ("midas", bad, "notes.exr: cannot decode the image")):
        with pytest.raises(client.DepthToolsError) as caught:
            client.call(route, path, base)
        assert caught.value.status == 400 and caught.value.detail.startswith(words), caught.value.detail
    url = f"{base}/depth-tools/v1/exr"
    for body, words in ((b"[1, 2]", "must be a JSON object"), (b"{oops", "not valid JSON"),
                        (b'{"cutoff": 3}', "no file"), (b'{"exr": "!!!!"}', "empty file (0 bytes)")):
        status, answer = request(url, body, {"Content-Type": "application/json"})
        assert status == 400 and words in answer["detail"], answer


def test_bad_options_are_422(base: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main([str(SCENE), "--depth_cutoff", "100", "-o", str(tmp_path)]) == 1
    cli_line = capsys.readouterr().err.strip()
    cases = [
        ("exr", {"cutoff": 100}, "scene.exr: cutoff 100 is at or below the nearest depth"),
        ("exr", {"bits": 7}, "bits must be 8 or 16, not 7"),
        ("exr", {"cuttoff": 300}, "unknown option(s) 'cuttoff'"),
        ("exr", {"channel": "Q"}, "scene.exr: no channel named 'Q'; channels in this file: Y"),
        ("exr", {"background_above": -1}, "background_above"),
        ("histogram", {"mask": True}, "unknown option(s) 'mask'"),
        ("midas", {"resolution": 10}, "resolution"),
        ("midas", {"precision": "fp8"}, "unknown precision 'fp8'"),
    ]
    image = tmp_path / "gray.png"
    cv2.imwrite(str(image), np.full((64, 64), 90, np.uint8))
    for route, options, words in cases:
        with pytest.raises(client.DepthToolsError) as caught:
            client.call(route, image if route == "midas" else SCENE, base, **options)
        assert caught.value.status == 422 and words in caught.value.detail, (options, caught.value.detail)
    with pytest.raises(client.DepthToolsError) as caught:
        client.call("exr", SCENE, base, cutoff=100)
    assert cli_line == f"error: {SCENE}: {caught.value.detail.removeprefix('scene.exr: ')}"


def test_not_json_nor_a_form_is_415(base: str) -> None:
    status, answer = request(f"{base}/depth-tools/v1/exr", b"x", {"Content-Type": "text/plain"})
    assert status == 415 and "multipart/form-data" in answer["detail"]


def test_too_large_is_413_before_the_body_or_the_pixels(base: str, tmp_path: Path) -> None:
    # a Content-Length over the bound is refused before a byte of the body is read
    headers = {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(600 * MIB)}
    status, answer = request(f"{base}/depth-tools/v1/exr", headers=headers, send_body=False)
    assert status == 413 and "512 MiB" in answer["detail"]
    # a header claiming 20000x20000 pixels (8x8 stored) is refused from the header, before decoding
    claim = tmp_path / "claim.exr"
    write_depth(claim, np.ones((8, 8), np.float32), display_size=(20000, 20000))
    start = time.perf_counter()
    for route in ("exr", "histogram"):
        with pytest.raises(client.DepthToolsError) as caught:
            client.call(route, claim, base)
        assert caught.value.status == 413
        assert "claim.exr: image too large: the header claims a display window of 20000 x 20000" in caught.value.detail
    assert time.perf_counter() - start < 5


def test_streamed_bodies_are_cut_off_at_the_bound(bounded: str, tmp_path: Path) -> None:
    url = f"{bounded}/depth-tools/v1/exr"
    uploads = set(Path(tempfile.gettempdir()).glob("depth-tools-upload-*"))
    big = SCENE.read_bytes() + bytes(2 * MIB)
    head = b'--b\r\nContent-Disposition: form-data; name="exr"; filename="big.exr"\r\n\r\n'
    chunks = (head, *(big[i : i + 65536] for i in range(0, len(big), 65536)), b"\r\n--b--\r\n")
    status, answer = request(url, iter(chunks), {"Content-Type": "multipart/form-data; boundary=b"})  # chunked
    assert status == 413 and "1 MiB" in answer["detail"]
    status, answer = post_json(url, {"exr": base64.b64encode(big).decode()})
    assert status == 413
    image = tmp_path / "wide.png"
    cv2.imwrite(str(image), np.zeros((200, 600), np.uint8))  # 120 000 pixels > 100 000
    with pytest.raises(client.DepthToolsError) as caught:
        client.call("midas", image, bounded)
    assert caught.value.status == 413  # the command line's own words, from the header, before decoding
    assert "wide.png: image too large: the PNG header claims 600 x 200 = 120,000 pixels" in caught.value.detail
    assert set(Path(tempfile.gettempdir()).glob("depth-tools-upload-*")) <= uploads  # none left behind


def test_missing_weights_are_503_naming_the_places(webui_api: tuple[str, Any], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    url, webui = webui_api
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setitem(webui.shared.opts.data, OPT_WEIGHTS_DIR, str(tmp_path / "empty"))
    image = tmp_path / "gray.png"
    cv2.imwrite(str(image), np.full((64, 64), 90, np.uint8))
    with pytest.raises(client.DepthToolsError) as caught:
        client.call("midas", image, url, resolution=64)
    assert caught.value.status == 503
    assert "dpt_hybrid-midas-501f0c75.pt" in caught.value.detail and str(tmp_path / "empty") in caught.value.detail
    info = client.call("info", url=url)
    assert not info["weights_found"] and info["weights"] is None and str(tmp_path / "empty") in info["searched"]


# --- size and concurrency ------------------------------------------------------------------------


def test_a_200_mib_upload(ui_server: UiServer, tmp_path: Path) -> None:
    """A real render followed by 200 MiB of padding (OpenEXR reads by offset and ignores what
    follows): the whole body crosses HTTP and the multipart parser, and the answer is the render's."""
    padded = tmp_path / "scene.exr"
    shutil.copy(SCENE, padded)
    with padded.open("ab") as fh:
        fh.truncate(200 * MIB)
    base = ui_server.url.rstrip("/")
    start = time.perf_counter()
    answer = client.call("exr", padded, base, mask=True)
    elapsed = time.perf_counter() - start
    plain = client.call("exr", SCENE, base, mask=True)
    assert answer["depth"] == plain["depth"] and answer["mask"] == plain["mask"]
    assert elapsed < 30


def test_eight_requests_at_once(ui_server: UiServer, tmp_path: Path) -> None:
    base = ui_server.url.rstrip("/")
    files = []
    for i in range(8):
        path = tmp_path / f"frame{i}.exr"
        write_depth(path, synthetic_scene(160 + 8 * i, 96, sky=np.nan), channel="Z")
        files.append(path)
    options = [{"cutoff": 300.0 + 10 * i, "noise": i % 2 == 1, "seed": i, "mask": True} for i in range(8)]
    expected = []
    for i, path in enumerate(files):
        flags = ["--depth_cutoff", str(options[i]["cutoff"]), "--seed", str(i), "--mask"]
        expected.append(cli_result(path, tmp_path / f"cli{i}", *flags, *(["--noise"] if i % 2 else []))[1])
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: client.call("exr", files[i], base, **options[i]), range(8)))
    for i, answer in enumerate(answers):
        assert base64.b64decode(answer["depth"]) == expected[i]["depth"], i
        assert base64.b64decode(answer["mask"]) == expected[i]["mask"], i
        assert answer["file"] == f"frame{i}.exr" and answer["width"] == 160 + 8 * i


# --- the OpenAPI page ----------------------------------------------------------------------------


def test_openapi_documents_every_field(base: str) -> None:
    status, doc = request(f"{base}/depth-tools/v1/openapi.json", method="GET")
    assert status == 200
    for route, file_field in (("exr", "exr"), ("histogram", "exr"), ("midas", "image")):
        operation = doc["paths"][f"/depth-tools/v1/{route}"]["post"]
        content = operation["requestBody"]["content"]
        assert set(content) == {"application/json", "multipart/form-data"}
        assert content["multipart/form-data"]["schema"]["properties"][file_field]["format"] == "binary"
        for schema in (c["schema"] for c in content.values()):
            undocumented = [name for name, field in schema["properties"].items() if not field.get("description")]
            assert not undocumented, (route, undocumented)
        assert {"200", "400", "413", "415", "422"} <= set(operation["responses"])
    assert "503" in doc["paths"]["/depth-tools/v1/midas"]["post"]["responses"]
    schemas = doc["components"]["schemas"]
    for name in ("ExrResponse", "MidasResponse", "HistogramResponse", "InfoResponse", "ErrorResponse", "Bucket"):
        undocumented = [field for field, spec in schemas[name]["properties"].items() if not spec.get("description")]
        assert not undocumented, (name, undocumented)


def test_exr_normal_maps_are_the_command_lines(base: str, tmp_path: Path) -> None:
    """`normal` (and its fov / depth_is / camera_rotation) give the command line's normal PNG, from the
    depth or from Blender's own pass; a wrong rotation is a 422 in the command line's words."""
    from tests.test_normals import BLENDER, CAMERAS

    render = BLENDER / "move_f1.exr"
    rotation = CAMERAS["move_f1"]["rotation_degrees"]
    _, from_depth = cli_result(render, tmp_path / "depth", "--normal", "--fov", "40", "--depth-is", "distance")
    _, from_pass = cli_result(render, tmp_path / "pass", "--normal", "--camera-rotation", *map(str, rotation))
    answer = client.call("exr", render, base, normal=True, fov=40, depth_is="distance")
    assert base64.b64decode(answer["normal"]) == from_depth["normal"]
    status, as_json = post_json(f"{base}/depth-tools/v1/exr", {"exr": b64(render), "filename": "move_f1.exr",
                                                               "normal": True, "camera_rotation": rotation})
    assert status == 200 and base64.b64decode(as_json["normal"]) == from_pass["normal"]
    as_form = client.call("exr", render, base, normal=True, camera_rotation=",".join(map(str, rotation)))
    assert base64.b64decode(as_form["normal"]) == from_pass["normal"]
    assert client.call("exr", render, base)["normal"] is None
    for options, words in (({"camera_rotation": "1,2"}, "camera_rotation must be three angles"),
                           ({"depth_is": "z"}, "depth_is must be one of planar, distance")):
        with pytest.raises(client.DepthToolsError) as caught:
            client.call("exr", render, base, normal=True, **options)
        assert caught.value.status == 422 and words in caught.value.detail, caught.value.detail
