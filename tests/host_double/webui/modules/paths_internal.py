"""Folders of the fake WebUI, laid out as A1111's paths_internal lays them out."""

import os

from modules import ROOT

script_path = ROOT
data_path = ROOT
models_path = os.path.join(data_path, "models")
extensions_dir = os.path.join(data_path, "extensions")
extensions_builtin_dir = os.path.join(script_path, "extensions-builtin")
