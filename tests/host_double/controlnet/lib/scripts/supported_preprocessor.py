"""Stand-in for Mikubill's ControlNet >= 1.1.444 `scripts/supported_preprocessor.py` (v1.1.455).

Kept: the dataclass shape (`name` is the one required field), the class-level registries and the
assertion on duplicate names, label/name lookup, sorting by `sorting_priority` then label, tag
filtering, `cached_call` through an LRU cache that hands the preprocessor an ndarray *subclass*
(`--controlnet-preprocessor-cache-size`, default 16), and the default `unload()`.
"""

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import numpy as np

CACHE_SIZE = 16


@dataclass
class PreprocessorParameter:
    label: str = "EMPTY_LABEL"
    minimum: float = 0.0
    maximum: float = 1.0
    step: float = 0.01
    value: float = 0.5
    visible: bool = True

    @property
    def gradio_update_kwargs(self) -> dict:
        return dict(
            minimum=self.minimum,
            maximum=self.maximum,
            step=self.step,
            label=self.label,
            value=self.value,
            visible=self.visible,
        )

    @property
    def api_json(self) -> dict:
        return dict(name=self.label, value=self.value, min=self.minimum, max=self.maximum, step=self.step)


def ndarray_lru_cache(max_size: int = 128):
    """ControlNet's cache: arrays are wrapped in a hashable ndarray subclass (a view, same data)."""

    def decorator(func):
        class HashableNpArray(np.ndarray):
            def __new__(cls, input_array):
                return np.asarray(input_array).view(cls)

            def __eq__(self, other) -> bool:
                return np.array_equal(self, other)

            def __hash__(self):
                return hash(self.tobytes())

        @functools.lru_cache(maxsize=max_size)
        def cached_func(*args, **kwargs):
            return func(*args, **kwargs)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            args = [HashableNpArray(a) if isinstance(a, np.ndarray) else a for a in args]
            kwargs = {k: HashableNpArray(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
            return cached_func(*args, **kwargs)

        return wrapper

    return decorator


@dataclass
class Preprocessor(ABC):
    name: str
    _label: str = None
    tags: list[str] = field(default_factory=list)
    slider_resolution = PreprocessorParameter(
        label="Resolution", minimum=64, maximum=2048, value=512, step=8, visible=True
    )
    slider_1 = PreprocessorParameter(visible=False)
    slider_2 = PreprocessorParameter(visible=False)
    slider_3 = PreprocessorParameter(visible=False)
    returns_image: bool = True
    show_control_mode = True
    do_not_need_model = False
    sorting_priority = 0
    accepts_mask: bool = False
    requires_mask: bool = False
    model: Any = None
    preprocessor_deps: list[str] = field(default_factory=list)

    all_processors: ClassVar[dict[str, "Preprocessor"]] = {}
    all_processors_by_name: ClassVar[dict[str, "Preprocessor"]] = {}

    @property
    def label(self) -> str:
        return self._label if self._label is not None else self.name

    @classmethod
    def add_supported_preprocessor(cls, p: "Preprocessor"):
        assert p.label not in cls.all_processors, f"{p.label} already registered!"
        cls.all_processors[p.label] = p
        assert p.name not in cls.all_processors_by_name, f"{p.name} already registered!"
        cls.all_processors_by_name[p.name] = p

    @classmethod
    def get_preprocessor(cls, name: str):
        return cls.all_processors.get(name, cls.all_processors_by_name.get(name, None))

    @classmethod
    def get_sorted_preprocessors(cls):
        preprocessors = [p for k, p in cls.all_processors.items() if k != "none"]
        ordered = sorted(preprocessors, key=lambda x: str(x.sorting_priority).zfill(8) + x.label, reverse=True)
        return [cls.all_processors["none"], *ordered]

    @classmethod
    def get_filtered_preprocessors(cls, tag: str):
        if tag == "All":
            return cls.all_processors
        return [p for p in cls.get_sorted_preprocessors() if tag in p.tags or p.label == "none"]

    @classmethod
    def get_default_preprocessor(cls, tag: str):
        ps = cls.get_filtered_preprocessors(tag)
        return ps[0] if len(ps) == 1 else ps[1]

    @classmethod
    def unload_unused(cls, active_processors):
        for p in cls.all_processors.values():
            if p not in active_processors:
                p.unload()

    class Result(NamedTuple):
        value: Any
        display_images: list

    def cached_call(self, input_image, *args, **kwargs):
        result = self._cached_call(input_image, *args, **kwargs)
        if isinstance(result, Preprocessor.Result):
            return result
        return Preprocessor.Result(value=result, display_images=[result if self.returns_image else input_image])

    @ndarray_lru_cache(max_size=CACHE_SIZE)
    def _cached_call(self, *args, **kwargs):
        return self(*args, **kwargs)

    def __hash__(self):
        return hash(self.name)

    def __eq__(self, other):
        return self.__hash__() == other.__hash__()

    @abstractmethod
    def __call__(self, input_image, resolution, slider_1=None, slider_2=None, slider_3=None, input_mask=None, **kwargs):
        pass

    def unload(self):
        if self.model is not None:
            if hasattr(self.model, "unload_model"):
                self.model.unload_model()
                return True
            if hasattr(self.model, "to"):
                self.model.to("cpu")
                return True
            raise Exception(f"Unable to unload model {self.model}")
        return False


class _Identity(Preprocessor):
    def __call__(self, input_image, resolution, slider_1=None, slider_2=None, slider_3=None, **kwargs):
        return input_image


# What ControlNet registers itself before extensions run: "none" and the built-in depth entry
# (legacy name "depth", label "depth_midas", priority 100).
Preprocessor.add_supported_preprocessor(_Identity(name="none"))
_depth = _Identity(name="depth", _label="depth_midas", tags=["Depth"])
_depth.sorting_priority = 100
Preprocessor.add_supported_preprocessor(_depth)
