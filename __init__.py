"""ComfyUI entry: ComfyUI imports this file, and only this one, when the repository is cloned into
`custom_nodes/` (A1111, Forge and reForge load `scripts/` and never import it).

The nodes are imported relatively, as a subpackage of this pack's own module, so nothing lands
under a top-level name another pack could also use. The guard: pytest imports this file as a
lone module named `__init__` (no package) while collecting the tests; only a package import (ComfyUI's
loader) has a `__package__` to import from.
"""

if __package__:
    from .lib_depth.comfyui import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

    __all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
