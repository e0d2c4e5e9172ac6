"""Forge's built-in ControlNet script: registers its API routes."""

from lib_controlnet import api
from modules import script_callbacks

script_callbacks.on_app_started(api.controlnet_api)
