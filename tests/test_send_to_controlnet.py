"""Send to ControlNet in a real chromium: the Depth Tools tab and `javascript/depth_tools_controlnet.js`
in a page that reproduces ControlNet's unit trees (tests/host_double/controlnet_page.py): Mikubill's
1.1.455 (gradio 3, as in A1111) and Forge's built-in one (gradio 3 here, 4.40 in .venv-forge).

After one click the unit's file input holds the exact bytes of the PNG the tab wrote, Enable is
ticked, the Control Type is Depth (NormalMap for a normal map), the preprocessor none, and the depth
model chosen; for units 0 and 2 of txt2img and img2img. The screenshot of a map arriving in a unit is
saved to artifacts/browser/send_to_controlnet_<flavour>.png (and /tmp/send_to_controlnet.png).
"""

from __future__ import annotations

import base64
import contextlib
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from lib_depth.depth.exr import read_depth
from lib_depth.depth.process import make_depth_map
from lib_depth.ui import controlnet_send, hosting
from lib_depth.ui.app import build_ui
from lib_depth.ui.compat import GRADIO_MAJOR
from tests.fixtures_ui import browser_page, free_port
from tests.host_double.controlnet_page import build_page, init_scripts, unit_name

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "javascript" / "depth_tools_controlnet.js"
WAIT_MS = 30_000
FLAVOURS = ["mikubill", "forge"] if GRADIO_MAJOR < 4 else ["forge"]  # A1111 (Mikubill's home) is gradio 3


def test_map_to_send_picks_the_written_png_byte_for_byte(tmp_path: Path) -> None:
    depth, normal = tmp_path / "a.depth.png", tmp_path / "a.normal.png"
    depth.write_bytes(b"\x89PNG depth")
    normal.write_bytes(b"\x89PNG normal")
    assert controlnet_send.map_to_send([str(depth), str(normal)], "Depth map") == str(depth)
    assert controlnet_send.map_to_send([str(depth), str(normal)], "Normal map") == str(normal)
    assert controlnet_send.map_to_send(None, "depth") is None
    archive = tmp_path / "depth_maps.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("b.mask.png", b"mask")
        zf.writestr("2/b.depth.png", b"\x89PNG zipped")
    picked = controlnet_send.map_to_send([str(archive)], "depth")
    assert picked is not None and Path(picked).name == "b.depth.png" and Path(picked).read_bytes() == b"\x89PNG zipped"


@pytest.fixture
def keep_host() -> Iterator[None]:
    """build_ui(host) makes `host` the current one: give the next tests back the one they had."""
    previous = hosting.current()
    yield
    hosting.use(previous)


def test_controls_only_with_controlnet(keep_host: None) -> None:
    ids = {getattr(b, "elem_id", None) for b in build_ui(hosting.TabHost()).blocks.blocks.values()}
    assert "depth_tools_exr_cn_send" not in ids and "depth_tools_midas_cn_send" not in ids
    ui = build_ui(hosting.TabHost(controlnet_units=lambda: 5))
    blocks = {getattr(b, "elem_id", None): b for b in ui.blocks.blocks.values()}
    assert {"depth_tools_exr_cn_send", "depth_tools_midas_cn_send"} <= set(blocks)
    choices = blocks["depth_tools_exr_cn_unit"].choices
    assert [c[0] if isinstance(c, tuple) else c for c in choices] == ["0", "1", "2", "3", "4"]


@pytest.mark.parametrize(("flavour", "option", "units"), [
    ("none", None, 0), ("controlnet", None, 3), ("controlnet_legacy", 5, 5), ("forge", 2, 2),
])
def test_unit_count_from_controlnets_setting(make_webui, flavour: str, option: int | None, units: int) -> None:
    from lib_depth.webui import controlnet, tabs

    webui = make_webui(flavour, **({"control_net_unit_count": option} if option else {}))
    assert controlnet.controlnet_units() == units
    assert tabs.tab_host().controlnet_units() == units
    assert webui.errors == []


@contextlib.contextmanager
def serving(flavour: str, midas_checkpoint: Path, units: int = 3, **page: Any) -> Iterator[tuple[str, str]]:
    """The page double with the real Depth Tools tab inside (3 units), served in this process."""
    from lib_depth.ui import midas as midas_work

    saved, previous_host = midas_work.standalone, hosting.current()
    midas_work.standalone = midas_work.StandaloneOptions(str(midas_checkpoint), False, "cpu", "fp32")
    host = hosting.TabHost(controlnet_units=lambda: units)
    built = build_page(flavour, units=units, extra_tabs=[("Depth Tools", "depth_tools", lambda: build_ui(host).blocks)],
                       **page)
    built.blocks.queue()
    port = free_port()
    built.blocks.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield flavour, f"http://127.0.0.1:{port}/"
    finally:
        built.blocks.close()
        midas_work.standalone = saved
        hosting.use(previous_host)


@pytest.fixture(scope="module", params=FLAVOURS)
def page_server(request: pytest.FixtureRequest, midas_checkpoint: Path) -> Iterator[tuple[str, str]]:
    """A WebUI whose ControlNet lists a depth model and no normal model."""
    with serving(request.param, midas_checkpoint) as served:
        yield served


def choose(page, dropdown: str, value: str) -> None:
    """Pick a value in a gradio 3/4 dropdown the way a user does."""
    page.click(f"{dropdown} input")
    page.locator(f"{dropdown} ul.options li").filter(has_text=re.compile(rf"^\W*{re.escape(value)}\s*$")).first.click()


def file_input_bytes(page, unit_id: str) -> bytes | None:
    data = page.evaluate(
        """async (id) => {
            const input = document.querySelector('#' + id + '_input_image input[type=file]');
            if (!input || !input.files.length) return null;
            const bytes = new Uint8Array(await input.files[0].arrayBuffer());
            let s = ''; for (const b of bytes) s += String.fromCharCode(b); return btoa(s);
        }""",
        unit_id,
    )
    return None if data is None else base64.b64decode(data)


def send(page, prefix: str, tab: str, unit: int, kind: str | None = None) -> str:
    page.click("#tabs button:has-text('Depth Tools')")
    page.locator(f"#{prefix}_cn_tab label:has-text('{tab}')").click()
    choose(page, f"#{prefix}_cn_unit", str(unit))
    if kind:
        page.locator(f"#{prefix}_cn_kind label:has-text('{kind}')").click()
    note = page.locator(f"#{prefix}_cn_note").first  # gradio 3 repeats an HTML block's id inside
    before = note.inner_text()
    page.click(f"#{prefix}_cn_send")
    page.wait_for_function(
        "([id, old]) => { const t = document.querySelector('#' + id).textContent.trim();"
        " return t && t !== old.trim(); }",
        arg=[f"{prefix}_cn_note", before], timeout=WAIT_MS,
    )
    return note.inner_text()


def check_unit(page, flavour: str, tab: str, unit: int, png: bytes, control_type: str, units: int = 3) -> None:
    unit_id = f"{tab}_controlnet_{unit_name(flavour, unit, units)}"
    assert file_input_bytes(page, unit_id) == png
    assert page.is_checked(f"#{unit_id}_controlnet_enable_checkbox input")
    assert page.is_checked(f"#{unit_id}_controlnet_type_filter_radio input[value='{control_type}']")
    assert page.input_value(f"#{unit_id}_controlnet_preprocessor_dropdown input").lower() == "none"
    if flavour == "forge":  # the canvas stand-in holds what Forge's canvas sends to the server
        page.wait_for_function(
            "(u) => (document.querySelector('#uuid_' + u + '.logical_image_background textarea') || {}).value"
            "?.startsWith('data:image/png;base64,')",
            arg=f"{tab}_{unit}", timeout=WAIT_MS,
        )


def open_webui(page, url: str, flavour: str) -> None:
    """The page with the scripts a WebUI of that flavour has, on the Depth Tools tab."""
    page.goto(url)
    page.wait_for_selector("#tabs")
    page.add_script_tag(content=init_scripts(flavour))  # A1111's own scripts (and Forge's canvas)
    page.add_script_tag(path=str(SCRIPT))  # as the WebUI loads javascript/*.js
    page.click("#tabs button:has-text('Depth Tools')")


def make_exr_map(page, exr: Path) -> bytes:
    """Upload `exr` to the EXR sub-tab, make the maps: the depth PNG it offers, as served."""
    from playwright.sync_api import expect

    page.set_input_files("#depth_tools_exr_files input[type=file]", str(exr))
    expect(page.locator("#depth_tools_exr_cut_0")).to_be_visible()
    page.click("#depth_tools_make")
    link = page.locator("#depth_tools_exr_downloads a").first
    expect(link).to_be_visible()
    return page.request.get(link.get_attribute("href")).body()


def downloaded(page, prefix: str) -> dict[str, bytes]:
    """The depth and normal PNGs a sub-tab offers, as served."""
    links = {kind: page.locator(f"#{prefix}_downloads a[href*='.{kind}.png']").first for kind in ("depth", "normal")}
    return {kind: page.request.get(link.get_attribute("href")).body() for kind, link in links.items()}


def run_midas(page, tmp_path: Path) -> dict[str, bytes]:
    """The MiDaS sub-tab on a small photo at resolution 64: its depth and normal PNGs."""
    from playwright.sync_api import expect

    page.click("#tabs button:has-text('Depth Tools')")
    page.click("#depth_tools_tabs button:text-is('Image')")
    photo = tmp_path / "photo.png"
    picture = np.dstack([np.tile(np.arange(0, 192, 2, dtype=np.uint8), (64, 1))] * 3)
    picture[16:48, 24:56] = (230, 200, 180)
    cv2.imwrite(str(photo), picture)
    page.set_input_files("#depth_tools_midas_image input[type=file]", str(photo))
    page.fill("#depth_tools_midas_resolution input[type=number]", "64")
    page.press("#depth_tools_midas_resolution input[type=number]", "Enter")
    page.click("#depth_tools_midas_run")
    expect(page.locator("#depth_tools_midas_downloads a")).to_have_count(2, timeout=120_000)
    return downloaded(page, "depth_tools_midas")


def test_send_to_controlnet_in_chromium(
    page_server, chromium, sample_exr: Path, artifacts_dir: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    flavour, url = page_server
    expect.set_options(timeout=WAIT_MS)
    with browser_page(chromium, 1280, 1100, WAIT_MS) as (page, errors):
        try:
            open_webui(page, url, flavour)

            assert "Nothing to send" in send(page, "depth_tools_exr", "txt2img", 0)  # no map made yet

            png = make_exr_map(page, sample_exr)
            shown = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
            full_size = make_depth_map(read_depth(sample_exr).depth).levels
            np.testing.assert_array_equal(shown, full_size)  # the full-size map

            for tab, unit in (("txt2img", 0), ("txt2img", 2), ("img2img", 0), ("img2img", 2)):
                note = send(page, "depth_tools_exr", tab, unit)
                assert f"Sent the depth map to {tab} ControlNet unit {unit}" in note, note
                check_unit(page, flavour, tab, unit, png, "Depth")
                if (tab, unit) == ("txt2img", 2):
                    page.locator(f"#{tab}_controlnet_ControlNet-{unit}_controlnet_enable_checkbox").scroll_into_view_if_needed()
                    shot = artifacts_dir / f"send_to_controlnet_{flavour}.png"
                    page.screenshot(path=str(shot), full_page=True)
                    if flavour == FLAVOURS[0]:  # Mikubill's in A1111 when this gradio has it
                        shutil.copyfile(shot, "/tmp/send_to_controlnet.png")
                depth_model = page.input_value(f"#{tab}_controlnet_ControlNet-{unit}_controlnet_model_dropdown input")
                assert "depth" in depth_model

            # MiDaS: the normal map, with no normal model listed: Control Type NormalMap, a note, model as it was.
            normal = run_midas(page, tmp_path)["normal"]
            note = send(page, "depth_tools_midas", "img2img", 1, "Normal map")
            assert "no normal model is listed" in note, note
            check_unit(page, flavour, "img2img", 1, normal, "NormalMap")
            assert errors == []
        except Exception:
            page.screenshot(path=str(artifacts_dir / f"send_to_controlnet_failure_{flavour}.png"), full_page=True)
            raise


def test_send_to_the_only_unit_in_chromium(midas_checkpoint: Path, chromium, sample_exr: Path,
                                           artifacts_dir: Path) -> None:
    """ControlNet set to one unit: Mikubill's ids are then `{tab}_controlnet_ControlNet_...` (no
    `-0`, no unit tabs), Forge's still `ControlNet-0`; the map arrives in that unit all the same."""
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    with serving(FLAVOURS[0], midas_checkpoint, units=1) as (flavour, url), \
            browser_page(chromium, 1280, 1100, WAIT_MS) as (page, errors):
        try:
            open_webui(page, url, flavour)
            png = make_exr_map(page, sample_exr)
            for tab in ("txt2img", "img2img"):
                note = send(page, "depth_tools_exr", tab, 0)
                assert f"Sent the depth map to {tab} ControlNet unit 0" in note, note
                check_unit(page, flavour, tab, 0, png, "Depth", units=1)
            assert errors == []
        except Exception:
            page.screenshot(path=str(artifacts_dir / f"send_one_unit_failure_{flavour}.png"), full_page=True)
            raise


def test_depth_and_normal_pick_both_pngs_or_say_why_not(tmp_path: Path) -> None:
    """The server's half of "Depth + normal": both written PNGs, depth first, or a note naming what
    is missing (no maps yet, no normal map made, no unit after the chosen one)."""
    depth, normal = tmp_path / "a.depth.png", tmp_path / "a.normal.png"
    depth.write_bytes(b"\x89PNG depth")
    normal.write_bytes(b"\x89PNG normal")
    both = controlnet_send.BOTH
    assert controlnet_send.maps_to_send([str(normal), str(depth)], both, "1", 3) == ([str(depth), str(normal)], "")
    assert controlnet_send.maps_to_send([str(depth)], "Depth map", "2", 3) == ([str(depth)], "")
    assert controlnet_send.maps_to_send(None, both, "0", 3) == (None, controlnet_send.NOTHING_YET)
    assert controlnet_send.maps_to_send([str(depth)], both, "0", 3) == (None, controlnet_send.NO_NORMAL)
    assert controlnet_send.maps_to_send([str(depth)], "Normal map", "0", 3) == (None, controlnet_send.NO_NORMAL)
    files, note = controlnet_send.maps_to_send([str(depth), str(normal)], both, "2", 3)
    assert files is None and "choose a unit below 2" in note
    archive = tmp_path / "depth_maps.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("b.depth.png", b"\x89PNG zipped depth")
        zf.writestr("b.normal.png", b"\x89PNG zipped normal")
    picked, _ = controlnet_send.maps_to_send([str(archive)], both, "0", 2)
    assert picked is not None and [Path(p).read_bytes() for p in picked] == [b"\x89PNG zipped depth",
                                                                              b"\x89PNG zipped normal"]


NORMAL_MODEL = "control_v11p_sd15_normalbae [316696f1]"


@pytest.fixture(scope="module", params=FLAVOURS)
def both_server(request: pytest.FixtureRequest, midas_checkpoint: Path) -> Iterator[tuple[str, str]]:
    """A WebUI whose ControlNet lists a depth and a normal model."""
    models = ("control_v11f1p_sd15_depth [cfd03158]", NORMAL_MODEL, "control_v11p_sd15_canny [d14c016b]")
    with serving(request.param, midas_checkpoint, models=models) as served:
        yield served


def model_of(page, tab: str, unit: int) -> str:
    return page.input_value(f"#{tab}_controlnet_ControlNet-{unit}_controlnet_model_dropdown input")


def test_depth_and_normal_in_one_click_in_chromium(both_server, chromium, sample_exr: Path, artifacts_dir: Path,
                                                   tmp_path: Path) -> None:
    """"Depth + normal": the render's depth map to the chosen unit (Depth, the depth model), its
    normal map to the next (NormalMap, preprocessor none, the normal model), byte for byte; from
    the EXR tab and the MiDaS tab alike."""
    from playwright.sync_api import expect

    flavour, url = both_server
    expect.set_options(timeout=WAIT_MS)
    with browser_page(chromium, 1280, 1100, WAIT_MS) as (page, errors):
        try:
            open_webui(page, url, flavour)
            page.set_input_files("#depth_tools_exr_files input[type=file]", str(sample_exr))
            expect(page.locator("#depth_tools_exr_cut_0")).to_be_visible()
            page.click("#depth_tools_make")
            expect(page.locator("#depth_tools_exr_downloads a")).to_have_count(1)
            assert "No normal map was made" in send(page, "depth_tools_exr", "txt2img", 0, "Depth + normal")

            page.locator("#depth_tools_exr_normal input[type=checkbox]").check()
            page.wait_for_selector("#depth_tools_exr_normal_preview img")
            page.click("#depth_tools_make")
            expect(page.locator("#depth_tools_exr_downloads a")).to_have_count(2)
            pngs = downloaded(page, "depth_tools_exr")
            assert "choose a unit below 2" in send(page, "depth_tools_exr", "txt2img", 2, "Depth + normal")

            for tab, unit in (("txt2img", 0), ("img2img", 1)):
                note = send(page, "depth_tools_exr", tab, unit, "Depth + normal")
                assert f"Sent the depth map to {tab} ControlNet unit {unit}" in note, note
                assert f"Sent the normal map to {tab} ControlNet unit {unit + 1}" in note, note
                check_unit(page, flavour, tab, unit, pngs["depth"], "Depth")
                check_unit(page, flavour, tab, unit + 1, pngs["normal"], "NormalMap")
                assert "depth" in model_of(page, tab, unit) and model_of(page, tab, unit + 1) == NORMAL_MODEL
                if tab == "txt2img":
                    shown = f"#{tab}_controlnet_ControlNet-{unit + 1}_controlnet_enable_checkbox"  # opened last
                    page.locator(shown).scroll_into_view_if_needed()
                    page.screenshot(path=str(artifacts_dir / f"send_both_{flavour}.png"), full_page=True)

            # MiDaS: the same two maps of a photo in one click.
            midas_pngs = run_midas(page, tmp_path)
            note = send(page, "depth_tools_midas", "txt2img", 1, "Depth + normal")
            assert "Sent the normal map to txt2img ControlNet unit 2" in note, note
            check_unit(page, flavour, "txt2img", 1, midas_pngs["depth"], "Depth")
            check_unit(page, flavour, "txt2img", 2, midas_pngs["normal"], "NormalMap")
            assert model_of(page, "txt2img", 2) == NORMAL_MODEL
            assert errors == []
        except Exception:
            page.screenshot(path=str(artifacts_dir / f"send_both_failure_{flavour}.png"), full_page=True)
            raise
