"""WebUI entry point (A1111, Forge, reForge): the tab, its settings, ControlNet's preprocessors and,
with --api, the HTTP API. Everything lives in `lib_depth`; the host is reached only through `lib_depth.webui`.
"""

from lib_depth.webui import controlnet, host, http_api, settings, tabs

host.on_ui_tabs(tabs.ui_tabs)
host.on_ui_settings(settings.register_settings)
host.on_before_ui(controlnet.register_preprocessors)
host.on_app_started(http_api.app_started)
