"""The Depth Tools tab in gradio (3.41.2 as in A1111/reForge, 4.40 as in Forge), host-agnostic.

Imports `depth/`, `midas/` and `api/` (the standalone server mounts it); reaches the WebUI only
through `hosting.TabHost`, which the WebUI adapter hands to `build_tab` (never by importing `webui/`). Modules by job:

- `app`: the whole tab (`build_ui`, `build_tab`) and the standalone server (`main`).
- `exr_tab` (layout and wiring) and `exr_events` (its handlers) over `exr` (the work: views,
  previews, cut clicks, making the PNGs), with `depth.chart` drawing the histogram; `fast_preview` (the
  tab's own route, which `javascript/depth_tools_tab.js` sends cuts to, with no gradio event) and
  `shown` (each loaded render and its cutoff in force, kept on the server under a key).
- `midas_tab` over `midas` (estimate once, re-render as the controls move), and its sequence mode,
  `midas_sequence_events` over `midas_sequence` (photo frames or a video through the CLI's sequence core).
- `sequences` and `sequence_events`: what both sequence modes share (frames from uploads or server
  folders, progress and Interrupt between frames, the zip, the server folders panel, the result line).
- `controls` (the post-processing controls both sub-tabs share, defined once: their components,
  their values by name, their `DepthOptions`), `events` (handlers wired by name: a dict of values
  in, updates by component name out; one `Wiring` method per kind of event), `controlnet_send` (Send to
  ControlNet, with `javascript/depth_tools_controlnet.js`), `status` (messages),
  `compat` (gradio 3/4 differences), `hosting` (what the tab needs from its host).

Public: `build_ui`, `build_tab`, `TabHost`, `main` (`python -m lib_depth.ui`).
"""

from .app import DepthToolsUI, build_tab, build_ui, main
from .hosting import TabHost

__all__ = ["DepthToolsUI", "TabHost", "build_tab", "build_ui", "main"]
