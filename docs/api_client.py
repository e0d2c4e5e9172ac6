"""Depth Tools HTTP API client: the Python standard library only, so a Blender (or any Python
3.8+) script can paste it whole. Converts renders and writes the PNGs beside them.

    python docs/api_client.py render.exr --cutoff 280.69 --mask      # -> render.depth.png, render.mask.png
    python docs/api_client.py render.exr --histogram                 # print the suggested cuts
    python docs/api_client.py photo.jpg --url http://127.0.0.1:7870  # image -> MiDaS depth + normal

The server is a WebUI started with `--api` (default http://127.0.0.1:7860) or the standalone
`python -m lib_depth.ui` (http://127.0.0.1:7870). In Blender, after rendering a Z pass to EXR:

    convert(bpy.path.abspath("//render.exr"), cutoff=280.69, mask=True)
"""

import argparse
import base64
import json
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

URL = "http://127.0.0.1:7860"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
#: the form field each route takes its file in (the others: "exr")
FILE_FIELDS = {"midas": "image", "sequence": "file"}


class DepthToolsError(Exception):
    """The server refused the request: `status` (400, 413, 422, 503, ...) and its `detail`."""

    def __init__(self, status, detail):
        super().__init__(f"HTTP {status}: {detail}")
        self.status, self.detail = status, detail


def _multipart(field, path, options):
    """A multipart/form-data body: each option as a text field, the file as `field`."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in options.items():
        if value is None:
            continue
        text = json.dumps(value) if isinstance(value, bool) else str(value)
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{text}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{Path(path).name}"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n".encode())
    parts.append(Path(path).read_bytes())
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def call(route, path=None, url=URL, timeout=600, auth=None, **options):
    """POST `path` (if any) with `options` to /depth-tools/v1/<route> and return the JSON answer
    (GET when there is no file: `call("info")`). `auth` = (user, password) for `--api-auth`."""
    endpoint = f"{url.rstrip('/')}/depth-tools/v1/{route}"
    if path is None:
        request = urllib.request.Request(endpoint)
    else:
        field = FILE_FIELDS.get(route, "exr")
        body, content_type = _multipart(field, path, options)
        request = urllib.request.Request(endpoint, data=body, headers={"Content-Type": content_type})
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace")
        try:
            detail = json.loads(text).get("detail", text)
        except ValueError:
            detail = text
        raise DepthToolsError(exc.code, detail) from None


def convert(path, url=URL, out_dir=None, auth=None, **options):
    """Render (`.exr`) or image -> `<stem>.depth.png` (+ `.mask.png`, `.normal.png`) in `out_dir`
    (default: beside the input), as the command line names them. Returns (paths written, answer)."""
    path = Path(path)
    route = "midas" if path.suffix.lower() in IMAGE_SUFFIXES else "exr"
    answer = call(route, path, url, auth=auth, **options)
    folder = Path(out_dir) if out_dir else path.parent
    written = []
    for name in ("depth", "mask", "normal"):
        if answer.get(name):
            target = folder / f"{path.stem}.{name}.png"
            target.write_bytes(base64.b64decode(answer[name]))
            written.append(target)
    return written, answer


def main(argv=None):
    parser = argparse.ArgumentParser(description="Convert renders and images through a Depth Tools server.")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--url", default=URL)
    parser.add_argument("--histogram", action="store_true", help="print the histogram's suggested cuts only")
    parser.add_argument("--cutoff", type=float)
    parser.add_argument("--compress", action="store_true")
    parser.add_argument("--noise", action="store_true")
    parser.add_argument("--mask", action="store_true")
    parser.add_argument("--bits", type=int, default=8)
    parser.add_argument("-o", "--out-dir", type=Path)
    args = parser.parse_args(argv)
    failed = 0
    for path in args.files:
        try:
            if args.histogram:
                cuts = call("histogram", path, args.url)["histogram"]["suggestions"]
                print(f"{path}: suggested cuts {', '.join(f'{c:.2f}' for c in cuts) or 'none'}")
                continue
            options = {"cutoff": args.cutoff, "bits": args.bits}
            options.update({k: True for k in ("compress", "noise", "mask") if getattr(args, k)})
            written, _ = convert(path, args.url, args.out_dir, **options)
            print("\n".join(f"wrote {p}" for p in written))
        except (DepthToolsError, OSError) as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
