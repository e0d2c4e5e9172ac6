"""The EXR tab's handlers, called directly with real EXR files written by OpenEXR.

What a user sees is checked through the values the handlers hand gradio: the loaded view, the
suggestion buttons, the preview pixels, the written PNGs, and error messages instead of tracebacks.
"""

from __future__ import annotations

import inspect
import zipfile
from pathlib import Path
from types import SimpleNamespace

import cv2
import gradio as gr
import numpy as np
import pytest

from lib_depth.depth.chart import SCALE, SUGGESTION, draw_histogram, layout
from lib_depth.depth.exr import read_depth, write_depth
from lib_depth.depth.png import read_png
from lib_depth.depth.process import DepthOptions, histogram, make_depth_map
from lib_depth.depth.sample import synthetic_scene
from lib_depth.ui.compat import file_paths
from lib_depth.ui.exr import (
    PREVIEW_MAX_SIDE,
    MapControls,
    cutoff_at,
    load_view,
    make_maps,
    render_preview,
)
from lib_depth.ui.exr_events import (
    CUT_BUTTONS,
    LOADED,
    PREVIEW,
    WITH_CUTOFF,
    on_chart_click,
    on_controls,
    on_cut,
    on_cutoff_typed,
    on_file_choice,
    on_files,
    on_make,
    on_no_cut,
    on_sample,
)
from lib_depth.ui.exr_sequence_events import on_frame
from tests.ui_values import controls, files, made, text

# The names the handlers answer by (ExrTab's attributes, pinned to the wiring by the last tests).
VIEW, SAMPLE, PANEL, CHOICE, CHANNEL, VIEWS = "view", "sample", "cut_panel", "file_choice", "channel", "view_choice"
CUTOFF_STATE, CUTOFF = "cutoff_state", "cutoff"
CHART, DEPTH, MASK, STATUS = "chart", "depth_image", "mask_image", "status"


def shown(view: object, **changes: object) -> dict[str, object]:
    """The values of the events that re-render a loaded view."""
    return {VIEW: view, **controls(**changes)}


def cut_labels(out: dict[str, object]) -> list[object]:
    return [out[name].get("value") for name in CUT_BUTTONS if out[name]["visible"]]


def click(x: float) -> gr.SelectData:
    """The event gradio builds for a click on the chart picture at column `x`."""
    return gr.SelectData(None, {"index": [x, 200], "value": None, "selected": True})


@pytest.fixture
def sample_view(sample_exr: Path):
    return load_view(str(sample_exr))


def test_upload_shows_histogram_suggestions_and_preview(sample_exr: Path) -> None:
    out = on_files(files(sample_exr))
    assert set(out) == set(LOADED)
    view = out[VIEW]
    assert view.channel == "Y" and (view.width, view.height) == (768, 512)
    assert out[CHANNEL]["choices"] == ["auto", "Y"] and out[CHANNEL]["value"] == "auto"
    assert out[PANEL]["visible"] is True and out[SAMPLE]["visible"] is False
    assert cut_labels(out) == ["Cut at 254.50", "Cut at 340.50"]
    assert out[CUTOFF_STATE] is None and out[CUTOFF]["value"] is None  # starts at "no cutoff"
    chart = out[CHART]
    assert chart.ndim == 3 and chart.dtype == np.uint8
    expected = make_depth_map(read_depth(sample_exr).depth).levels
    np.testing.assert_array_equal(out[DEPTH], expected)  # 768 px: the preview is the file itself
    assert out[MASK]["visible"] is False
    assert "scene.exr" in out[STATUS] and "190.00" in out[STATUS] and "Problem" not in out[STATUS]


def test_suggestion_button_sets_cutoff_and_preview_follows(sample_exr: Path, sample_view) -> None:
    before = on_no_cut(shown(sample_view))
    after = on_cut(0)(shown(sample_view))
    assert set(before) == set(after) == set(WITH_CUTOFF)
    assert before[CUTOFF_STATE] is None and before[CUTOFF] is None
    assert after[CUTOFF_STATE] == after[CUTOFF] == pytest.approx(254.5)
    depth = read_depth(sample_exr).depth
    np.testing.assert_array_equal(after[DEPTH], make_depth_map(depth, DepthOptions(cutoff=254.5)).levels)
    second_subject = (depth > 300) & (depth < 330)
    assert before[DEPTH][second_subject].min() > 0 and after[DEPTH][second_subject].max() == 0
    assert not np.array_equal(before[CHART], after[CHART])  # the chart marks the cutoff
    assert "254.50 and beyond" in after[STATUS]


def test_chart_click_cuts_there_and_snaps_to_suggestions(sample_view) -> None:
    box = layout(sample_view.histogram)
    near_cut = box.x_of(340.5) + 4 * SCALE
    snapped = on_chart_click(shown(sample_view), click(near_cut))
    assert set(snapped) == set(WITH_CUTOFF) and snapped[CUTOFF_STATE] == snapped[CUTOFF] == pytest.approx(340.5)
    x = box.x_of(400.0)
    free = on_chart_click(shown(sample_view), click(x))
    assert free[CUTOFF_STATE] == pytest.approx(400.0, abs=0.01)
    far_end = on_chart_click(shown(sample_view), click(box.right))
    assert far_end[CUTOFF_STATE] is None
    assert on_chart_click(shown(sample_view), click(2)) == {}  # beside the plot: nothing changes
    assert on_chart_click(shown(None), click(x)) == {}  # nothing loaded


def test_controls_mask_invert_compress_noise_16bit(sample_exr: Path, sample_view) -> None:
    depth = read_depth(sample_exr).depth
    values = dict(cutoff=340.5, compress=True, noise=True, seed=7, mask=True, invert=True, bits="16-bit")
    preview = render_preview(sample_view, MapControls(**values))
    options = DepthOptions(cutoff=340.5, compress=True, noise=True, invert=True, bits=16, seed=7)
    full = make_depth_map(depth, options)
    np.testing.assert_array_equal(preview.depth_map.levels, full.levels)
    np.testing.assert_array_equal(preview.depth, (full.levels >> 8).astype(np.uint8))
    np.testing.assert_array_equal(preview.mask, full.mask_image())
    out = on_no_cut(shown(sample_view, **values))
    assert out[MASK]["visible"] is True and out[MASK]["value"] is not None  # mask preview shown


def test_typed_cutoff_comes_into_force_and_empty_means_none(sample_exr: Path, sample_view) -> None:
    depth = read_depth(sample_exr).depth
    typed = on_cutoff_typed({CUTOFF: 300.0, **shown(sample_view, cutoff=254.5)})
    assert set(typed) == {CUTOFF_STATE, *PREVIEW}  # the box keeps what was typed
    assert typed[CUTOFF_STATE] == 300.0  # the state the other controls read
    np.testing.assert_array_equal(typed[DEPTH], make_depth_map(depth, DepthOptions(cutoff=300.0)).levels)
    emptied = on_cutoff_typed({CUTOFF: None, **shown(sample_view, cutoff=300.0)})
    assert emptied[CUTOFF_STATE] is None
    np.testing.assert_array_equal(emptied[DEPTH], make_depth_map(depth).levels)


def test_cutoff_below_nearest_is_a_message_and_keeps_the_preview(sample_view) -> None:
    failed = on_controls(shown(sample_view, cutoff=100.0))
    assert set(failed) == set(PREVIEW)
    assert "Problem" in failed[STATUS] and "nearest depth (190)" in failed[STATUS]
    assert "Traceback" not in failed[STATUS]
    assert failed[DEPTH] == gr.update()  # the last good preview stays on screen
    assert isinstance(failed[CHART], np.ndarray)  # the chart is still drawn


def test_large_render_previews_downscaled_and_downloads_full_size(tmp_path: Path) -> None:
    big = tmp_path / "big.exr"
    depth = synthetic_scene(2000, 1200)
    write_depth(big, depth, channel="Y")
    view = load_view(str(big))
    assert max(view.preview.shape) == PREVIEW_MAX_SIDE and view.preview.shape == (461, 768)
    assert view.histogram.suggestions == histogram(depth).suggestions  # histogram from the full file
    run = tmp_path / "run"
    run.mkdir()
    result = make_maps([str(big)], "auto", MapControls(cutoff=view.cut_value(0)), run)
    assert result.errors == [] and [Path(p).name for p in result.downloads] == ["big.depth.png"]
    written = read_png(result.downloads[0])
    assert written.shape == (1200, 2000)
    np.testing.assert_array_equal(written, make_depth_map(depth, DepthOptions(cutoff=view.cut_value(0))).levels)
    np.testing.assert_array_equal(result.first_map, written)


def test_several_files_one_zip_bad_file_reported(tmp_path: Path, sample_exr: Path) -> None:
    other = tmp_path / "other" / "scene.exr"  # same name as the sample: must not overwrite it
    other.parent.mkdir()
    write_depth(other, synthetic_scene(96, 64) + 5.0, channel="Y")
    broken = tmp_path / "broken.exr"
    broken.write_bytes(b"not an exr at all")
    run = tmp_path / "run"
    run.mkdir()
    result = make_maps([str(sample_exr), str(other), str(broken)], None, MapControls(mask=True), run)
    assert len(result.errors) == 1 and "broken.exr" in result.errors[0] and str(tmp_path) not in result.errors[0]
    assert [Path(p).name for p in result.downloads] == ["depth_maps.zip"]
    with zipfile.ZipFile(result.downloads[0]) as zf:
        names = sorted(zf.namelist())
        assert names == ["2/scene.depth.png", "2/scene.mask.png", "scene.depth.png", "scene.mask.png"]
        data = np.frombuffer(zf.read("2/scene.depth.png"), np.uint8)
    inside = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(inside, make_depth_map(read_depth(other).depth).levels)


def test_make_handler_writes_pngs_and_gives_an_image_to_send(sample_exr: Path) -> None:
    downloads, result, message = made(on_make(files(sample_exr, channel="Y", cutoff=254.5, mask=True)))
    assert [Path(p).name for p in downloads] == ["scene.depth.png", "scene.mask.png"]
    expected = make_depth_map(read_depth(sample_exr).depth, DepthOptions(cutoff=254.5))
    np.testing.assert_array_equal(read_png(downloads[0]), expected.levels)
    np.testing.assert_array_equal(read_png(downloads[1]), expected.mask_image())
    assert result.mode == "RGB" and result.size == (768, 512)  # PIL, as the WebUI's send buttons need
    assert "Wrote 2 PNGs" in message


def test_make_handler_errors_are_messages(tmp_path: Path) -> None:
    assert "Upload one or more EXR files" in made(on_make(files()))[2]
    bad = tmp_path / "render.exr"
    bad.write_bytes(b"\x76\x2f\x31\x01 truncated")
    downloads, result, message = made(on_make(files(bad)))
    assert downloads is None and result is None
    assert "Problem" in message and "render.exr" in message and "Traceback" not in message
    nan_cut = made(on_make(files(bad, cutoff=float("nan"))))
    assert "cutoff must be a number" in nan_cut[2]


def test_bad_upload_is_a_message(tmp_path: Path) -> None:
    fake = tmp_path / "fake.exr"
    fake.write_text("hello")
    out = on_files(files(fake))
    assert out[VIEW] is None and out[PANEL]["visible"] is False
    assert "not an OpenEXR file" in out[STATUS] and "fake.exr" in out[STATUS] and str(tmp_path) not in out[STATUS]


def test_cleared_upload_resets_the_tab() -> None:
    out = on_files(files(channel="Y"))
    assert set(out) == set(LOADED) and out[VIEW] is None and out[PANEL]["visible"] is False and out[CHART] is None
    assert "Upload one or more EXR" in out[STATUS]


def test_channel_choice_and_file_choice(tmp_path: Path) -> None:
    depth = synthetic_scene(96, 64)
    blender = tmp_path / "blender.exr"
    write_depth(blender, depth, channel="Z", extra={"R": depth * 2, "G": depth, "B": depth})
    daz = tmp_path / "daz.exr"
    write_depth(daz, depth + 1.0, channel="Y")
    out = on_files(files(blender, daz))
    assert out[VIEW].channel == "Z" and out[CHOICE]["visible"] is True
    assert out[CHOICE]["choices"] == ["1: blender.exr", "2: daz.exr"]
    assert sorted(out[CHANNEL]["choices"]) == ["B", "G", "R", "Z", "auto"]
    picked = on_file_choice(files(blender, daz, choice="1: blender.exr", channel="R"))
    assert picked[VIEW].channel == "R"
    assert picked[VIEW].histogram.edges[0] == pytest.approx(2 * np.nanmin(depth[np.isfinite(depth)]))
    second = on_file_choice(files(blender, daz, choice="2: daz.exr", channel="R"))
    assert second[VIEW] is None and "no channel named 'R'" in text(second[STATUS]) and "Y" in second[STATUS]
    auto = on_file_choice(files(blender, daz, choice="2: daz.exr"))
    assert auto[VIEW].channel == "Y" and auto[CHANNEL]["value"] == "auto"


def test_cutoff_at_maps_clicks_to_depths(sample_view) -> None:
    box = layout(sample_view.histogram)
    assert cutoff_at(sample_view, box.x_of(254.5) - 3 * SCALE).cutoff == pytest.approx(254.5)
    assert cutoff_at(sample_view, box.x_of(500.0)).cutoff == pytest.approx(500.0, abs=0.01)
    assert not cutoff_at(sample_view, box.left).changed  # at the nearest depth nothing would be left
    assert not cutoff_at(sample_view, box.right + 5).changed
    tag_edge = box.x_of(340.5) + 30 * SCALE  # on the "cut 340.50" label above the plot
    assert cutoff_at(sample_view, tag_edge, box.top - 10 * SCALE).cutoff == pytest.approx(340.5)
    assert cutoff_at(sample_view, tag_edge, box.top + 50 * SCALE).cutoff != pytest.approx(340.5)  # in the plot


def test_chart_marks_suggestions_and_shades_beyond_the_cutoff(sample_view) -> None:
    plain = draw_histogram(sample_view.histogram)
    cut = draw_histogram(sample_view.histogram, 254.5)
    box = layout(sample_view.histogram)
    assert plain.shape == (box.bottom + 40 * SCALE, box.right + 20 * SCALE, 3)
    for s in sample_view.histogram.suggestions:
        column = plain[box.top : box.bottom, round(box.x_of(s))]
        assert (column == SUGGESTION).all(axis=1).any()  # the dashed amber line
    mid_y = (box.top + box.bottom) // 2
    empty_x = round(box.x_of(450.0))  # a near-empty span beyond the cut
    assert cut[mid_y, empty_x].sum() != plain[mid_y, empty_x].sum()
    left_x = round(box.x_of(200.0))
    np.testing.assert_array_equal(cut[:, left_x], plain[:, left_x])  # before the cut: unchanged


def test_file_paths_reads_gradio_3_and_4_values(tmp_path: Path) -> None:
    assert file_paths(None) == []
    assert file_paths(str(tmp_path)) == [str(tmp_path)]
    assert file_paths([SimpleNamespace(name="/a.exr"), "/b.exr", None]) == ["/a.exr", "/b.exr"]


def test_wired_handlers_read_their_inputs_and_answer_their_outputs(sample_exr: Path, sample_view) -> None:
    """Each event of the tab built for real, its handler called with exactly the values its wiring
    hands over: nothing it reads is missing, nothing it answers is outside its outputs (gradio
    would refuse the answer), and the answers these tests read by name are the components wired."""
    from lib_depth.ui import build_ui

    tab = build_ui().exr
    # nothing lost on the way: the 24 events before names, 4 of the normal map, less the 12 that the
    # tab's script sends to its route (4 cut buttons, no cut, the chart, 2 each for 3 number boxes), 1 sync
    assert len(tab.wired) == 17
    known = {**files(sample_exr, choice="1: scene.exr", cutoff=254.5), "sequence": False, "input_folder": "",
             "output_folder": "", VIEW: sample_view, "view_key": None, "frame": 1, CUTOFF: 300.0}
    for wired in tab.wired:
        values = {name: known[name] for name in wired.inputs}
        parameters = inspect.signature(wired.handler).parameters
        extra = {"evt": click(layout(sample_view.histogram).x_of(400.0))} if "evt" in parameters else {}
        answer = wired.handler(values, **extra)
        assert set(answer) <= set(wired.outputs), wired
        assert answer or wired.handler is on_frame, wired  # a render is no sequence: no frame to move to
    loaded = tab.named(*LOADED)
    assert loaded[VIEW] is tab.view and loaded[CUTOFF_STATE] is tab.cutoff_state and loaded[CUTOFF] is tab.cutoff
    assert [loaded[name] for name in CUT_BUTTONS] == tab.cut_buttons
    assert tab.named(DEPTH, MASK, STATUS) == {DEPTH: tab.depth_image, MASK: tab.mask_image, STATUS: tab.status}


def test_sample_button_loads_the_bundled_render(sample_exr: Path) -> None:
    [copy] = on_sample({})["files"]
    assert Path(copy).name == "scene.exr" and Path(copy).read_bytes() == sample_exr.read_bytes()
    assert Path(copy).parent != sample_exr.parent  # served from a temporary folder, never the repo
    out = on_files({**files(), "files": [copy]})
    assert out[VIEW].channel == "Y" and out[SAMPLE]["visible"] is False


def test_view_dropdown_for_multi_view_files(tmp_path: Path) -> None:
    """Stereo renders: the View dropdown lists the file's views (first by default) and picks the
    eye the preview and the PNGs use; files without views hide it."""
    from tests.exr_files import write_multiview

    left = synthetic_scene(96, 64)
    stereo = write_multiview(tmp_path / "stereo.exr", left, left + 50.0)
    mono = tmp_path / "mono.exr"
    write_depth(mono, left, channel="Y")
    out = on_files(files(stereo, mono))
    assert out[VIEWS]["choices"] == ["left", "right"] and out[VIEWS]["value"] == "left" and out[VIEWS]["visible"]
    np.testing.assert_array_equal(out[DEPTH], make_depth_map(left).levels)
    right = on_file_choice(files(stereo, mono, choice="1: stereo.exr", view="right"))
    assert right[VIEW].view == "right" and right[VIEWS]["value"] == "right"
    np.testing.assert_array_equal(right[DEPTH], make_depth_map(left + 50.0).levels)
    assert "Problem" not in right[STATUS]
    other = on_file_choice(files(stereo, mono, choice="2: mono.exr", view="right"))
    assert other[VIEW].view is None and other[VIEWS]["visible"] is False  # no views: hidden, no error
    downloads, _, message = made(on_make(files(stereo, view="right")))
    np.testing.assert_array_equal(read_png(downloads[0]), make_depth_map(left + 50.0).levels)
    assert "Wrote 1 PNG" in message


def test_the_hosts_pixel_bound_reaches_every_read(monkeypatch: pytest.MonkeyPatch, sample_exr: Path) -> None:
    """TabHost.max_pixels (the WebUI's setting) bounds the preview's read and the PNGs' alike."""
    from lib_depth.ui import hosting

    monkeypatch.setattr(hosting, "_current", hosting.TabHost(max_pixels=lambda: 100_000))
    out = on_files(files(sample_exr))
    assert out[VIEW] is None and "over the limit of 100,000" in out[STATUS] and "768 x 512" in out[STATUS]
    downloads, _, message = made(on_make(files(sample_exr)))
    assert downloads is None and "over the limit of 100,000" in message
    monkeypatch.setattr(hosting, "_current", hosting.TabHost(max_pixels=lambda: 768 * 512))
    assert on_files(files(sample_exr))[VIEW].channel == "Y"
