"""ControlNet >= 1.1.444's public import for extensions (`internal_controlnet.external_code`)."""

from scripts.supported_preprocessor import Preprocessor, PreprocessorParameter

__all__ = ["Preprocessor", "PreprocessorParameter"]
