"""Tab latency: click -> new depth preview, in a real chromium against real WebUIs (or the standalone tab).

    .venv/bin/python bench/bench_tab_latency.py \
        --host a1111=/path/to/stable-diffusion-webui:/path/to/its/venv/bin/python \
        --host forge=/path/to/stable-diffusion-webui-forge:/path/to/its/venv/bin/python \
        [--host standalone-g3=:.venv/bin/python] [--before 57ae3bf] [--clicks 12]

Each host is served twice at once, with the extension's code at `--before` (a git revision, exported
with `git archive`) and with this working tree ("after"), and the clicks alternate between the two,
so that the load of a shared machine weighs on both alike: read the after/before ratio first. A
WebUI's `extensions/depth-tools` link is pointed at each version while that instance starts and put
back afterwards. The WebUIs run on 127.0.0.1 on the CPU without a checkpoint
(`--skip-prepare-environment`: their repositories and packages must already be in place; nothing
here installs or builds a WebUI).

Measured in the page, not from Python (Playwright's round trips would add their own time): a
capture-phase listener stamps the click (or, for a typed cutoff, the moment before typing) with
`performance.now()`, a MutationObserver stamps the moment the preview's `<img>` gets a new `src`,
and `img.decode()` the moment it can be painted ("shown": what a user sees, the number in the
table). Three kinds of cut, as users make them: a suggested-cut button, a click on the histogram,
a typed cutoff + Enter; each alternates between two cuts so that every action changes the preview.
Since issue 22 the tab's own script answers all three through its route (`ui/fast_preview.py`),
with no gradio event: the "response" column is then that route's.
Renders: the sample (768x512) and a synthetic 3840x2160 one. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT_S = 600
WAIT_MS = 60_000
DEPTH = "#depth_tools_exr_depth"
KINDS = ("button", "chart", "typed")

#: Installed once per page: stamps of the last user action and of every change of the preview.
PROBE_JS = """() => {
  if (window.__dt) return;
  const dt = window.__dt = {action: 0, enter: 0, manual: false, changes: []};
  const stamp = () => { if (!dt.manual) dt.action = performance.now(); };
  // on window: its capture listeners run before the document's, where the tab's own script listens
  window.addEventListener('click', stamp, true);
  window.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { dt.enter = performance.now(); stamp(); }
  }, true);
  let last = null;
  const check = () => {
    const root = document.querySelector('__DEPTH__');
    const img = root && root.querySelector('img');
    const src = img && img.getAttribute('src');
    if (!src || src === last) return;
    last = src;
    const change = {src: performance.now(), shown: null};
    dt.changes.push(change);
    img.decode().then(() => { change.shown = performance.now(); }, () => { change.shown = performance.now(); });
  };
  new MutationObserver(check).observe(document.body, {subtree: true, childList: true, attributes: true,
                                                      attributeFilter: ['src']});
  check();
}""".replace("__DEPTH__", DEPTH)

#: Resolves with [ms to new src, ms to decoded, ms to the end of the last direct request's response
#: (a queue=False predict, or the tab's own preview route), or null when the event went through the
#: queue, and ms from the Enter to decoded, or null without one] for the first change after the last
#: action (null: none within 20 s).
WAIT_JS = r"""async () => {
  const dt = window.__dt;
  while (performance.now() - dt.action < 20000) {
    const c = dt.changes.find((c) => c.src > dt.action);
    if (c && c.shown !== null) {
      const calls = performance.getEntriesByType('resource').filter(
        (r) => /\/(run|api)\/predict|\/depth-tools\/tab\//.test(r.name) && r.startTime >= dt.action);
      const end = calls.length ? Math.max(...calls.map((r) => r.responseEnd)) - dt.action : null;
      performance.clearResourceTimings();
      return [c.src - dt.action, c.shown - dt.action, end, dt.enter >= dt.action ? c.shown - dt.enter : null];
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  return null;
}"""


@dataclass(frozen=True)
class Host:
    name: str  # a1111, forge or standalone
    root: Path | None  # the WebUI folder (None: standalone)
    python: str

    @property
    def link(self) -> Path | None:
        return None if self.root is None else self.root / "extensions" / "depth-tools"


def parse_host(text: str) -> Host:
    name, _, rest = text.partition("=")
    root, _, python = rest.rpartition(":")
    return Host(name, Path(root).resolve() if root else None, python or sys.executable)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def code_at(rev: str) -> Iterator[Path]:
    """The extension's files at `rev` in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="depth-tools-before-") as folder:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        yield Path(folder)


@contextlib.contextmanager
def linked(host: Host, code: Path) -> Iterator[None]:
    """Point the WebUI's extension link at `code` for the duration, then put the old target back."""
    link = host.link
    if link is None:
        yield
        return
    old = os.readlink(link)
    os.unlink(link)
    os.symlink(code, link)
    try:
        yield
    finally:
        os.unlink(link)
        os.symlink(old, link)


def command(host: Host, code: Path, port: int) -> tuple[list[str], Path]:
    if host.root is None:
        return [host.python, "-m", "lib_depth.ui", "--port", str(port)], code
    flags = ["--skip-prepare-environment", "--skip-install", "--skip-torch-cuda-test", "--no-download-sd-model",
             "--use-cpu", "all", "--precision", "full", "--no-half", "--skip-version-check", "--port", str(port)]
    if (host.root / "modules_forge").is_dir():  # Forge's backend asks CUDA for its device unless told
        flags.append("--always-cpu")
    return [host.python, "launch.py", *flags], host.root


@contextlib.contextmanager
def serving(host: Host, code: Path, log: Path) -> Iterator[str]:
    """Start the host (nice'd: the machine is shared) and yield its URL once it answers."""
    port = free_port()
    argv, cwd = command(host, code, port)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    with log.open("wb") as out:
        proc = subprocess.Popen(["nice", "-n", "5", *argv], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{host.name} exited ({proc.returncode}); see {log}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(url, timeout=5).close()
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{host.name} did not answer within {START_TIMEOUT_S} s; see {log}")
            time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def open_tab(page, host: Host, url: str) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(url)
    if host.root is not None:  # the WebUI: our tab is one of its top-level tabs
        page.locator("#tabs > .tab-nav button", has_text="Depth Tools").first.click()
    page.wait_for_selector("#depth_tools_exr_files input[type=file]", state="attached")
    # A WebUI keeps fetching and laying out for a while after its page loads (extra networks,
    # settings): a user clicks after that, and clicks measured during it would be its cost, not ours.
    with contextlib.suppress(PlaywrightTimeout):  # Forge polls for ever: never idle
        page.wait_for_load_state("networkidle", timeout=15_000)
    page.wait_for_timeout(3000)
    page.evaluate(PROBE_JS)


def load_render(page, path: Path) -> None:
    old = page.evaluate("() => window.__dt.changes.length")
    page.set_input_files("#depth_tools_exr_files input[type=file]", str(path))
    page.wait_for_selector("#depth_tools_exr_cut_1", state="visible")
    page.wait_for_function(f"() => window.__dt.changes.length > {old}")
    page.wait_for_timeout(500)  # let the load's last updates settle


def act(page, kind: str, i: int, cuts: tuple[str, str]) -> None:
    """One user action of `kind`, alternating between two cuts so the preview always changes."""
    if kind == "button":
        page.click(f"#depth_tools_exr_cut_{i % 2}")
    elif kind == "typed":  # stamped before typing: gradio 4 may answer the typing before the Enter
        box = page.locator("#depth_tools_exr_cutoff input")
        page.evaluate("() => { window.__dt.manual = true; window.__dt.action = performance.now(); }")
        box.fill(cuts[i % 2])
        box.press("Enter")
    else:
        img = page.locator("#depth_tools_exr_chart img").first
        shown = img.bounding_box()
        x = (0.45 if i % 2 else 0.75) * shown["width"]
        page.mouse.click(shown["x"] + x, shown["y"] + shown["height"] / 2)


def click_once(page, kind: str, i: int) -> tuple[float, float, float | None, float | None]:
    """One action and the milliseconds until the preview's new src is set and decoded (and until
    the response of a direct request, when the event skips the queue)."""
    act(page, kind, i, ("250", "330"))
    result = page.evaluate(WAIT_JS)
    page.evaluate("() => { window.__dt.manual = false; }")
    if result is None:
        raise RuntimeError(f"{kind} action {i}: the preview did not change")
    page.wait_for_timeout(150)  # a user does not click every frame; lets stray updates land
    return (float(result[0]), float(result[1]), None if result[2] is None else float(result[2]),
            None if result[3] is None else float(result[3]))


def synthetic_4k(folder: Path) -> Path:
    from lib_depth.depth.exr import write_depth
    from lib_depth.depth.sample import synthetic_scene

    path = folder / "render_3840x2160.exr"
    write_depth(path, synthetic_scene(3840, 2160))
    return path


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


@contextlib.contextmanager
def both_versions(host: Host, rev: str, logs: Path) -> Iterator[dict[str, str]]:
    """Serve the host twice at once: with the code at `rev` ("before") and this tree ("after").

    Running both side by side and alternating clicks between them lets the shared machine's load
    drift hit both alike. Each WebUI loads its extensions at start-up, so the link points at each
    version only until that instance answers."""
    with code_at(rev) as old_code, contextlib.ExitStack() as stack:
        urls = {}
        for label, code in (("before", old_code), ("after", REPO)):
            with linked(host, code):
                urls[label] = stack.enter_context(serving(host, code, logs / f"{host.name}-{label}.log"))
        yield urls


@contextlib.contextmanager
def tab_page(browser, host: Host, url: str, render: Path) -> Iterator[object]:
    """A fresh page with `render` loaded in the tab (a loaded gr.File hides its upload input)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        open_tab(page, host, url)
        load_render(page, render)
        yield page
    finally:
        context.close()


def run_host(browser, host: Host, rev: str, renders: dict[str, Path], clicks: int,
             logs: Path) -> dict[tuple[str, str, str], list[tuple[float, float, float | None, float | None]]]:
    """Every render and kind of click, alternating between the before and after instances."""
    results: dict[tuple[str, str, str], list[tuple[float, float, float | None, float | None]]] = {}
    with both_versions(host, rev, logs) as urls:
        for render, path in renders.items():
            with contextlib.ExitStack() as stack:
                pages = {label: stack.enter_context(tab_page(browser, host, url, path)) for label, url in urls.items()}
                for kind in KINDS:
                    for i in range(clicks + 1):  # the first one of each warms up
                        for label, page in pages.items():
                            timing = click_once(page, kind, i)
                            if i:
                                results.setdefault((label, render, kind), []).append(timing)
                    print(f"  {host.name} {render} {kind}: median before "
                          f"{statistics.median(t[1] for t in results[('before', render, kind)]):.0f} ms, after "
                          f"{statistics.median(t[1] for t in results[('after', render, kind)]):.0f} ms", flush=True)
    return results


def _median_of(values: list[float | None], none: str = "queued") -> str:
    known = [v for v in values if v is not None]
    return f"{statistics.median(known):.0f}" if known else none


def print_table(rows: list[tuple[str, str, str, list, list]], load: str) -> None:
    """The latency table (what a user sees: the new preview decoded), then where the time went."""
    print(f"\nclick -> new depth preview shown, ms (N={len(rows[0][3])} clicks each); {load}\n")
    print("| host | render | action | before median | before p90 | after median | after p90 | after/before |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for host, render, kind, before, after in rows:
        b, a = [t[1] for t in before], [t[1] for t in after]
        ratio = statistics.median(a) / statistics.median(b)
        print(f"| {host} | {render} | {kind} | {statistics.median(b):.0f} | {p90(b):.0f} | "
              f"{statistics.median(a):.0f} | {p90(a):.0f} | {ratio:.2f} |")
    print("\nwhere it went (medians, ms from the click): response = a direct request's response has arrived "
          "(a queue=False event's or the tab's route's; queued events have none); src = the page has the new "
          "image; shown = decoded; Enter = from the Enter of a typed cutoff to decoded (the rest is the typing)\n")
    print("| host | render | action | before src | before shown | before Enter | after response | after src | "
          "after shown | after Enter |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for host, render, kind, before, after in rows:
        print(f"| {host} | {render} | {kind} | {statistics.median(t[0] for t in before):.0f} | "
              f"{statistics.median(t[1] for t in before):.0f} | {_median_of([t[3] for t in before], '-')} | "
              f"{_median_of([t[2] for t in after])} | {statistics.median(t[0] for t in after):.0f} | "
              f"{statistics.median(t[1] for t in after):.0f} | {_median_of([t[3] for t in after], '-')} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", action="append", required=True, type=parse_host, metavar="NAME=[ROOT]:PYTHON",
                        help="a1111=/webui:/venv/bin/python, forge=..., standalone=:/venv/bin/python (repeatable)")
    parser.add_argument("--before", default="57ae3bf", help="git revision measured as 'before' (default 57ae3bf)")
    parser.add_argument("--clicks", type=int, default=20, help="measured clicks per render and action (default 20)")
    parser.add_argument("--logs", type=Path, default=Path(tempfile.gettempdir()) / "bench_tab_latency")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    args.logs.mkdir(parents=True, exist_ok=True)
    renders = {"sample 768x512": REPO / "examples" / "scene.exr", "4K 3840x2160": synthetic_4k(args.logs)}
    rows = []
    loads = [os.getloadavg()[0]]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for host in args.host:
                res = run_host(browser, host, args.before, renders, args.clicks, args.logs)
                loads.append(os.getloadavg()[0])
                rows += [(host.name, r, k, res[("before", r, k)], res[("after", r, k)])
                         for r in renders for k in KINDS]
        finally:
            browser.close()
    print_table(rows, f"1-min load average {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
