"""Re-export: the maps made from nearness live in the network base (`lib_depth.network_base.maps`);
the floors' `lib_depth.midas.maps` names stay importable."""

from ..network_base.maps import (
    DEFAULT_A,
    DEFAULT_BG_THRESHOLD,
    DEFAULT_RESOLUTION,
    MAX_A,
    nearness_to_depth,
    normal_map,
    normalised_nearness,
)

__all__ = ["DEFAULT_A", "DEFAULT_BG_THRESHOLD", "DEFAULT_RESOLUTION", "MAX_A", "nearness_to_depth", "normal_map",
    "normalised_nearness"]
