"""Stand-in for Forge/reForge's `modules_forge/supported_preprocessor.py`: a `Preprocessor` whose
`__init__` takes no arguments (attributes are set afterwards) and a `PreprocessorParameter` that
only keeps `gradio_update_kwargs`. No `unload()` in the base: Forge manages models itself."""

from modules_forge.shared import add_supported_preprocessor


class PreprocessorParameter:
    def __init__(self, minimum=0.0, maximum=1.0, step=0.01, label="Parameter 1", value=0.5, visible=False, **kwargs):
        self.gradio_update_kwargs = dict(
            minimum=minimum, maximum=maximum, step=step, label=label, value=value, visible=visible, **kwargs
        )


class Preprocessor:
    def __init__(self):
        self.name = "PreprocessorBase"
        self.tags = []
        self.model_filename_filters = []
        self.slider_resolution = PreprocessorParameter(
            label="Resolution", minimum=128, maximum=2048, value=512, step=8, visible=True
        )
        self.slider_1 = PreprocessorParameter()
        self.slider_2 = PreprocessorParameter()
        self.slider_3 = PreprocessorParameter()
        self.model_patcher = None
        self.show_control_mode = True
        self.do_not_need_model = False
        self.sorting_priority = 0

    def __call__(self, input_image, resolution, slider_1=None, slider_2=None, slider_3=None, input_mask=None, **kwargs):
        return input_image


class PreprocessorNone(Preprocessor):
    def __init__(self):
        super().__init__()
        self.name = "None"
        self.sorting_priority = 10


class _BuiltinDepth(Preprocessor):
    def __init__(self):
        super().__init__()
        self.name = "depth_midas"
        self.tags = ["Depth"]
        self.model_filename_filters = ["depth"]
        self.sorting_priority = 100


add_supported_preprocessor(PreprocessorNone())
add_supported_preprocessor(_BuiltinDepth())
