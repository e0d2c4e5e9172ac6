"""Our Depth Anything V2 preprocessor against ControlNet's own, through `/controlnet/detect` of a running WebUI.

    .venv/bin/python bench/bench_controlnet_anything.py [--url http://127.0.0.1:7871] [--runs 5]
                                                        [--midas] [--maps DIR]

Needs a WebUI started with --api, sd-webui-controlnet (>= 1.1.455, whose `depth_anything_v2` needs the
`depth_anything_v2` package and `annotator/downloads/depth_anything_v2/depth_anything_v2_vitl.safetensors`)
and this extension. For a like-for-like figure both must run ViT-L on the same weights: put the same
file in the Depth Tools weights folder (Settings > Depth Tools; our finder prefers ViT-L and reads the
size from the file). The server's own settings (device, precision) apply to both.

One 640x360 picture per round, the same for every preprocessor in that round and new each round
(ControlNet caches results by input, so a repeated picture would measure its cache). First call of
each (load + run), then --runs rounds taking turns, so a neighbour's load weighs on both alike;
median and p90 of the client-side time per call (PNG encode/upload/decode included, the same for both);
the first call loads a model only on a freshly started server. Issue 16's target: ours at least 1.2x
faster per warm call than ControlNet's at 518 on the same picture.
ControlNet's `depth_anything_v2` sends the picture through `resize_image_with_pad(res)` and then
always resizes it to a short side of 518 for the network (its transform is fixed at 518): the
resolution only sets the map's size. 518 here is what both were made for.

ControlNet's network input is its padded picture (921x518 padded to 960x576, then 868x518), ours the
picture itself (924x518, as the reference's `infer_image`): ours runs on 6% more tokens.

The server's peak RSS (VmHWM) and current RSS are read from /proc for the process listening on the
URL's port (same machine only). --maps DIR writes the maps and compares ours with ControlNet's on the
same picture: Pearson correlation, and again with the picture's R and B swapped before ControlNet
sees it (ControlNet 1.1.455 applies cv2.COLOR_BGR2RGB to the RGB array it decoded, so its network
sees BGR; with the swap it sees what ours sees).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from pictures import picture  # bench/, this script's folder
from PIL import Image

PAIRS = {  # (ControlNet's, ours, resolution)
    "anything": ("depth_anything_v2", "depth_tools_anything_v2", 518),
    "midas": ("depth_midas", "depth_tools_midas", 512),
}


def png_b64(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def detect(url: str, module: str, image_b64: str, resolution: int, threshold_a: float = -1) -> np.ndarray:
    body = {"controlnet_module": module, "controlnet_input_images": [image_b64],
            "controlnet_processor_res": resolution, "controlnet_threshold_a": threshold_a}
    request = urllib.request.Request(f"{url}/controlnet/detect", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=900) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as err:
        raise SystemExit(f"{module}: HTTP {err.code}: {err.read()[:500]!r}") from None
    if not answer.get("images"):
        raise SystemExit(f"{module}: no image in the answer: {str(answer)[:500]}")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["images"][0]))).convert("L"))


def server_pid(port: int) -> int | None:
    """The pid listening on 127.0.0.1/0.0.0.0:`port` (Linux /proc; None where unreadable)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(fields[9])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in {f"socket:[{i}]" for i in inodes}:
                    return int(pid)
        except OSError:
            continue
    return None


def memory_mib(pid: int | None) -> dict[str, float]:
    if pid is None:
        return {}
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return {line.split(":")[0]: int(line.split()[1]) / 1024 for line in status.splitlines()
            if line.startswith(("VmRSS", "VmHWM"))}


def p90(values: list[float]) -> float:
    return float(np.percentile(values, 90))


def compare_maps(url: str, pair: tuple[str, str, int], folder: Path) -> list[str]:
    theirs_name, ours_name, res = pair
    folder.mkdir(parents=True, exist_ok=True)
    img = picture(1000, disc=True)
    Image.fromarray(img).save(folder / "input.png")
    ours = detect(url, ours_name, png_b64(img), res, threshold_a=0.0)  # no background cut: the whole range
    theirs = detect(url, theirs_name, png_b64(img), res)
    swapped = detect(url, theirs_name, png_b64(np.ascontiguousarray(img[:, :, ::-1])), res)
    for name, m in (("ours", ours), ("controlnet", theirs), ("controlnet_rb_swapped_input", swapped)):
        Image.fromarray(m).save(folder / f"{ours_name if name == 'ours' else theirs_name}_{name}.png")
    lines = [f"maps {ours.shape[1]}x{ours.shape[0]} (ours) and {theirs.shape[1]}x{theirs.shape[0]} (ControlNet)"]

    def corr(a: np.ndarray, b: np.ndarray) -> str:
        if a.shape != b.shape:
            b = np.asarray(Image.fromarray(b).resize(a.shape[::-1], Image.BILINEAR))
        # and on 16x16 block means: random weights leave a patch-grid texture that the two token grids
        # (ControlNet's network input is the padded picture, see the docstring) place differently
        h, w = (a.shape[0] // 16) * 16, (a.shape[1] // 16) * 16
        coarse = [m[:h, :w].astype(np.float64).reshape(h // 16, 16, w // 16, 16).mean(axis=(1, 3)).ravel()
                  for m in (a, b)]
        a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
        return (f"{np.corrcoef(a, b)[0, 1]:.3f}, on 16x16 block means {np.corrcoef(*coarse)[0, 1]:.3f} "
                f"(mean |diff| {np.abs(a - b).mean():.1f}/255)")

    lines.append(f"corr(ours, ControlNet) same RGB picture: {corr(ours, theirs)}")
    lines.append(f"corr(ours, ControlNet given the R/B-swapped picture): {corr(ours, swapped)}")
    lines.append(f"corr(ControlNet, ControlNet R/B-swapped): {corr(theirs, swapped)}")
    lines.append(f"mean level: ours {ours.mean():.1f}, ControlNet {theirs.mean():.1f} (larger disparity = whiter)")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:7871")
    parser.add_argument("--runs", type=int, default=5, help="0: only the map comparison (--maps)")
    parser.add_argument("--midas", action="store_true", help="also depth_midas against depth_tools_midas at 512")
    parser.add_argument("--only", choices=sorted(PAIRS), help="one pair only")
    parser.add_argument("--maps", type=Path, help="write maps here and compare ours with ControlNet's")
    args = parser.parse_args(argv)
    url = args.url.rstrip("/")
    pid = server_pid(urlparse(url).port or 80)
    pairs = [PAIRS[args.only]] if args.only else [PAIRS["anything"]] + ([PAIRS["midas"]] if args.midas else [])
    modules = [(name, res) for pair in pairs for name, res in ((pair[0], pair[2]), (pair[1], pair[2]))]
    if args.runs <= 0:  # the map comparison only
        for pair in pairs:
            for line in compare_maps(url, pair, (args.maps or Path("maps")) / pair[1]):
                print(f"- {line}")
        return
    before = memory_mib(pid)
    first: dict[str, float] = {}
    rss_after_first: dict[str, dict[str, float]] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    for name, res in modules:
        b64 = png_b64(picture(500 + len(first), disc=True))
        start = time.perf_counter()
        shapes[name] = detect(url, name, b64, res).shape
        first[name] = time.perf_counter() - start
        rss_after_first[name] = memory_mib(pid)
        print(f"  first call {name}: {first[name]:.2f} s", file=sys.stderr)
    times: dict[str, list[float]] = {name: [] for name, _ in modules}
    for i in range(args.runs):
        b64 = png_b64(picture(i, disc=True))
        order = modules if i % 2 == 0 else modules[::-1]
        for name, res in order:
            start = time.perf_counter()
            detect(url, name, b64, res)
            times[name].append(time.perf_counter() - start)
        print(f"  round {i + 1}/{args.runs}: " + ", ".join(f"{n} {times[n][-1]:.2f}" for n, _ in modules),
              file=sys.stderr)
    after = memory_mib(pid)
    print(f"\n/controlnet/detect at {url}, 640x360 picture, median/p90 of {args.runs} warm calls taking turns "
          f"(a new picture each round), server pid {pid}\n")
    print("| preprocessor | resolution | map | first call (s) | warm median (s) | warm p90 (s) | server RSS after "
          "its first call (MiB) |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for name, res in modules:
        rss = rss_after_first[name].get("VmRSS")
        h, w = shapes[name][:2]
        print(f"| {name} | {res} | {w}x{h} | {first[name]:.2f} | {statistics.median(times[name]):.3f} | "
              f"{p90(times[name]):.3f} | {'' if rss is None else f'{rss:.0f}'} |")
    print()
    for theirs, ours, res in pairs:
        ratios = [t / o for t, o in zip(times[theirs], times[ours], strict=True)]
        print(f"- {ours} vs {theirs} at {res}: ControlNet's median / ours = "
              f"{statistics.median(times[theirs]) / statistics.median(times[ours]):.2f}x "
              f"(median of per-round ratios {statistics.median(ratios):.2f}x; target >= 1.2x)")
    if before:
        print(f"- server RSS before: {before.get('VmRSS', 0):.0f} MiB, after: {after.get('VmRSS', 0):.0f} MiB, "
              f"peak (VmHWM, whole process life): {after.get('VmHWM', 0):.0f} MiB")
    if args.maps:
        for pair in pairs:
            print()
            for line in compare_maps(url, pair, args.maps / pair[1]):
                print(f"- {line}")


if __name__ == "__main__":
    main()
