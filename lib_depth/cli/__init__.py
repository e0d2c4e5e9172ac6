"""The command line, `python -m lib_depth` (installed as `depthmap`): needs no WebUI, no gradio.

Imports `depth/` and `images/`; its modules import one way (`main` -> `files`, `sequence` ->
`arguments`, `report`). Modules by job:

- `arguments`: the parser and what it asks for as typed objects (`build_parser`, `depth_options`,
  `exr_input`, `image_input`, `input_for`: the input kind of a file by its suffix).
- `files`: each file on its own (`make_jobs`, `run_jobs`, `convert_files`), in parallel with `--jobs`.
- `sequence`: animation frames with one mapping, one function per mode (`one_machine_mode`,
  `scan_mode`, `levels_mode`; `main_sequence`).
- `report`: what is printed (`Progress`, `print_histogram`, `print_result`).
- `main`: `main(argv)`, the exit status.

Public: `main`, `build_parser`, `Progress`, `print_histogram`.
"""

from .arguments import build_parser
from .main import main
from .report import Progress, print_histogram

__all__ = ["Progress", "build_parser", "main", "print_histogram"]
