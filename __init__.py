"""ComfyUI entry: ComfyUI imports this file, and only this one, when the repository is cloned into
`custom_nodes/` (A1111, Forge and reForge load `scripts/` and never import it).

The nodes are imported relatively, as a subpackage of this pack's own module, so nothing lands
under a top-level name another pack could also use.

The guard: ComfyUI has imported its `folder_paths` before it loads any pack. Anything else that
imports this file finds no ComfyUI and gets no nodes: pytest does, collecting the tests, as a lone
module `__init__` when the checkout's folder name is not an identifier (`depth-tools`) and as the
package of that name when it is (`main`, `repo`): a package import alone cannot tell the two apart.
"""

import sys

if __package__ and "folder_paths" in sys.modules:
    from .lib_depth.comfyui import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

    __all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
