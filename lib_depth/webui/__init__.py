"""The only code that knows a WebUI exists (A1111, Forge, reForge); nothing imports it but `scripts/`.

May use every other package of `lib_depth`. Every `modules.*` import is guarded in `host`, so
all of it also runs (as no-ops) without a WebUI. Modules by job:

- `host`: the WebUI's `modules.*` (options, flags, paths, callbacks, send-to buttons, progress).
- `settings`: the "Depth Tools" settings section (`SETTINGS`, `register_settings`, `setting`).
- `models`: MiDaS as the WebUI configures it (`midas_settings`, weights folders, `after_run`, `running`).
- `tabs`: the tab with the WebUI's side of it (`ui_tabs`, `tab_host`).
- `http_api`: the HTTP API on the WebUI's app with `--api` (`app_started`, for on_app_started).
- `preprocessors` (what they are, one implementation) and `controlnet` (registration in every
  ControlNet flavour: `register_preprocessors`).

Public: `host.on_ui_tabs`, `on_ui_settings`, `on_before_ui`, `on_app_started` (the callbacks),
`tabs.ui_tabs`, `settings.register_settings`, `controlnet.register_preprocessors`,
`http_api.app_started`: what `scripts/depth_tools.py` wires. They are not re-exported here: the
script imports the modules by name, and importing this package alone must not import gradio.
"""
