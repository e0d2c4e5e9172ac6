"""ControlNet <= 1.1.443's script: imports its registries (so they sit in sys.modules) and adds its API."""

from modules import script_callbacks

from scripts import api, global_state  # noqa: F401

script_callbacks.on_app_started(api.controlnet_api)
