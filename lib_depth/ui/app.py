"""The "Depth Tools" tab: gradio Blocks that work in the WebUI (gradio 3.41 or 4.40) and alone.

`build_tab(host)` is what the WebUI adapter (`lib_depth.webui.tabs`) gives its on_ui_tabs, with the
host's side of the tab (`hosting.TabHost`); `python -m lib_depth.ui` serves the same tab on
127.0.0.1 with the standalone defaults, for people without a WebUI and for the browser tests,
and the HTTP API (`lib_depth.api`) beside it. Nothing here imports torch or the WebUI.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from .. import __version__
from ..api import API_PREFIX, DEFAULT_MAX_UPLOAD, ApiLimits, make_router
from ..depth.dependencies import MissingDependency, is_installed, missing_message, require
from . import exr_tab, hosting, midas_tab, status
from . import midas as midas_work
from .compat import gradio3_queue_read_timeout, js_kwargs
from .fast_preview import make_tab_router

#: The browser-side code the WebUI loads from javascript/ (the standalone page loads it itself).
PAGE_SCRIPTS = ("depth_tools_tab.js",)
JAVASCRIPT = Path(__file__).resolve().parents[2] / "javascript"
TITLE = "Depth Tools"
SUBTITLE = "EXR depth renders and images to ControlNet depth maps (near = white)"


@dataclass
class DepthToolsUI:
    """The Blocks and its two sub-tabs' components (tests reach the components through these)."""

    blocks: gr.Blocks
    exr: exr_tab.ExrTab
    midas: midas_tab.MidasTab


def build_ui(host: hosting.TabHost | None = None) -> DepthToolsUI:
    """The whole tab as one Blocks: an "EXR render" and an "Image" sub-tab (a registry model of the user's choice).

    `host` is the WebUI's side of the tab; None: standalone (no WebUI)."""
    hosting.use(host if host is not None else hosting.TabHost())
    with gr.Blocks(analytics_enabled=False, title=TITLE) as blocks:
        gr.HTML(status.header(TITLE, SUBTITLE), elem_id="depth_tools_header")
        notice = missing_packages_notice()
        if notice:
            gr.HTML(notice, elem_id="depth_tools_missing")
        with gr.Tabs(elem_id="depth_tools_tabs"):
            with gr.Tab("EXR render", elem_id="depth_tools_tab_exr"):
                exr = exr_tab.build()
            with gr.Tab("Image", elem_id="depth_tools_tab_midas"):
                midas = midas_tab.build()
    return DepthToolsUI(blocks, exr, midas)


def missing_packages_notice() -> str:
    """What cannot work for want of a package, with the command that installs it ("" when none).

    The tab is built whatever is missing (a WebUI started with --skip-install, a failed pip):
    only the parts that need the package say so, here and when used."""
    problems = []
    try:
        require("OpenEXR", "The EXR render tab")
    except MissingDependency as exc:
        problems.append(str(exc))
    for module in ("torch", "controlnet_aux", "timm"):
        if not is_installed(module):
            problems.append(missing_message(module, "The Image tab and the preprocessors"))
    if not problems:
        return ""
    return status.error("Some of Depth Tools cannot work until a package is installed (then restart):", problems)


def build_tab(host: hosting.TabHost | None = None) -> gr.Blocks:
    """What the WebUI's on_ui_tabs returns."""
    return build_ui(host).blocks


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m lib_depth.ui",
        description="Serve the Depth Tools tab in a browser, without a WebUI.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    parser.add_argument("--port", type=int, default=7870, help="port (default 7870)")
    parser.add_argument("--browser", action="store_true", help="open a browser tab once the server is up")
    midas = parser.add_argument_group("MiDaS (the Image tab)")
    midas.add_argument(
        "--weights", metavar="PATH",
        help="dpt_hybrid-midas-501f0c75.pt, or a folder holding it (default: search this extension's models/ "
        "folder, ControlNet's and Forge's folders, the Hugging Face cache)",
    )
    midas.add_argument(
        "--download", action="store_true",
        help="download the weights (470 MiB) from Hugging Face when none are found",
    )
    midas.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: the best there is)")
    midas.add_argument("--precision", choices=("fp32", "fp16", "bf16"), help="default: fp16 on GPUs, measured on CPUs")
    api = parser.add_argument_group(f"HTTP API ({API_PREFIX}/..., documented at {API_PREFIX}/docs)")
    api.add_argument("--max-upload-mib", type=float, default=DEFAULT_MAX_UPLOAD / (1 << 20), metavar="MIB",
                     help="largest file a request may upload (default %(default)g MiB; 413 beyond)")
    return parser.parse_args(argv)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def standalone_host(address: str) -> hosting.TabHost:
    """The standalone side of the tab: server folders only when it listens on this machine alone
    (the default); with `--host 0.0.0.0` anyone who reaches the port would read and write them."""
    if address in LOOPBACK or address.startswith("127."):
        return hosting.TabHost()
    message = (f"Server folders are off: this server was started with --host {address}, so visitors from other "
               "machines could read and write its files through them. Upload the frames instead.")
    return hosting.TabHost(server_folders=lambda: message)


def load_page_scripts(blocks: gr.Blocks) -> None:
    """Run `PAGE_SCRIPTS` in the page when it loads, as the WebUI does with javascript/*.js
    (gradio 3.41 has no `head=`): a load event with only a client-side function."""
    code = "\n".join((JAVASCRIPT / name).read_text(encoding="utf-8") for name in PAGE_SCRIPTS)
    with blocks:
        blocks.load(None, None, None, **js_kwargs(f"() => {{\n{code}\n}}"))


def standalone_routes(max_upload_bytes: int = DEFAULT_MAX_UPLOAD) -> list[Any]:
    """The routes the standalone server adds to gradio's app: the HTTP API and the tab's own."""
    router = make_router(settings_fn=midas_work.model_settings, limits=ApiLimits(max_upload_bytes=max_upload_bytes))
    return [*router.routes, *make_tab_router().routes]


def lift_queue_timeout(blocks: gr.Blocks) -> bool:
    """Let gradio 3's queue wait for long tasks (see `compat.gradio3_queue_read_timeout`): its
    client to itself exists once launched. True when a timeout was lifted."""
    client = getattr(getattr(blocks, "_queue", None), "queue_client", None)
    if client is None or gradio3_queue_read_timeout() is None:
        return False
    client.timeout = None
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    midas_work.standalone = midas_work.StandaloneOptions(
        args.weights, True if args.download else None, args.device, args.precision
    )
    tab = build_tab(standalone_host(args.host))
    load_page_scripts(tab)
    tab.queue(api_open=False)  # progress bars, one job at a time; gradio's own REST API stays closed
    print(f"Depth Tools {__version__} (gradio {gr.__version__}) on http://{args.host}:{args.port}, "
          f"HTTP API on {API_PREFIX}", flush=True)
    tab.launch(  # the routes go in gradio's FastAPI app before it serves (3.41 and 4.x)
        app_kwargs={"routes": standalone_routes(int(args.max_upload_mib * (1 << 20)))},
        server_name=args.host,
        server_port=args.port,
        inbrowser=args.browser,
        share=False,
        show_api=False,
        quiet=True,
        prevent_thread_lock=True,
    )
    lift_queue_timeout(tab)
    tab.block_thread()  # until Ctrl+C
    return 0

