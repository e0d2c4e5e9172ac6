"""The part of ControlNet's own script that matters to other extensions: its API routes."""

from modules import script_callbacks

from scripts import api, global_state  # noqa: F401

script_callbacks.on_app_started(api.controlnet_api)
