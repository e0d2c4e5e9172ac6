"""WebUI entry point (A1111, Forge, reForge): the tab, its settings and ControlNet's preprocessors.

Everything lives in `lib_depth`; the host is reached only through `lib_depth.webui`.
"""

from lib_depth.webui import controlnet, host, settings, tabs

host.on_ui_tabs(tabs.ui_tabs)
host.on_ui_settings(settings.register_settings)
host.on_before_ui(controlnet.register_preprocessors)
