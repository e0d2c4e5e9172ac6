"""Parallel calls, as A1111 makes them: gradio events and API requests run in threads of their own.

Eight threads at once call the three preprocessors, the MiDaS tab's handler and the command line's
core (images and an EXR render), each on its own inputs, while the model is not yet loaded. Every
result must equal the same call made alone, the weights must be read once, no thread may hang
(a deadline, not a hope), and the process's resident memory must stay bounded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from lib_depth import midas
from lib_depth.depth.exr import write_depth
from lib_depth.depth.pipeline import ExrInput, Job, run_job
from lib_depth.depth.sample import synthetic_scene
from lib_depth.images import ImageInput
from lib_depth.midas import WEIGHTS_NAME, MidasSettings
from lib_depth.midas import estimator as midas_estimator_module
from lib_depth.ui import midas as ui_midas
from lib_depth.ui.midas import MidasControls, StandaloneOptions
from lib_depth.ui.midas_tab import on_run

RES = 64
THREADS, CALLS = 8, 2
DEADLINE = 120.0  # seconds for the whole parallel phase: a deadlock fails here instead of hanging the suite
#: Peak resident memory of the parallel phase allowed over the process afterwards, when the loaded
#: model is resident (its mapped 470 MiB file and the copies the first forward makes, ~740 MB here):
#: eight callers at once may cost activations and inputs, not another model.
PEAK_OVER_STEADY_MB = 200
PREPROCESSORS = ("depth_tools_midas", "depth_tools_midas_compressed", "normal_tools_midas")


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20


class PeakSampler:
    """Resident memory sampled every 5 ms on its own thread: the peak, not just the end state."""

    def __init__(self) -> None:
        self.start = self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def picture(seed: int, h: int = 40, w: int = 56) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.full((h, w, 3), 110, np.uint8)
    image[h // 4 : h - 4, 4 : w // 2] = rng.integers(0, 256, (h - 4 - h // 4, w // 2 - 4, 3), dtype=np.uint8)
    return image


def test_eight_threads_at_once_equal_each_call_alone(
    make_webui: Callable[..., Any], midas_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    race = tmp_path / "race"  # a weights path no test has loaded yet: the load itself is raced for
    race.mkdir()
    (race / WEIGHTS_NAME).symlink_to(midas_checkpoint)
    key = MidasSettings(weights=str(race / WEIGHTS_NAME), device="cpu", precision="fp32")
    webui = make_webui("forge", depth_tools_weights_dir=str(race), depth_tools_device="cpu",  # forge: no LRU cache
                       depth_tools_precision="fp32", depth_tools_allow_download=False)
    monkeypatch.setattr(ui_midas, "standalone", StandaloneOptions(str(race / WEIGHTS_NAME), None, "cpu", "fp32"))
    assert ui_midas.settings() == key  # every entry point asks for the same model
    controls = vars(MidasControls(mask=True))
    extra = {"weights": str(race / WEIGHTS_NAME), "resolution": RES, "device": "cpu", "precision": "fp32",
             "normal": True}

    def inputs(thread: int, call: int) -> Any:
        seed = 100 * thread + call
        if thread < 5:
            return picture(seed, 40 + 8 * thread, 56)
        path = tmp_path / "in" / f"t{thread}c{call}.{'exr' if thread == 7 else 'png'}"
        path.parent.mkdir(exist_ok=True)
        if thread == 7:
            write_depth(path, synthetic_scene(80, 48) + seed, channel="Y")
        else:
            cv2.imwrite(str(path), picture(seed, 48, 40 + 8 * thread))
        return path

    def one_call(thread: int, value: Any, phase: str) -> Any:
        if thread < 3:
            return webui.call(PREPROCESSORS[thread], value, RES, 0.2, 0.1 if thread == 2 else None)
        if thread < 5:
            out = on_run({"image": value, "model": "midas", "resolution": RES, **controls})
            assert "Problem" not in out["status"], out["status"]
            return out["depth_image"], out["normal_image"], out["mask_image"]["value"]
        kind = ExrInput() if value.suffix == ".exr" else ImageInput(**extra)
        result = run_job(Job(source=value, input=kind, mask=True, output_dir=tmp_path / phase / value.stem))
        assert result.ok, result.error
        return [Path(p).read_bytes() for p in result.outputs]

    values = {(t, c): inputs(t, c) for t in range(THREADS) for c in range(CALLS)}
    loads = midas.load_count()
    results: dict[tuple[int, int], Any] = {}
    failures: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def work(thread: int) -> None:
        try:
            barrier.wait(timeout=30)
            for call in range(CALLS):
                results[thread, call] = one_call(thread, values[thread, call], "parallel")
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    try:
        with PeakSampler() as memory:
            start = time.perf_counter()
            threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(THREADS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(max(0.0, DEADLINE - (time.perf_counter() - start)))
            wall = time.perf_counter() - start
        hung = [t.name for t in threads if t.is_alive()]
        assert not hung, f"threads still running after {DEADLINE:.0f} s (deadlock?): {hung}"
        assert not failures, failures
        assert midas.load_count() == loads + 1  # eight callers raced for the model: it was read once

        for (thread, call), value in values.items():  # the same calls, one at a time
            alone = one_call(thread, value, "alone")
            together = results[thread, call]
            if isinstance(alone, np.ndarray):
                np.testing.assert_array_equal(together, alone, err_msg=f"thread {thread} call {call}")
            else:
                for a, b in zip(together, alone, strict=True):
                    assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b, (thread, call)
        assert midas.load_count() == loads + 1
        steady = rss_mb()  # the model resident, every call done
        print(f"\n{THREADS} threads x {CALLS} calls: {wall:.1f} s, loads {midas.load_count() - loads}, peak RSS "
              f"{memory.peak:.0f} MB (start {memory.start:.0f}, after all calls {steady:.0f}: "
              f"peak {memory.peak - steady:+.0f} MB over it)")
        assert memory.peak - steady < PEAK_OVER_STEADY_MB
    finally:
        raced = midas_estimator_module._cache.pop(key)  # let this test's copy of the model go
        if raced is not None:
            raced.free()
