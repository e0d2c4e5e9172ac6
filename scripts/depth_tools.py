"""WebUI entry point (A1111, Forge, reForge): the tab, its settings and ControlNet's preprocessors.

Everything lives in `lib_depth`; the host is reached only through `lib_depth.host`.
"""

from lib_depth import controlnet, host

host.on_ui_tabs(host.ui_tabs)
host.on_ui_settings(host.register_settings)
host.on_before_ui(controlnet.register_preprocessors)
