"""End to end in a real browser: Debian's chromium, driven by Playwright, against the standalone tab
(`python -m lib_depth.ui`) on 127.0.0.1. One flow, as a user would go through it.

Screenshots land in artifacts/browser/. The README's screenshot (docs/screenshots/exr_tab.png) is
written when missing, or refreshed with DEPTH_TOOLS_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from lib_depth import midas
from lib_depth.depth.chart import HEIGHT, SCALE, WIDTH, layout
from lib_depth.depth.exr import read_depth
from lib_depth.depth.png import read_png
from lib_depth.depth.process import DepthOptions, histogram, make_depth_map
from tests.fixtures_ui import UiServer, browser_page

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
DOC_SCREENSHOTS = REPO / "docs" / "screenshots"
#: Generous waits for a loaded 2-core machine; the flow itself takes a few seconds.
WAIT_MS = 30_000


def image_pixels(page, selector: str) -> np.ndarray:
    """Decode the picture an <img> shows: a data URL (gradio 3) or a served file (gradio 4)."""
    src = page.locator(f"{selector} img").first.get_attribute("src")
    assert src, f"{selector} shows no image"
    data = base64.b64decode(src.split(",", 1)[1]) if src.startswith("data:") else page.request.get(src).body()
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else image[:, :, 0]


def wait_for_new_image(page, selector: str, old_src: str | None) -> None:
    page.wait_for_function(
        "([sel, old]) => { const i = document.querySelector(sel + ' img'); return i && i.src && i.src !== old; }",
        arg=[selector, old_src or ""],
        timeout=WAIT_MS,
    )


def src_of(page, selector: str) -> str | None:
    locator = page.locator(f"{selector} img")
    return locator.first.get_attribute("src") if locator.count() else None


def shoot(page, artifacts_dir: Path, shot_name: str, doc_name: str) -> None:
    """The whole page, pointer out of the way, into artifacts/ and (`publish`) docs/screenshots/."""
    page.mouse.move(0, 0)
    shot = artifacts_dir / shot_name
    page.screenshot(path=str(shot), full_page=True)
    publish(shot, doc_name)


def publish(shot: Path, name: str) -> None:
    """Copy a screenshot to docs/ when it is not there yet or when asked to refresh it."""
    target = DOC_SCREENSHOTS / name
    if not target.exists() or os.environ.get("DEPTH_TOOLS_UPDATE_SCREENSHOTS") == "1":
        DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)


def test_tab_in_chromium(
    ui_server: UiServer, chromium, sample_exr: Path, artifacts_dir: Path, midas_estimator
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    depth = read_depth(sample_exr).depth
    suggestions = histogram(depth).suggestions
    with browser_page(chromium, 1360, 980, WAIT_MS, accept_downloads=True) as (page, errors):
        try:
            page.goto(ui_server.url)
            status = page.locator("#depth_tools_exr_status").first  # gradio 3 repeats an HTML block's id inside
            expect(status).to_contain_text("Upload one or more EXR")
            page.screenshot(path=str(artifacts_dir / "01_empty.png"), full_page=True)

            # Upload the sample: the histogram appears with its two suggested cuts, and the preview.
            page.set_input_files("#depth_tools_exr_files input[type=file]", str(sample_exr))
            expect(page.locator("#depth_tools_exr_cut_0")).to_have_text("Cut at 254.50")
            expect(page.locator("#depth_tools_exr_cut_1")).to_have_text("Cut at 340.50")
            expect(page.locator("#depth_tools_exr_cut_2")).to_be_hidden()
            expect(status).to_contain_text("channel Y")
            page.wait_for_selector("#depth_tools_exr_depth img")
            chart = image_pixels(page, "#depth_tools_exr_chart")
            assert chart.shape[:2] == (HEIGHT * SCALE, WIDTH * SCALE)
            before = gray(image_pixels(page, "#depth_tools_exr_depth"))
            np.testing.assert_array_equal(before, make_depth_map(depth).levels)
            assert page.locator("#depth_tools_exr_cutoff input").input_value() == ""  # no cutoff yet
            page.screenshot(path=str(artifacts_dir / "02_loaded.png"), full_page=True)

            # One click on a suggested cut sets the cutoff; the preview follows.
            old = src_of(page, "#depth_tools_exr_depth")
            page.click("#depth_tools_exr_cut_0")
            expect(page.locator("#depth_tools_exr_cutoff input")).to_have_value("254.5")
            wait_for_new_image(page, "#depth_tools_exr_depth", old)
            after = gray(image_pixels(page, "#depth_tools_exr_depth"))
            np.testing.assert_array_equal(after, make_depth_map(depth, DepthOptions(cutoff=254.5)).levels)
            assert not np.array_equal(before, after)
            expect(status).to_contain_text("254.50 and beyond")

            # A click on the chart near the other suggested cut snaps to it.
            box = layout(histogram(depth))
            shown = page.locator("#depth_tools_exr_chart img").bounding_box()
            assert shown is not None
            scale = shown["width"] / (WIDTH * SCALE)
            old = src_of(page, "#depth_tools_exr_depth")
            page.click(
                "#depth_tools_exr_chart img",
                position={"x": (box.x_of(suggestions[1]) + 3 * SCALE) * scale, "y": shown["height"] / 2},
            )
            expect(page.locator("#depth_tools_exr_cutoff input")).to_have_value("340.5")
            wait_for_new_image(page, "#depth_tools_exr_depth", old)

            # A cutoff that leaves nothing is a message in the tab, not a traceback.
            page.fill("#depth_tools_exr_cutoff input", "100")
            page.press("#depth_tools_exr_cutoff input", "Enter")
            expect(status).to_contain_text("Problem")
            expect(status).to_contain_text("at or below the nearest depth")
            assert "Traceback" not in status.inner_text()

            # Back to the first suggestion and, without waiting, ask for a mask: the mask's event must
            # see the new cutoff although the box had not been refilled when it was sent.
            page.click("#depth_tools_exr_cut_0")
            page.check("#depth_tools_exr_mask input")
            expect(page.locator("#depth_tools_exr_mask_preview img")).to_be_visible()
            expect(page.locator("#depth_tools_exr_cutoff input")).to_have_value("254.5")
            expect(status).to_contain_text("254.50 and beyond")
            cut = make_depth_map(depth, DepthOptions(cutoff=254.5))
            np.testing.assert_array_equal(gray(image_pixels(page, "#depth_tools_exr_depth")), cut.levels)
            np.testing.assert_array_equal(gray(image_pixels(page, "#depth_tools_exr_mask_preview")), cut.mask_image())

            # Make the full-size PNGs and download them.
            page.click("#depth_tools_make")
            links = page.locator("#depth_tools_exr_downloads a")
            expect(links).to_have_count(2)
            expect(status).to_contain_text("Wrote 2 PNGs")
            expected = make_depth_map(depth, DepthOptions(cutoff=254.5))
            for index, (name, pixels) in enumerate(
                [("scene.depth.png", expected.levels), ("scene.mask.png", expected.mask_image())]
            ):
                with page.expect_download() as info:
                    links.nth(index).click()
                download = info.value
                assert download.suggested_filename == name
                saved = artifacts_dir / name
                download.save_as(str(saved))
                np.testing.assert_array_equal(read_png(saved), pixels)
            page.mouse.move(0, 0)
            shot = artifacts_dir / "03_cut_and_downloads.png"
            page.screenshot(path=str(shot), full_page=True)
            publish(shot, "exr_tab.png")
            chart_shot = artifacts_dir / "histogram.png"  # the chart as served, at its full resolution
            cv2.imwrite(str(chart_shot), image_pixels(page, "#depth_tools_exr_chart"))
            publish(chart_shot, "histogram.png")

            # The MiDaS tab with the real network (random weights): estimate, then a live control.
            page.click("#depth_tools_tabs button:text-is('Image')")
            picture = np.dstack([np.tile(np.arange(0, 192, 2, dtype=np.uint8), (64, 1))] * 3)
            picture[16:48, 24:56] = (230, 200, 180)
            photo = artifacts_dir / "photo.png"
            cv2.imwrite(str(photo), picture)
            page.set_input_files("#depth_tools_midas_image input[type=file]", str(photo))
            page.wait_for_selector("#depth_tools_midas_image img")
            page.fill("#depth_tools_midas_resolution input[type=number]", "64")
            page.press("#depth_tools_midas_resolution input[type=number]", "Enter")
            page.click("#depth_tools_midas_run")  # loads 470 MiB first: longer than httpx's 5 s default
            midas_status = page.locator("#depth_tools_midas_status").first
            expect(midas_status).to_contain_text("MiDaS DPT-hybrid at resolution 64", timeout=120_000)
            nearness = midas_estimator(picture[:, :, ::-1], resolution=64)  # the PNG holds BGR: the browser sends RGB
            expected = make_depth_map(midas.nearness_to_depth(nearness, 0.1)).levels
            shown = gray(image_pixels(page, "#depth_tools_midas_depth"))
            assert shown.shape == (64, 96)
            np.testing.assert_allclose(shown, expected, atol=1)  # two processes, same CPU kernels
            normal = image_pixels(page, "#depth_tools_midas_normal")
            assert normal.shape == (64, 96, 3)
            old = src_of(page, "#depth_tools_midas_depth")
            page.check("#depth_tools_midas_invert input")  # no second model run: straight from the estimate
            wait_for_new_image(page, "#depth_tools_midas_depth", old)
            inverted = gray(image_pixels(page, "#depth_tools_midas_depth"))
            np.testing.assert_array_equal(inverted, 255 - shown)
            expect(page.locator("#depth_tools_midas_downloads a")).to_have_count(2)
            page.screenshot(path=str(artifacts_dir / "04_midas.png"), full_page=True)
            assert errors == []
        except Exception:
            page.screenshot(path=str(artifacts_dir / "failure.png"), full_page=True)
            raise


def test_normal_map_in_chromium(ui_server: UiServer, chromium, sample_exr: Path, artifacts_dir: Path) -> None:
    """Tick "Normal map": the field of view and "Depth is" show, the normal preview appears beside
    the depth preview with the render's exact normals for the lens typed, and Make offers
    `scene.normal.png` (the README's docs/screenshots/exr_tab_normal.png)."""
    from playwright.sync_api import expect

    from lib_depth.depth.normals import normal_map

    expect.set_options(timeout=WAIT_MS)
    depth = read_depth(sample_exr).depth
    with browser_page(chromium, 1360, 980, WAIT_MS) as (page, errors):
        try:
            page.goto(ui_server.url)
            page.set_input_files("#depth_tools_exr_files input[type=file]", str(sample_exr))
            page.wait_for_selector("#depth_tools_exr_depth img")
            expect(page.locator("#depth_tools_exr_fov")).to_be_hidden()
            expect(page.locator("#depth_tools_exr_normal_preview img")).to_have_count(0)
            page.locator("#depth_tools_exr_normal input[type=checkbox]").check()
            expect(page.locator("#depth_tools_exr_fov")).to_be_visible()
            expect(page.locator("#depth_tools_exr_depth_is")).to_be_visible()
            page.wait_for_selector("#depth_tools_exr_normal_preview img")
            shown = image_pixels(page, "#depth_tools_exr_normal_preview")[:, :, ::-1]  # cv2 decodes BGR
            np.testing.assert_array_equal(shown, normal_map(depth))  # Blender's default lens

            old = src_of(page, "#depth_tools_exr_normal_preview")
            page.fill("#depth_tools_exr_fov input", "54.43")
            page.press("#depth_tools_exr_fov input", "Tab")  # leaving the box enters it (no later blur races Make)
            wait_for_new_image(page, "#depth_tools_exr_normal_preview", old)
            shown = image_pixels(page, "#depth_tools_exr_normal_preview")[:, :, ::-1]
            np.testing.assert_array_equal(shown, normal_map(depth, fov_degrees=54.43))
            status = page.locator("#depth_tools_exr_status").first
            expect(status).to_contain_text("normal map: 54.43° across, planar depth")

            page.click("#depth_tools_make")
            links = page.locator("#depth_tools_exr_downloads a")
            expect(links).to_have_count(2)
            normal_link = page.locator("#depth_tools_exr_downloads a[href*='.normal.png']").first
            png = page.request.get(normal_link.get_attribute("href")).body()
            written = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
            np.testing.assert_array_equal(written, shown)  # the preview is the file at this size
            shoot(page, artifacts_dir, "06_normal_map.png", "exr_tab_normal.png")
            assert errors == []
        except Exception:
            page.screenshot(path=str(artifacts_dir / "failure_normal.png"), full_page=True)
            raise


def sequence_frame(i: int) -> np.ndarray:
    """A still room with a subject that walks nearer from frame to frame."""
    from lib_depth.depth.sample import synthetic_scene

    depth = synthetic_scene(384, 256)
    depth[80:176, 120 + 32 * i : 200 + 32 * i] = 150.0 - 20 * i
    return depth


def test_sequence_preview_in_chromium(ui_server: UiServer, chromium, tmp_path: Path, artifacts_dir: Path) -> None:
    """Three frames "as one sequence": the sequence's histogram and cuts, a frame slider whose
    preview is the PNG the command line writes for that frame."""
    from playwright.sync_api import expect

    from lib_depth.depth.exr import write_depth
    from lib_depth.depth.frames import expand_frames
    from lib_depth.depth.sequence import SequenceJob, run_sequence

    expect.set_options(timeout=WAIT_MS)
    paths = []
    for i in range(3):
        path = tmp_path / f"walk_{i + 1:04d}.exr"
        write_depth(path, sequence_frame(i), channel="Y")
        paths.append(path)
    whole = histogram(np.vstack([sequence_frame(i) for i in range(3)]))
    assert whole.suggestions != histogram(sequence_frame(0)).suggestions
    cli = tmp_path / "cli"
    run_sequence(list(expand_frames(paths).frames), SequenceJob(output_dir=cli))
    with browser_page(chromium, 1360, 1000, WAIT_MS) as (page, errors):
        try:
            page.goto(ui_server.url)
            status = page.locator("#depth_tools_exr_status").first
            page.check("#depth_tools_exr_sequence input")
            expect(page.locator("#depth_tools_exr_input_folder")).to_be_visible()
            page.set_input_files("#depth_tools_exr_files input[type=file]", [str(p) for p in paths])
            expect(status).to_contain_text("frame 1 of 3")
            expect(page.locator("#depth_tools_exr_frame")).to_be_visible()
            expect(page.locator("#depth_tools_exr_cut_0")).to_have_text(f"Cut at {whole.suggestions[0]:.2f}")
            page.wait_for_selector("#depth_tools_exr_depth img")
            first = gray(image_pixels(page, "#depth_tools_exr_depth"))
            np.testing.assert_array_equal(first, read_png(cli / "walk_0001.depth.png"))

            old = src_of(page, "#depth_tools_exr_depth")
            number = page.locator("#depth_tools_exr_frame input[type=number]")
            number.fill("3")
            number.press("Enter")
            expect(status).to_contain_text("frame 3 of 3")
            wait_for_new_image(page, "#depth_tools_exr_depth", old)
            third = gray(image_pixels(page, "#depth_tools_exr_depth"))
            assert not np.array_equal(first, third)
            np.testing.assert_array_equal(third, read_png(cli / "walk_0003.depth.png"))
            np.testing.assert_array_equal(third[:, :60], first[:, :60])  # the still wall keeps its level
            expect(page.locator("#depth_tools_exr_cut_0")).to_have_text(f"Cut at {whole.suggestions[0]:.2f}")
            shoot(page, artifacts_dir, "05_sequence_preview.png", "sequence_preview.png")
            assert errors == []
        except Exception:
            page.screenshot(path=str(artifacts_dir / "sequence_failure.png"), full_page=True)
            raise
