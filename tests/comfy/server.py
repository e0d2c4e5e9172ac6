"""A real ComfyUI server for the tests: a copy of the shared snapshot with this pack cloned into its
`custom_nodes/`, started once per test session on 127.0.0.1, driven through its HTTP API."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.hub import Hub

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
#: The ComfyUI snapshot beside the repository (`../shared/hosts/ComfyUI`), or DEPTH_TOOLS_COMFYUI.
SNAPSHOT = Path(os.environ.get("DEPTH_TOOLS_COMFYUI") or REPO.parent / "shared" / "hosts" / "ComfyUI")
PACK = "depth-tools"
START_TIMEOUT = 120.0


def skip_reason() -> str | None:
    """Why the ComfyUI tests cannot run here, or None."""
    if not (SNAPSHOT / "main.py").is_file():
        return f"no ComfyUI snapshot at {SNAPSHOT} (../shared/hosts/ComfyUI is absent; set DEPTH_TOOLS_COMFYUI)"
    try:
        import aiohttp  # noqa: F401
        import av  # noqa: F401
        import torchsde  # noqa: F401
    except ImportError as exc:
        return f"ComfyUI's requirements are not in this environment ({exc.name}): tools/setup.sh comfyui"
    return None


def clone_pack(into: Path) -> Path:
    """`git clone` of this repository, with the working tree's uncommitted and new files laid over
    it (what a developer is testing); ignored files (environments, caches) never travel."""
    dest = into / PACK
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(dest)], check=True)
    changed = []
    for listing in (["diff", "--name-only", "-z", "HEAD"], ["ls-files", "-o", "--exclude-standard", "-z"]):
        done = subprocess.run(["git", *listing], cwd=REPO, check=True, capture_output=True)
        changed += done.stdout.decode().split("\0")
    for name in filter(None, changed):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Comfy:
    """One running server: its folder (input/, output/, custom_nodes/) and address."""

    root: Path
    url: str
    process: subprocess.Popen
    log: Path
    hub: Hub  # its HF_ENDPOINT: downloads are asked of it, never of the internet

    def get(self, path: str, timeout: float = 30) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as answer:
            return answer.read()

    def post(self, path: str, body: dict | None = None, timeout: float = 30) -> tuple[int, dict]:
        data = json.dumps(body or {}).encode()
        request = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                text = answer.read()
                return answer.status, json.loads(text) if text.strip() else {}
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def object_info(self) -> dict:
        return json.loads(self.get("/object_info"))

    def queue(self, graph: dict) -> str:
        status, answer = self.post("/prompt", {"prompt": graph, "client_id": uuid.uuid4().hex})
        if status != 200:
            raise AssertionError(f"/prompt refused the graph ({status}): {answer}")
        return str(answer["prompt_id"])

    def wait(self, prompt_id: str, timeout: float = 300) -> dict:
        """The prompt's /history entry once it has finished (succeeded or failed)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            entry = json.loads(self.get(f"/history/{prompt_id}")).get(prompt_id)
            if entry and entry.get("status", {}).get("completed") is not None and (
                    entry["status"]["completed"] or entry["status"].get("status_str") == "error"):
                return entry
            if self.process.poll() is not None:
                raise AssertionError(f"ComfyUI exited: {self.log.read_text()[-3000:]}")
            time.sleep(0.1)
        raise AssertionError(f"prompt {prompt_id} did not finish in {timeout} s")

    def run(self, graph: dict, timeout: float = 300) -> dict:
        return self.wait(self.queue(graph), timeout)

    def view(self, image: dict) -> bytes:
        query = urllib.parse.urlencode({k: image[k] for k in ("filename", "subfolder", "type")})
        return self.get(f"/view?{query}")


def error_of(entry: dict) -> str | None:
    """The exception message of a failed prompt (None: it succeeded)."""
    for kind, data in entry.get("status", {}).get("messages", []):
        if kind == "execution_error":
            return str(data.get("exception_message", ""))
    return None


def start(base: Path, *, extra_packs: tuple[Path, ...] = (), python: str = sys.executable) -> Comfy:
    """A copy of the snapshot with this pack cloned into custom_nodes/ (and copies of `extra_packs`:
    the benchmark's other node pack), started on a free port of 127.0.0.1."""
    root = base / "ComfyUI"
    shutil.copytree(SNAPSHOT, root, ignore=shutil.ignore_patterns("tests", "tests-unit", ".git"))
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)  # the snapshot is read-only; the copy is ours
    (root / "custom_nodes").mkdir(exist_ok=True)
    clone_pack(root / "custom_nodes")
    for pack in extra_packs:
        shutil.copytree(pack, root / "custom_nodes" / pack.name, ignore=shutil.ignore_patterns(".git"))
    port = free_port()
    log = base / "comfyui.log"
    hub = Hub()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1", "PYTHONPATH": "", "HF_ENDPOINT": hub.url}
    command = [python, str(HERE / "launch_comfyui.py"), "--cpu", "--listen", "127.0.0.1", "--port",
               str(port), "--disable-auto-launch", "--disable-metadata", "--disable-api-nodes", "--verbose", "WARNING"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    comfy = Comfy(root=root, url=f"http://127.0.0.1:{port}", process=process, log=log, hub=hub)
    end = time.monotonic() + START_TIMEOUT
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"ComfyUI did not start: {log.read_text()[-3000:]}")
        try:
            comfy.get("/system_stats", timeout=2)
            return comfy
        except OSError:
            time.sleep(0.25)
    process.kill()
    raise RuntimeError(f"ComfyUI did not answer in {START_TIMEOUT} s: {log.read_text()[-3000:]}")


def stop(comfy: Comfy) -> None:
    comfy.hub.close()
    comfy.process.terminate()
    try:
        comfy.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        comfy.process.kill()
        comfy.process.wait()


def upload(comfy: Comfy, path: Path) -> str:
    """`path` sent as the page sends a file (`POST /upload/image`, multipart): the name it got."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{path.name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    body += path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(comfy.url + "/upload/image", data=body,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return str(json.loads(answer.read())["name"])
