"""The Image sub-tab's model choice, in real gradio (3.41 here; 4.x in test_gradio4.py): the
dropdown lists every registry model, the line beside it names the weights file found and that
file's licence (read from its tensors, never from its name), another model resets the resolution
to its default, and "Estimate depth" runs the model chosen (Depth Anything V2 with random weights
in the reference's layout).
"""

from __future__ import annotations

import asyncio
import html
import inspect
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from lib_depth import anything
from lib_depth.images import registry
from lib_depth.midas import MidasSettings
from lib_depth.midas import estimator as midas_estimator
from lib_depth.ui import build_ui, hosting
from lib_depth.ui import midas as ui_midas
from lib_depth.ui.midas import MidasControls, StandaloneOptions
from lib_depth.ui.midas_tab import ESTIMATED, MODEL_CHOSEN, on_model, on_run
from tests.anything_support import random_state_dict, reference_layout, save_pth

MIDAS, ANYTHING = "MiDaS DPT-hybrid", "Depth Anything V2"
RES = 70  # Depth Anything's smallest slider value (5 patches of 14)


def photo(height: int = 56, width: int = 84) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.dstack([x / width * 140, y / height * 90, np.full_like(x, 70)])
    image[(x - width * 0.4) ** 2 + (y - height * 0.5) ** 2 < (height * 0.3) ** 2] = (230, 205, 180)
    return image.astype(np.uint8)


def values(model: str, **more: object) -> dict[str, object]:
    """What the tab's events hand their handlers: the model choice, "as one sequence" and the controls."""
    return {"model": model, "sequence": False, **vars(MidasControls()), **more}


def text(line: str) -> str:
    return html.unescape(line)


def sent(blocks: object, handler: str, given: dict, component: object) -> dict:
    """What gradio sends `component` after the event `handler` answered `given` (values keyed by
    component): its own postprocessing, which in gradio 4 rebuilds the component from an update."""
    fns = list(blocks.fns.values()) if isinstance(blocks.fns, dict) else blocks.fns
    [index] = [i for i, f in enumerate(fns) if getattr(f.fn, "__name__", "") == handler]
    answer = fns[index].fn(given)
    if inspect.iscoroutinefunction(blocks.postprocess_data):  # gradio 4
        with ThreadPoolExecutor(1) as pool:  # its own event loop, whatever loop an earlier test left running here
            out = pool.submit(asyncio.run, blocks.postprocess_data(fns[index], answer, None)).result()
        return out[fns[index].outputs.index(component)]
    out = blocks.postprocess_data(index, answer, {})
    return out[blocks.dependencies[index]["outputs"].index(component._id)]


@pytest.fixture(scope="module")
def vits_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with random ViT-S weights under the name of ViT-L: the size must come from the tensors."""
    folder = tmp_path_factory.mktemp("da_tab")
    save_pth(folder / "depth_anything_v2_vitl.pth", random_state_dict("vits", 5))
    return folder


@pytest.fixture
def standalone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[object]:
    """Point the standalone tab at a weights folder (`--weights DIR --device cpu --precision fp32`),
    or with none at an empty search folder and an empty Hugging Face cache (nothing found by chance)."""
    previous = hosting.current()
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf_cache"))

    def use(folder: Path | None, download: bool | None = None) -> None:
        weights = None if folder is None else str(folder)
        monkeypatch.setattr(ui_midas, "standalone", StandaloneOptions(weights, download, "cpu", "fp32"))
        searched = tmp_path / "searched"
        searched.mkdir(exist_ok=True)
        hosting.use(hosting.TabHost(midas_settings=lambda: MidasSettings(search_dirs=(str(searched),),
                                                                          models_dir=str(tmp_path / "own"))))

    yield use
    hosting.use(previous)


@pytest.fixture
def keeps_midas() -> Iterator[None]:
    """Running Depth Anything frees MiDaS (one model per process): put the session's MiDaS back
    afterwards, loaded, for the tests that use it directly."""
    before = dict(midas_estimator._cache.estimators)
    yield
    registry.entry("depth-anything-v2").release(True)
    for settings, estimator in before.items():
        midas_estimator._cache.estimators[settings] = estimator
        if estimator.model is None:
            estimator(photo(), resolution=64)


def test_the_dropdown_lists_every_model_and_starts_with_the_hosts_choice(standalone) -> None:
    tab = build_ui().midas
    assert tab.model.choices in ([MIDAS, ANYTHING], [(MIDAS, MIDAS), (ANYTHING, ANYTHING)])  # gradio 3 / 4
    assert tab.model.value == MIDAS and tab.resolution.value == 512 and tab.resolution.step == 64
    assert "dpt_hybrid-midas-501f0c75.pt" in text(tab.weights.value)
    tab = build_ui(hosting.TabHost(default_model=lambda: "depth-anything-v2")).midas
    assert tab.model.value == ANYTHING
    assert (tab.resolution.minimum, tab.resolution.maximum, tab.resolution.step, tab.resolution.value) == (
        70, 2044, 14, 518)  # 518 = 37 patches: on the slider's grid
    assert "Depth Anything V2" in text(tab.weights.value)
    assert build_ui(hosting.TabHost(default_model=lambda: "no-such-model")).midas.model.value == MIDAS


def test_the_webuis_saved_values_do_not_override_the_default_model(standalone) -> None:
    """The WebUI's modules/ui_loadsave.py (A1111 1.10.1 and Forge alike) puts each control's value
    saved in ui-config.json back over the value built here, unless the component has
    `do_not_save_to_config`. In both real WebUIs the tab then started on the saved "MiDaS DPT-hybrid"
    at 512 with the setting at Depth Anything V2, under a Depth Anything weights line. The model and
    its resolution are exempt; the other controls keep the user's saved values."""
    tab = build_ui(hosting.TabHost(default_model=lambda: "depth-anything-v2")).midas
    assert tab.model.do_not_save_to_config is True and tab.resolution.do_not_save_to_config is True
    assert not any(getattr(c, "do_not_save_to_config", False) for c in tab.controls.values())


def test_the_line_names_the_file_found_and_its_own_licence(standalone, vits_folder: Path) -> None:
    standalone(vits_folder)
    line = text(ui_midas.weights_line("depth-anything-v2"))
    assert str(vits_folder / "depth_anything_v2_vitl.pth") in line
    assert "ViT-S" in line and "licence Apache-2.0" in line and "CC-BY-NC" not in line  # its tensors, not its name
    assert "dt-info" in line and "Problem" not in line


def test_a_base_model_is_non_commercial(standalone, tmp_path: Path) -> None:
    """ViT-B, read from a safetensors header alone (the tensors' bytes are never read: none are here)."""
    header = {name: {"dtype": "F16", "shape": list(shape), "data_offsets": [0, 0]}
              for name, shape in reference_layout("vitb")}
    raw = json.dumps(header).encode()
    (tmp_path / "depth_anything_v2_vitb.safetensors").write_bytes(len(raw).to_bytes(8, "little") + raw)
    standalone(tmp_path)
    line = text(ui_midas.weights_line("depth-anything-v2"))
    assert "ViT-B" in line and "licence CC-BY-NC-4.0" in line and "Apache" not in line


def test_a_missing_model_says_where_it_looked_and_how_to_get_it(standalone, tmp_path: Path) -> None:
    standalone(None)
    line = text(ui_midas.weights_line("depth-anything-v2"))
    assert "dt-error" in line and "weights not found" in line and str(tmp_path / "searched") in line
    assert "depth_anything_v2_vits.pth" in line and "Apache-2.0" in line and "CC-BY-NC-4.0" in line
    assert "allow downloading it" in line
    midas_line = text(ui_midas.weights_line("midas"))
    assert "dpt_hybrid-midas-501f0c75.pt not found" in midas_line and str(tmp_path / "searched") in midas_line
    assert "licence: MIT" in midas_line
    standalone(None, download=True)
    line = text(ui_midas.weights_line("depth-anything-v2"))
    assert "dt-info" in line and "downloaded on the first Estimate" in line
    standalone(tmp_path / "searched")  # a folder named, without the file: says so, searches nothing else
    assert "the folder you named" in text(ui_midas.weights_line("depth-anything-v2"))


def test_another_model_resets_the_resolution_to_its_default(standalone, vits_folder: Path) -> None:
    standalone(vits_folder)
    ui = build_ui()
    tab, blocks = ui.midas, ui.blocks
    [wired] = [w for w in tab.wired if w.handler is on_model]
    assert set(wired.outputs) == set(MODEL_CHOSEN) and "model" in wired.inputs
    answer = on_model({name: values(ANYTHING)[name] for name in wired.inputs})
    assert set(answer) == set(MODEL_CHOSEN)
    # the event as wired, its answer through gradio's own handling (what the browser is sent)
    given = {tab.model: ANYTHING, tab.sequence: False,
             **{tab.controls[name]: value for name, value in vars(MidasControls()).items()}}
    update = sent(blocks, "on_model", given, tab.resolution)
    assert (update["value"], update["minimum"], update["maximum"], update["step"]) == (518, 70, 2044, 14)
    assert "Apache-2.0" in text(answer["weights"])
    assert answer["nearness"] is None and answer["depth_image"] is None  # the other model's maps are gone
    back = on_model(values(MIDAS, resolution=1024))["resolution"]
    assert (back["value"], back["minimum"], back["step"]) == (512, 64, 64)


def test_estimate_runs_the_model_chosen(standalone, vits_folder: Path, keeps_midas) -> None:
    standalone(vits_folder)
    image = photo()
    out = on_run({"image": image, "resolution": RES, **values(ANYTHING, mask=True)})
    assert set(out) == set(ESTIMATED) and "Problem" not in out["status"]
    assert "Depth Anything V2 at resolution 70" in text(out["status"])
    estimate = out["nearness"]
    assert estimate.model == "depth-anything-v2" and estimate.resolution == RES
    settings = ui_midas.model_settings("depth-anything-v2")
    loaded = registry.entry("depth-anything-v2").loaded(settings)
    assert isinstance(loaded, anything.AnythingEstimator) and loaded.config.encoder == "vits"
    assert midas_estimator._cache.estimators == {}  # one model per process: MiDaS was let go
    np.testing.assert_array_equal(estimate.nearness, loaded.estimate(image, RES).nearness)
    assert [Path(p).name for p in out["downloads"]] == ["image.depth.png", "image.normal.png", "image.mask.png"]


def test_estimate_with_missing_weights_names_the_model(standalone, keeps_midas) -> None:
    standalone(None)
    out = on_run({"image": photo(), "resolution": RES, **values(ANYTHING)})
    assert out["nearness"] is None and "Depth Anything V2 weights not found" in text(out["status"])
