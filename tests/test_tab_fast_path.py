"""The EXR tab in Debian's chromium (the standalone tab, `python -m lib_depth.ui`): what a user's cut,
typed value and *Make* do to the page, counted in requests (no timing: bench/bench_tab_latency.py
measures that against real WebUIs).

- A number typed and not entered, then *Make*: the maps are made with it, and stay offered
  (issue 22, 1: on gradio 3 leaving the box fired a preview whose pending state grew the status
  box, *Make* moved under the pointer and the click was lost).
- A typed value previews once, however it is entered (Enter, then leaving the box: issue 22, 2).
- Cut buttons, chart clicks and a typed cutoff go to the tab's own route and JavaScript, with no
  gradio event (issue 22, 4: each gradio event re-renders Forge's whole page); the preview is
  the exact map, and *Make* uses the cutoff so set.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from lib_depth.depth.chart import SCALE, WIDTH, layout
from lib_depth.depth.exr import read_depth
from lib_depth.depth.normals import normal_map
from lib_depth.depth.process import DepthOptions, histogram, make_depth_map
from tests.fixtures_ui import UiServer, browser_page, standalone_ui
from tests.test_browser import gray, image_pixels, src_of, wait_for_new_image

pytestmark = pytest.mark.browser

WAIT_MS = 30_000
#: Requests that are gradio events: direct (off the queue) or queued (gradio 4's join; gradio 3
#: opens a websocket per queued event, counted apart).
GRADIO_EVENT = re.compile(r"/(run|api)/predict|/queue/join")
FAST_ROUTE = "/depth-tools/tab/"
DEPTH, CUTOFF, FOV = "#depth_tools_exr_depth", "#depth_tools_exr_cutoff input", "#depth_tools_exr_fov input"


@pytest.fixture(scope="module")
def exr_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    """The standalone tab without MiDaS weights: these tests use the EXR sub-tab only."""
    with standalone_ui(tmp_path_factory.mktemp("exr_server")) as server:
        yield server


class Requests:
    """The page's gradio events and calls of the tab's route, as they leave the browser."""

    def __init__(self, page) -> None:
        self.gradio: list[str] = []
        self.fast: list[str] = []
        page.on("request", self._seen)
        page.on("websocket", lambda ws: self.gradio.append(ws.url))

    def _seen(self, request) -> None:
        if GRADIO_EVENT.search(request.url):
            self.gradio.append(request.url)
        elif FAST_ROUTE in request.url:
            self.fast.append(request.url)

    def clear(self) -> None:
        self.gradio.clear()
        self.fast.clear()

    @property
    def previews(self) -> int:
        return len(self.gradio) + len(self.fast)


def open_sample(page, server: UiServer, sample_exr: Path) -> None:
    from playwright.sync_api import expect

    page.goto(server.url)
    page.set_input_files("#depth_tools_exr_files input[type=file]", str(sample_exr))
    expect(page.locator("#depth_tools_exr_cut_1")).to_be_visible()
    page.wait_for_selector(f"{DEPTH} img")
    page.wait_for_timeout(500)  # the load's last updates


def written(page, kind: str) -> np.ndarray:
    link = page.locator(f"#depth_tools_exr_downloads a[href*='.{kind}.png']").first
    png = page.request.get(link.get_attribute("href")).body()
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)


def settle(page, requests: Requests, quiet_ms: int = 600) -> None:
    """Wait until no request has left for `quiet_ms` (a late preview would come in that time)."""
    seen = -1
    while seen != requests.previews:
        seen = requests.previews
        page.wait_for_timeout(quiet_ms)


def type_300_and_make(page, requests: Requests, depth: np.ndarray):
    """Type 300 into the cutoff without Enter and click *Make*: one download, still one once every
    request the page sent has settled, and it is the map of cutoff 300. Returns the downloads' links."""
    from playwright.sync_api import expect

    page.fill(CUTOFF, "300")
    page.click("#depth_tools_make")
    links = page.locator("#depth_tools_exr_downloads a")
    expect(links).to_have_count(1)
    settle(page, requests)
    expect(links).to_have_count(1)
    np.testing.assert_array_equal(written(page, "depth"), make_depth_map(depth, DepthOptions(cutoff=300)).levels)
    return links


def test_typed_values_then_make_keep_their_downloads(exr_server: UiServer, chromium, sample_exr: Path,
                                                     artifacts_dir: Path) -> None:
    """A cutoff typed without Enter, then *Make*: the PNG is made with it and stays offered once
    every preview has come back; the same for a field of view and the normal map."""
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    depth = read_depth(sample_exr).depth
    with browser_page(chromium, 1360, 980, WAIT_MS) as (page, errors):
        try:
            requests = Requests(page)
            open_sample(page, exr_server, sample_exr)
            links = type_300_and_make(page, requests, depth)

            page.click("#depth_tools_exr_no_cut")
            page.locator("#depth_tools_exr_normal input[type=checkbox]").check()
            page.wait_for_selector("#depth_tools_exr_normal_preview img")
            settle(page, requests)
            page.fill(FOV, "54.43")
            page.click("#depth_tools_make")
            expect(links).to_have_count(2)
            settle(page, requests)
            expect(links).to_have_count(2)
            np.testing.assert_array_equal(written(page, "normal")[:, :, ::-1], normal_map(depth, fov_degrees=54.43))
            assert errors == []
        except Exception:
            page.screenshot(path=str(artifacts_dir / "typed_then_make_failure.png"), full_page=True)
            raise


@pytest.mark.parametrize("box", [CUTOFF, FOV])
def test_a_typed_value_previews_once(exr_server: UiServer, chromium, sample_exr: Path, box: str) -> None:
    """Typed, Enter, then Tab out of the box: one preview, showing the value; Enter again on the
    same value: none."""
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    depth = read_depth(sample_exr).depth
    with browser_page(chromium, 1360, 980, WAIT_MS) as (page, errors):
        requests = Requests(page)
        open_sample(page, exr_server, sample_exr)
        shown = DEPTH
        if box == FOV:
            page.locator("#depth_tools_exr_normal input[type=checkbox]").check()
            page.wait_for_selector("#depth_tools_exr_normal_preview img")
            shown = "#depth_tools_exr_normal_preview"
        settle(page, requests)
        requests.clear()
        old = src_of(page, shown)
        page.fill(box, "300" if box == CUTOFF else "54.43")
        page.press(box, "Enter")
        wait_for_new_image(page, shown, old)
        page.press(box, "Tab")
        settle(page, requests)
        assert requests.previews == 1, (requests.gradio, requests.fast)
        if box == CUTOFF:
            expected = make_depth_map(depth, DepthOptions(cutoff=300)).levels
            np.testing.assert_array_equal(gray(image_pixels(page, shown)), expected)
        else:
            np.testing.assert_array_equal(image_pixels(page, shown)[:, :, ::-1], normal_map(depth, fov_degrees=54.43))
        page.press(box, "Enter")
        settle(page, requests)
        assert requests.previews == 1, (requests.gradio, requests.fast)
        assert errors == []


def test_cuts_go_to_the_tabs_route_without_a_gradio_event(exr_server: UiServer, chromium, sample_exr: Path,
                                                          artifacts_dir: Path) -> None:
    """A suggested cut, a chart click and a typed cutoff: one request each to the tab's route, no
    gradio event, the exact preview, the box showing the cutoff; *Make* then makes that cutoff's
    map, and a cut after it takes the (now stale) downloads away."""
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    depth = read_depth(sample_exr).depth
    suggestions = histogram(depth).suggestions
    status = "#depth_tools_exr_status"
    with browser_page(chromium, 1360, 980, WAIT_MS) as (page, errors):
        try:
            requests = Requests(page)
            open_sample(page, exr_server, sample_exr)
            settle(page, requests)

            def one_fast_preview(act, cutoff: float) -> None:
                requests.clear()
                old = src_of(page, DEPTH)
                act()
                wait_for_new_image(page, DEPTH, old)
                expect(page.locator(CUTOFF)).to_have_value(f"{cutoff:g}")
                expect(page.locator(status).first).to_contain_text(f"{cutoff:.2f} and beyond")
                settle(page, requests)
                assert (len(requests.fast), requests.gradio) == (1, []), (requests.fast, requests.gradio)
                expected = make_depth_map(depth, DepthOptions(cutoff=cutoff)).levels
                np.testing.assert_array_equal(gray(image_pixels(page, DEPTH)), expected)

            one_fast_preview(lambda: page.click("#depth_tools_exr_cut_0"), 254.5)
            box = layout(histogram(depth))
            chart = page.locator("#depth_tools_exr_chart img").bounding_box()
            scale = chart["width"] / (WIDTH * SCALE)
            near_second = {"x": (box.x_of(suggestions[1]) + 3 * SCALE) * scale, "y": chart["height"] / 2}
            one_fast_preview(lambda: page.click("#depth_tools_exr_chart img", position=near_second), 340.5)

            def typed() -> None:
                page.fill(CUTOFF, "300")
                page.press(CUTOFF, "Enter")

            one_fast_preview(typed, 300)

            page.click("#depth_tools_exr_cut_0")
            expect(page.locator(CUTOFF)).to_have_value("254.5")
            page.click("#depth_tools_make")
            links = page.locator("#depth_tools_exr_downloads a")
            expect(links).to_have_count(1)
            np.testing.assert_array_equal(written(page, "depth"),
                                          make_depth_map(depth, DepthOptions(cutoff=254.5)).levels)
            page.click("#depth_tools_exr_cut_1")
            expect(links).to_have_count(0)  # made with 254.5: no longer what the preview shows
            assert errors == []
        except Exception:
            page.screenshot(path=str(artifacts_dir / "fast_path_failure.png"), full_page=True)
            raise


def test_a_cut_previews_with_the_controls_the_page_shows(exr_server: UiServer, chromium, sample_exr: Path) -> None:
    """The script sends the ticks and choices as the page shows them (gradio 3 and 4 draw them
    differently): inverted, 16-bit (its high byte shown), noise with a typed seed, and the mask."""
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    depth = read_depth(sample_exr).depth
    with browser_page(chromium, 1360, 980, WAIT_MS) as (page, errors):
        requests = Requests(page)
        open_sample(page, exr_server, sample_exr)
        page.check("#depth_tools_exr_invert input")
        page.locator("#depth_tools_exr_bits label", has_text="16-bit").click()
        page.check("#depth_tools_exr_noise input")
        page.check("#depth_tools_exr_mask input")
        expect(page.locator("#depth_tools_exr_seed input")).to_be_visible()
        page.fill("#depth_tools_exr_seed input", "7")
        page.press("#depth_tools_exr_seed input", "Enter")
        page.wait_for_selector("#depth_tools_exr_mask_preview img")
        settle(page, requests)
        requests.clear()
        old = src_of(page, DEPTH)
        page.click("#depth_tools_exr_cut_1")
        wait_for_new_image(page, DEPTH, old)
        settle(page, requests)
        assert (len(requests.fast), requests.gradio) == (1, []), (requests.fast, requests.gradio)
        options = DepthOptions(cutoff=340.5, invert=True, bits=16, noise=True, seed=7)
        expected = make_depth_map(depth, options)
        np.testing.assert_array_equal(gray(image_pixels(page, DEPTH)), (expected.levels >> 8).astype(np.uint8))
        np.testing.assert_array_equal(gray(image_pixels(page, "#depth_tools_exr_mask_preview")), expected.mask_image())
        assert errors == []


def test_a_typed_seed_in_the_image_tab_previews_once(exr_server: UiServer, chromium) -> None:
    """The Image sub-tab's seed has a gradio event: one per change too (its hidden commit button)."""
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    with browser_page(chromium, 1360, 980, WAIT_MS) as (page, errors):
        requests = Requests(page)
        page.goto(exr_server.url)
        page.click("#depth_tools_tabs button:text-is('Image')")
        page.check("#depth_tools_midas_noise input")
        seed = "#depth_tools_midas_seed input"
        expect(page.locator(seed)).to_be_visible()
        settle(page, requests)
        requests.clear()
        page.fill(seed, "7")
        page.press(seed, "Enter")
        page.press(seed, "Tab")
        settle(page, requests)
        assert len(requests.gradio) == 1, requests.gradio
        page.press(seed, "Enter")
        settle(page, requests)
        assert len(requests.gradio) == 1, requests.gradio
        assert errors == []


def test_make_waits_for_a_cut_on_its_way(exr_server: UiServer, chromium, sample_exr: Path) -> None:
    """A slow answer from the tab's route (held back here for 1 s): *Make* clicked meanwhile makes
    the maps with the cutoff just typed (leaving the box sent it), and they stay offered."""
    import time

    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    depth = read_depth(sample_exr).depth
    with browser_page(chromium, 1360, 980, WAIT_MS) as (page, errors):
        requests = Requests(page)
        open_sample(page, exr_server, sample_exr)

        def slowly(route) -> None:
            time.sleep(1.0)
            route.continue_()

        page.route(f"**{FAST_ROUTE}**", slowly)
        type_300_and_make(page, requests, depth)
        assert errors == []
