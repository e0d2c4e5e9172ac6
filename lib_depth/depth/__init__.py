"""The core: float depth -> depth maps, with numpy, OpenEXR and OpenCV only (never torch or gradio).

Imports nothing else of `lib_depth`. Modules by job:

- `exr`: read a depth channel from an EXR render (`read_depth`), write one (`write_depth`, tests/sample).
- `process`: the depth semantics (DESIGN.md): valid pixels, levels, histogram and suggested cuts,
  cutoff, compress, noise, mask (`make_depth_map`, `histogram`, `scan_depth`, `DepthOptions`).
- `relevel`: an existing depth map's levels back to a float depth, then cutoff/compress (`relevel`).
- `png`: 8/16-bit and bilevel PNG encoding, atomic writes (`encode_png`, `write_bytes_atomic`).
- `pipeline`: one input file -> PNGs beside it or in a folder (`Job`, `run_job`), sources by suffix.
- `blocks`: row blocks on every core for the numpy passes; `errors`: `DepthError`; `sample`: a scene.
"""
