"""Stand-in for Forge/reForge's `modules_forge/shared.py`: the preprocessor registry (a dict that
silently overwrites by name) and the preprocessor models folder."""

import os

from modules.paths_internal import models_path

preprocessor_dir = os.path.join(models_path, "ControlNetPreprocessor")
os.makedirs(preprocessor_dir, exist_ok=True)

supported_preprocessors = {}


def add_supported_preprocessor(preprocessor):
    supported_preprocessors[preprocessor.name] = preprocessor
