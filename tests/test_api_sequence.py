"""`/depth-tools/v1/sequence` through real HTTP (uvicorn in a thread, the docs' client): a zip of
EXR frames, image frames and a video through Video Depth Anything (random weights in the official
layout, tiny frames), each compared byte for byte with what `python -m lib_depth --sequence` writes;
an interrupt and a resume after a server restart; bad uploads as 4xx with one line.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from lib_depth import cli
from lib_depth.api import make_router, routes
from lib_depth.midas.settings import MidasSettings
from tests.anything_support import random_state_dict, save_pth
from tests.api_support import docs_client, request, serve
from tests.fixtures_ui import free_port
from tests.host_double import WebUI
from tests.test_cli_sequence import write_frames
from tests.test_video_paths import write_video
from tests.video_support import frames as video_frames
from tests.video_support import video_state_dict

client = docs_client()
REPO = Path(__file__).resolve().parents[1]
FINISHED = ("done", "failed", "interrupted")
H, W, COUNT = 42, 56, 5  # Video Depth Anything frames: the network sees 70 px
VDA = {"model": "video-depth-anything", "resolution": 70}
VDA_FLAGS = ["--model", "video-depth-anything", "--resolution", "70", "--device", "cpu", "--precision", "fp32"]


@pytest.fixture(scope="module")
def vda_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_pth(tmp_path_factory.mktemp("vda") / "video_depth_anything_vits.pth", video_state_dict("vits"))


@contextlib.contextmanager
def api_server(jobs_dir: Path, weights: dict[str, Path]) -> Iterator[str]:
    """A FastAPI app with the routes, each model on its `weights` (CPU, fp32, as the command line is
    run here), its jobs in `jobs_dir`; yields its base URL."""
    from fastapi import FastAPI

    def settings(model: str) -> MidasSettings:
        named = weights.get(model)
        return MidasSettings(weights=None if named is None else str(named), device="cpu", precision="fp32")

    app = FastAPI()
    app.include_router(make_router(settings_fn=settings, jobs_dir=jobs_dir))
    with serve(app) as url:
        yield url


@pytest.fixture(scope="module")
def da_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_pth(tmp_path_factory.mktemp("da") / "depth_anything_v2_vits.pth", random_state_dict("vits", 0))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, vda_weights: Path, da_weights: Path) -> Iterator[str]:
    weights = {"video-depth-anything": vda_weights, "depth-anything-v2": da_weights}
    with api_server(tmp_path_factory.mktemp("jobs"), weights) as url:
        yield url


def zip_folder(folder: Path, target: Path, inner: str = "shot/") -> Path:
    """The folder's files in a zip, under a folder of its own (as a file manager zips a folder)."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, inner + path.name)
    return target


def wait(base: str, job_id: str, until: tuple[str, ...] = FINISHED, limit: float = 180) -> dict:
    deadline = time.monotonic() + limit
    while True:
        status = client.call(f"sequence/{job_id}", url=base)
        if status["state"] in until or time.monotonic() > deadline:
            return status
        time.sleep(0.02)


def result(base: str, job_id: str) -> dict[str, bytes]:
    with urllib.request.urlopen(f"{base}/depth-tools/v1/sequence/{job_id}/result", timeout=60) as response:
        assert response.headers["Content-Type"] == "application/zip"
        data = response.read()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def run_job(base: str, upload: Path, **options: object) -> tuple[dict, dict[str, bytes]]:
    accepted = client.call("sequence", upload, base, **options)
    assert accepted["state"] in ("queued", "running"), accepted
    status = wait(base, accepted["id"])
    assert status["state"] == "done", status
    return status, result(base, accepted["id"])


def cli_pngs(*args: str | Path) -> dict[str, bytes]:
    """`python -m lib_depth ARGS -o OUT` (in this process): the PNGs it wrote, by name."""
    *rest, out = args
    assert cli.main([*map(str, rest), "-q", "-o", str(out)]) == 0
    return {p.name: p.read_bytes() for p in sorted(Path(out).glob("*.png"))}


def write_shot(folder: Path, count: int = COUNT) -> Path:
    folder.mkdir(parents=True)
    for i, rgb in enumerate(video_frames(count, H, W)):
        cv2.imwrite(str(folder / f"shot_{i + 1:04d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return folder


# --- the command line's bytes --------------------------------------------------------------------


def test_an_exr_zip_gives_the_command_lines_16_bit_maps(base: str, tmp_path: Path) -> None:
    write_frames(tmp_path / "in", list(range(1, 7)))
    flags = ["--bits", "16", "--depth_cutoff", "400", "--compress_map", "--noise", "--seed", "7", "--mask"]
    expected = cli_pngs("--sequence", tmp_path / "in", *flags, tmp_path / "cli")
    upload = zip_folder(tmp_path / "in", tmp_path / "renders.zip")
    status, got = run_job(base, upload, bits=16, cutoff=400, compress=True, noise=True, seed=7, mask=True)
    assert got == expected and len(got) == 12
    assert all(cv2.imread(str(tmp_path / "cli" / n), cv2.IMREAD_UNCHANGED).dtype == np.uint16
               for n in got if n.endswith(".depth.png"))
    assert (status["frames"], status["done"], status["converted"], status["skipped"]) == (6, 6, 6, 0)
    assert status["errors"] == [] and status["file"] == "renders.zip" and status["stage"] == "finished"


def test_a_video_through_video_depth_anything_gives_the_command_lines_maps_and_a_depth_video(
        base: str, tmp_path: Path, vda_weights: Path) -> None:
    """A video file: decoded into frames named by the file, one stream through the network, the maps
    and a depth video back (a zip of image frames takes the same path after the decoding)."""
    weights = ["--weights", str(vda_weights)]
    clip = write_video(tmp_path / "clip.mp4")
    expected = cli_pngs(clip, *VDA_FLAGS, *weights, "--video-out", tmp_path / "cli.mp4", tmp_path / "cli_clip")
    status, got = run_job(base, clip, **VDA, video_out=True)
    video = got.pop("depth.mp4")
    assert got == expected and sorted(got) == [f"clip_{i:06d}.depth.png" for i in range(1, COUNT + 1)]
    (tmp_path / "api.mp4").write_bytes(video)
    from lib_depth.images.video_file import read_video_frames

    assert len(read_video_frames(tmp_path / "api.mp4")) == len(read_video_frames(tmp_path / "cli.mp4")) == COUNT
    assert status["frames"] == COUNT and status["converted"] == COUNT


# --- interrupt, restart, resume ------------------------------------------------------------------


def test_an_interrupted_job_resumes_after_a_restart_skipping_what_it_wrote(tmp_path: Path) -> None:
    write_frames(tmp_path / "long", list(range(1, 41)), 640, 360)
    options = {"compress": True, "noise": True, "seed": 3}
    expected = cli_pngs("--sequence", tmp_path / "long", "--compress_map", "--noise", "--seed", "3", tmp_path / "cli")
    upload = zip_folder(tmp_path / "long", tmp_path / "long.zip")
    jobs = tmp_path / "jobs"
    with api_server(jobs, {}) as base:
        job_id = client.call("sequence", upload, base, **options)["id"]
        running = wait(base, job_id, until=("running",))
        while running["done"] < 2 and running["state"] == "running":
            running = client.call(f"sequence/{job_id}", url=base)
        assert running["state"] == "running", running
        status, answer = request(f"{base}/depth-tools/v1/sequence/{job_id}/result", method="GET")
        assert status == 409 and "ask for its result once it has stopped" in answer["detail"]
        status, answer = request(f"{base}/depth-tools/v1/sequence/{job_id}", method="DELETE")
        assert status == 202 and answer["id"] == job_id
        stopped = wait(base, job_id)
        assert stopped["state"] == "interrupted" and 2 <= stopped["converted"] < 40, stopped
        partial = result(base, job_id)
        assert len(partial) == stopped["converted"] and all(expected[n] == b for n, b in partial.items())
    maps = next(jobs.glob("seq-*/maps"))
    assert sorted(p.name for p in maps.iterdir() if not p.name.endswith(".depth.png")) == [".depth-tools"]
    with api_server(jobs, {}) as base:  # a new server: no job known until the upload comes again
        with pytest.raises(client.DepthToolsError) as caught:
            client.call(f"sequence/{job_id}", url=base)
        assert caught.value.status == 404 and "POST the same upload" in caught.value.detail
        again = client.call("sequence", upload, base, **options)
        assert again["id"] == job_id
        done = wait(base, job_id)
        assert done["state"] == "done" and done["skipped"] == stopped["converted"], done
        assert done["converted"] == 40 - stopped["converted"]
        assert result(base, job_id) == expected


SERVER = """
import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from lib_depth.api import make_router

app = FastAPI()
app.include_router(make_router(jobs_dir=Path(sys.argv[1])))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


@contextlib.contextmanager
def server_process(jobs_dir: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """The routes in a server process of their own (to kill): (base URL, the process)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(jobs_dir), str(port)], env=env, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
            with contextlib.suppress(OSError):
                if request(f"{url}/depth-tools/v1/info", method="GET")[0] == 200:
                    break
            time.sleep(0.1)
        yield url, proc
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_a_killed_server_resumes_the_job_when_the_upload_comes_again(tmp_path: Path) -> None:
    write_frames(tmp_path / "long", list(range(1, 41)), 640, 360)
    expected = cli_pngs("--sequence", tmp_path / "long", "--mask", tmp_path / "cli")
    upload = zip_folder(tmp_path / "long", tmp_path / "long.zip")
    jobs = tmp_path / "jobs"
    with server_process(jobs) as (url, proc):
        job_id = client.call("sequence", upload, url, mask=True)["id"]
        deadline = time.monotonic() + 60
        while len(list(jobs.glob("seq-*/maps/*.depth.png"))) < 3:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.005)
        proc.kill()  # SIGKILL: no handler runs, whatever the job was writing
        proc.wait(timeout=30)
    maps = next(jobs.glob("seq-*/maps"))
    written = len(list(maps.glob("*.depth.png")))
    assert 3 <= written < 40, "the job should have been killed mid-sequence"
    assert sorted({p.name.split(".")[-2] for p in maps.iterdir() if p.name != ".depth-tools"}) == ["depth", "mask"]
    with server_process(jobs) as (url, _):
        assert client.call("sequence", upload, url, mask=True)["id"] == job_id
        done = wait(url, job_id)
        assert done["state"] == "done" and done["skipped"] >= written - 1, done  # the frame in hand: redone
        assert done["skipped"] + done["converted"] == 40
        assert result(url, job_id) == expected


def test_a_picture_model_stops_while_estimating_and_resumes_from_its_stored_depths(
        base: str, tmp_path: Path, da_weights: Path) -> None:
    """Depth Anything V2 frames, estimated one by one: an interrupt stops between two estimates
    (nothing converted yet); the same POST again estimates only the frames not stored, and the maps
    are the command line's, uninterrupted."""
    count = 16
    shot = write_shot(tmp_path / "shot", count)
    flags = ["--model", "depth-anything-v2", "--resolution", "70", "--device", "cpu", "--precision", "fp32"]
    expected = cli_pngs("--sequence", shot, *flags, "--weights", str(da_weights), tmp_path / "cli")
    upload = zip_folder(shot, tmp_path / "frames.zip")
    options = {"model": "depth-anything-v2", "resolution": 70}
    job_id = client.call("sequence", upload, base, **options)["id"]
    status = client.call(f"sequence/{job_id}", url=base)
    while status["estimated"] < 1 and status["state"] in ("queued", "running"):
        time.sleep(0.02)
        status = client.call(f"sequence/{job_id}", url=base)
    assert status["stage"] == "estimating", status
    request(f"{base}/depth-tools/v1/sequence/{job_id}", method="DELETE")
    stopped = wait(base, job_id)
    assert stopped["state"] == "interrupted" and stopped["converted"] == 0 and 1 <= stopped["estimated"] < count
    assert stopped["result"] is None  # nothing converted: no zip to fetch
    status, again = run_job(base, upload, **options)
    assert (status["estimated"], status["converted"]) == (count - stopped["estimated"], count)
    assert again == expected


# --- bad input -----------------------------------------------------------------------------------


def refused(base: str, upload: Path, **options: object) -> tuple[int, str]:
    with pytest.raises(client.DepthToolsError) as caught:
        client.call("sequence", upload, base, **options)
    return caught.value.status, caught.value.detail


def test_bad_uploads_and_options_are_4xx_in_one_line(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not frames")
    readme = tmp_path / "readme.zip"
    with zipfile.ZipFile(readme, "w") as archive:
        archive.writestr("readme.txt", "no frames here")
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04" + bytes(200))
    locked = tmp_path / "locked.zip"
    with zipfile.ZipFile(locked, "w") as archive:
        archive.writestr("render_0001.exr", b"secret")
    data = bytearray(locked.read_bytes())  # marked encrypted in both headers (zipfile writes no such zip)
    data[6] |= 1
    data[data.index(b"PK\x01\x02") + 8] |= 1
    locked.write_bytes(bytes(data))
    write_frames(tmp_path / "mixed", [1, 2])
    cv2.imwrite(str(tmp_path / "mixed" / "render_0003.png"), np.zeros((8, 8), np.uint8))
    mixed = zip_folder(tmp_path / "mixed", tmp_path / "mixed.zip")
    write_frames(tmp_path / "exr", [1, 2])
    exr = zip_folder(tmp_path / "exr", tmp_path / "exr.zip")
    shot = zip_folder(write_shot(tmp_path / "shot"), tmp_path / "shot.zip")
    cases = [
        (notes, {}, 400, "notes.txt: neither a zip of frames nor a video file"),
        (readme, {}, 400, "readme.zip: no frames in the zip"),
        (broken, {}, 400, "broken.zip: cannot unpack the zip"),
        (locked, {}, 400, "locked.zip: render_0001.exr in the zip is encrypted"),
        (mixed, {}, 400, "mixed.zip: a sequence is EXR renders or images, not both"),
        (exr, {"bits": 7}, 422, "bits must be 8 or 16, not 7"),
        (exr, {"cuttoff": 3}, 422, "unknown option(s) 'cuttoff'"),
        (shot, {"model": "dpt-huge"}, 422, "unknown depth model 'dpt-huge'"),
    ]
    with api_server(tmp_path / "jobs", {}) as base:
        for upload, options, code, words in cases:
            status, detail = refused(base, upload, **options)
            assert status == code and detail.startswith(words) and "\n" not in detail, (upload.name, detail)
            assert str(tmp_path) not in detail
        status, answer = request(f"{base}/depth-tools/v1/sequence", b"x", {"Content-Type": "text/plain"})
        assert status == 415 and "multipart/form-data" in answer["detail"]
        assert client.call("info", url=base)["version"]  # still serving
    assert list((tmp_path / "jobs").glob("*")) == []  # a refused upload leaves nothing behind


def test_a_job_folder_that_cannot_be_written_is_a_507_in_one_line(tmp_path: Path) -> None:
    """The server's disk, not the upload: before, the OSError came out as a bare 500."""
    write_frames(tmp_path / "exr", [1, 2])
    exr = zip_folder(tmp_path / "exr", tmp_path / "exr.zip")
    jobs = tmp_path / "jobs"
    with api_server(jobs, {}) as base:
        if jobs.is_dir():
            jobs.rmdir()
        jobs.write_text("a file where the jobs folder should be")
        status, detail = refused(base, exr)
        assert status == 507 and detail.startswith("cannot store the upload for its job") and "\n" not in detail
        assert client.call("info", url=base)["version"]  # still serving


def test_in_the_webui_behind_its_api_auth(make_webui: Callable[..., WebUI], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Mounted by the stand-in WebUI with --api (A1111's middleware, its --api-auth): a job runs to
    the command line's bytes, and its status and result ask for the same credentials."""
    monkeypatch.setattr(routes, "DEFAULT_JOBS_DIR", tmp_path / "jobs")  # the WebUI names no folder
    write_frames(tmp_path / "in", [1, 2, 3])
    expected = cli_pngs("--sequence", tmp_path / "in", "--depth_cutoff", "400", tmp_path / "cli")
    upload = zip_folder(tmp_path / "in", tmp_path / "in.zip")
    webui = make_webui("controlnet", start=False)
    webui.shared.cmd_opts.api, webui.shared.cmd_opts.api_auth = True, "ann:secret"
    webui.start()
    with serve(webui.app()) as url:
        job_id = client.call("sequence", upload, url, auth=("ann", "secret"), cutoff=400)["id"]
        with pytest.raises(client.DepthToolsError) as caught:
            client.call(f"sequence/{job_id}", url=url)
        assert caught.value.status == 401
        deadline = time.monotonic() + 60
        while client.call(f"sequence/{job_id}", url=url, auth=("ann", "secret"))["state"] not in FINISHED:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        status, _ = request(f"{url}/depth-tools/v1/sequence/{job_id}/result", method="GET")
        assert status == 401
        token = base64.b64encode(b"ann:secret").decode()
        fetch = urllib.request.Request(f"{url}/depth-tools/v1/sequence/{job_id}/result",
                                       headers={"Authorization": f"Basic {token}"})
        with urllib.request.urlopen(fetch, timeout=60) as response, zipfile.ZipFile(io.BytesIO(response.read())) as z:
            assert {n: z.read(n) for n in z.namelist()} == expected
    assert next((tmp_path / "jobs").glob("seq-*/upload/in.zip")).is_file() and webui.errors == []


def test_missing_weights_are_503_before_a_job(tmp_path: Path) -> None:
    shot = zip_folder(write_shot(tmp_path / "shot"), tmp_path / "shot.zip")
    with api_server(tmp_path / "jobs", {"video-depth-anything": tmp_path / "nowhere.pth"}) as base:
        status, detail = refused(base, shot, **VDA)
    assert status == 503 and "nowhere.pth" in detail and "does not exist" in detail


def test_a_damaged_frame_is_one_line_and_the_others_are_converted(
        base: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_frames(tmp_path / "in", [1, 2, 3, 4])
    (tmp_path / "in" / "render_0003.exr").write_bytes(b"v/1\x01 damaged")
    assert cli.main(["--sequence", str(tmp_path / "in"), "-q", "-o", str(tmp_path / "cli")]) == 1
    [cli_line] = capsys.readouterr().err.strip().splitlines()
    accepted = client.call("sequence", zip_folder(tmp_path / "in", tmp_path / "in.zip"), base)
    status = wait(base, accepted["id"])
    assert status["state"] == "done" and (status["converted"], status["failed"]) == (3, 1)
    assert status["errors"] == [cli_line.removeprefix(f"error: {tmp_path / 'in'}/")]
    assert sorted(result(base, accepted["id"])) == [f"render_{i:04d}.depth.png" for i in (1, 2, 4)]
