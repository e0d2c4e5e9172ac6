"""HTTP API overhead: `POST /depth-tools/v1/exr` against calling the same core in-process.

    .venv/bin/python bench/bench_api.py [--runs 5] [--size 4096x4096] [--standalone]

The core is what the route runs (`read_depth` + `pipeline.render`: process and encode the depth and
mask PNGs). Over HTTP, a client in this process reads the file, sends it (multipart, or base64
in JSON), and decodes the PNGs from the answer; the server is another process on 127.0.0.1
(uvicorn serving `make_router()`, or with --standalone the real `python -m lib_depth.ui`). Prints a
markdown table, medians of interleaved rounds after a warm-up; issue 9's target is at most 1.3x the core.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lib_depth.depth.exr import read_depth, write_depth  # noqa: E402
from lib_depth.depth.pipeline import Job, SourceDepth, render  # noqa: E402
from lib_depth.depth.process import DepthOptions  # noqa: E402
from lib_depth.depth.sample import synthetic_scene  # noqa: E402

CUTOFF = 340.0
SERVER = """
import sys, uvicorn
from fastapi import FastAPI
sys.path.insert(0, {repo!r})
from lib_depth.api import make_router
from fastapi import Request
app = FastAPI()
app.include_router(make_router())
@app.post("/sink")  # the floor: the same bytes through uvicorn to a route that only counts them
async def sink(request: Request) -> dict:
    return {{"bytes": sum([len(chunk) async for chunk in request.stream()])}}
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning")
"""


def load_client():
    """docs/api_client.py, the example client (standard library only)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("api_client", REPO / "docs" / "api_client.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def interleaved(paths: dict[str, Callable[[], object]], runs: int) -> list[tuple[str, float, float]]:
    """(name, median seconds, median of per-round ratios to the first) with the paths taking turns
    in every round, so a neighbour's load on a shared machine weighs on all of them alike."""
    for fn in paths.values():
        fn()  # warm-up: page cache, lazy imports, the server's first request
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(runs):
        for name, fn in paths.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    first = times[next(iter(paths))]
    return [(name, statistics.median(t), statistics.median(x / c for x, c in zip(t, first, strict=True)))
            for name, t in times.items()]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(standalone: bool, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_PROXY": "127.0.0.1", "GRADIO_ANALYTICS_ENABLED": "False"}
    if standalone:
        command = [sys.executable, "-m", "lib_depth.ui", "--port", str(port)]
    else:
        command = [sys.executable, "-c", SERVER.format(repo=str(REPO), port=port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/depth-tools/v1/info", timeout=5):
                return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"the server did not start:\n{log.read_text()[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", default="4096x4096")
    parser.add_argument("--standalone", action="store_true", help="serve with python -m lib_depth.ui (gradio)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    client = load_client()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "render.exr"
        write_depth(path, synthetic_scene(width, height), channel="Y")
        job = Job(source=path, options=DepthOptions(cutoff=CUTOFF), mask=True, want_histogram=True)

        def core() -> None:
            exr = read_depth(path)
            render(job, SourceDepth(depth=exr.depth, channel=exr.channel))

        proc, url = start_server(args.standalone, Path(folder) / "server.log")
        try:
            def multipart() -> None:
                answer = client.call("exr", path, url, cutoff=CUTOFF, mask=True)
                base64.b64decode(answer["depth"]), base64.b64decode(answer["mask"])

            def as_json() -> None:
                doc = {"exr": base64.b64encode(path.read_bytes()).decode(), "cutoff": CUTOFF, "mask": True}
                request = urllib.request.Request(f"{url}/depth-tools/v1/exr", data=json.dumps(doc).encode(),
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=600) as response:
                    answer = json.loads(response.read())
                base64.b64decode(answer["depth"]), base64.b64decode(answer["mask"])

            paths = {"core in-process (read_depth + render)": core,
                     "HTTP multipart (docs/api_client.py)": multipart, "HTTP JSON, base64": as_json}
            if not args.standalone:
                body = path.read_bytes()
                sink = urllib.request.Request(f"{url}/sink", data=body, headers={"Content-Type": "x/y"})
                paths["floor: the file's bytes to a route that discards them"] = (
                    lambda: urllib.request.urlopen(sink, timeout=600).read())
            rows = interleaved(paths, args.runs)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        size_mib = path.stat().st_size / (1 << 20)
    server = "python -m lib_depth.ui (gradio)" if args.standalone else "uvicorn + make_router()"
    print(f"{width}x{height} float32 ZIP EXR ({size_mib:.1f} MiB), cutoff {CUTOFF:g} + mask, server: {server}, "
          f"median of {args.runs} runs\n")
    print("| path | median s | x core (median of rounds) |\n|---|---:|---:|")
    for name, seconds, ratio in rows:
        print(f"| {name} | {seconds:.3f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
