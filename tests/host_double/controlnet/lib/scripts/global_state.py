"""ControlNet >= 1.1.444 keeps a `global_state` module, but its preprocessors live in the
`Preprocessor` registry: no `cn_preprocessor_modules` any more."""

from scripts.supported_preprocessor import Preprocessor


def select_control_type(control_type):
    return [p.label for p in Preprocessor.get_filtered_preprocessors(control_type)]
