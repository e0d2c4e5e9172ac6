"""Stand-in for ControlNet <= 1.1.443's `scripts/processor.py`: the preprocessor functions' slider
configs (first entry: resolution, flagged by name), read by its UI to build the sliders."""

flag_preprocessor_resolution = "Preprocessor Resolution"


def midas(img, res=512, a=6.28, **kwargs):
    """Built-in depth entry: returns (image, is_image) like every legacy preprocessor function."""
    return img, True


def unload_midas():
    pass


preprocessor_sliders_config = {
    "none": [],
    "depth": [{"name": flag_preprocessor_resolution, "min": 64, "max": 2048, "value": 512}],
}

preprocessor_filters = {"All": "none", "Depth": "depth_midas", "NormalMap": "normal_bae"}
preprocessor_filters_aliases = {"normalmap": ["normal"]}
