"""The layers of the README's "Development" section, read from every module's imports with `ast`
(nothing is run).

depth/ imports nothing else of lib_depth; network_base/ (what every network shares) only depth/; each
network package (midas/, anything/, video/) only depth/ and network_base/, never another network's
package, and no lib_depth package imports another's private (`_`) name; cli (and api/) depth/ and midas/;
ui/ those and api/ (the standalone server mounts it), never webui/; webui/ anything, and nothing
imports webui/ back but scripts/. Only webui/host.py touches the WebUI (`modules.*`, Forge,
ControlNet), and the EXR path never imports torch, controlnet_aux or gradio at module level.
No two modules import each other, directly or around a loop (a lazy import inside a function
counts: it hides the cycle from Python, not from the reader), and no function is over 60 lines.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIB = REPO / "lib_depth"

#: layer -> the lib_depth layers it may import (itself always allowed). "top" is lib_depth/*.py.
ALLOWED: dict[str, set[str]] = {
    "depth": set(),
    "network_base": {"depth"},  # what every network shares (issue 24, item 1)
    "midas": {"depth", "network_base"},
    "anything": {"depth", "network_base"},  # one base for every network: never another network's package
    "video": {"depth", "network_base"},  # network_base's DINOv2 encoder and DPT head, a temporal head
    "images": {"depth", "network_base", "midas", "anything", "video"},  # the image route over the model packages
    "cli": {"depth", "midas", "images", "top"},
    "api": {"depth", "midas", "images", "top"},
    "ui": {"depth", "midas", "images", "api", "top"},  # the standalone server mounts the API
    "webui": {"depth", "midas", "images", "ui", "api", "top", "cli"},
    "farm": {"depth", "cli"},  # render-farm tasks: the command line run on a farm's chunks
    "comfyui": {"depth", "midas", "anything", "video", "images", "top"},  # ComfyUI's floor: never webui/ or ui/
    "top": {"depth", "midas", "cli", "farm"},  # __main__ dispatches `farm ...` to farm/, the rest to cli/
}
HOST_PACKAGES = ("modules", "modules_forge", "scripts", "internal_controlnet", "launch", "lib_controlnet")
#: ComfyUI's own top-level modules: only lib_depth/comfyui/host.py imports them.
COMFY_PACKAGES = ("comfy", "comfy_api", "comfy_execution", "comfy_extras", "folder_paths", "server", "nodes",
                  "node_helpers", "execution", "latent_preview")
HEAVY = ("torch", "torchvision", "controlnet_aux", "timm", "gradio")


def layer_of(module: str) -> str:
    """`lib_depth.depth.exr` -> depth; `lib_depth.cli` -> cli; `lib_depth` -> top."""
    parts = module.split(".")
    if len(parts) == 1:
        return "top"
    if (LIB / parts[1]).is_dir():
        return parts[1]
    return "cli" if parts[1] == "cli" or parts[1].startswith("cli_") else "top"


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def from_target(node: ast.ImportFrom, package: str) -> str:
    """The absolute module of `from X import ...` written in `package` (relative levels resolved)."""
    if not node.level:
        return node.module or ""
    base = package.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports(path: Path, name: str | None = None) -> list[tuple[str, int, bool]]:
    """(absolute module, line, at module level) for every import in the file, relative ones resolved
    from its module `name`. `from . import x` counts as importing `<package>.x`."""
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf8"))
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # `if TYPE_CHECKING:` and `try:` blocks at module level run at import too
        if isinstance(node, (ast.If, ast.Try)):
            top_level.update(id(n) for n in ast.walk(node))
    found: list[tuple[str, int, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = from_target(node, package)
            if node.module is None or (node.level and not node.module):
                found += [(f"{target}.{alias.name}", node.lineno, id(node) in top_level) for alias in node.names]
            else:
                found.append((target, node.lineno, id(node) in top_level))
    return found


def type_checking_lines(path: Path) -> set[int]:
    """Lines inside `if TYPE_CHECKING:` blocks: imported for annotations only, never at run time."""
    tree = ast.parse(path.read_text(encoding="utf8"))
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for child in ast.walk(node):
                if hasattr(child, "lineno"):
                    lines.add(child.lineno)
    return lines


MODULES = sorted(LIB.rglob("*.py"))


def test_the_tree_has_the_layers() -> None:
    packages = {p.name for p in LIB.iterdir() if (p / "__init__.py").is_file()}
    assert {"depth", "midas", "anything", "images", "cli", "api", "ui", "webui", "comfyui"} <= packages
    for package in packages:
        doc = ast.get_docstring(ast.parse((LIB / package / "__init__.py").read_text(encoding="utf8")))
        assert doc and len(doc) > 80, f"lib_depth/{package}/__init__.py needs a docstring naming its modules"
        assert "Public" in doc, f"lib_depth/{package}/__init__.py must name its public API (a 'Public:' line)"


def layer_violations(path: Path, name: str) -> list[str]:
    here = layer_of(name)
    wrong = []
    for target, line, _ in imports(path, name):
        if target.split(".")[0] != "lib_depth":
            continue
        there = layer_of(target)
        if there != here and there not in ALLOWED[here]:
            wrong.append(f"line {line}: {here}/ imports {target} ({there}/)")
    return wrong


def heavy_imports(path: Path, name: str) -> list[tuple[str, int]]:
    """torch/gradio/... imported where the module's own import runs them (depth/: anywhere)."""
    skip = type_checking_lines(path)
    anywhere = layer_of(name) == "depth"
    return [(t, line) for t, line, top in imports(path, name)
            if t.split(".")[0] in HEAVY and (top or anywhere) and line not in skip]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(LIB)))
def test_imports_follow_the_layers(path: Path) -> None:
    wrong = layer_violations(path, module_name(path))
    assert not wrong, "\n".join(wrong)


def private_imports(path: Path, name: str) -> list[str]:
    """`from <another lib_depth package> import _name`: a private name is its package's own business,
    so one package leaning on it breaks when the other tidies (anything/ used midas/network.py's)."""
    here = layer_of(name)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    wrong = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        target = from_target(node, package)
        if target.split(".")[0] != "lib_depth" or layer_of(target) == here:
            continue
        wrong += [f"line {node.lineno}: {here}/ imports {alias.name} from {target}" for alias in node.names
                  if alias.name.startswith("_") and not alias.name.startswith("__")]
    return wrong


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(LIB)))
def test_no_package_imports_another_packages_private_names(path: Path) -> None:
    wrong = private_imports(path, module_name(path))
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(LIB)))
def test_only_the_host_adapter_touches_the_webui(path: Path) -> None:
    if path == LIB / "webui" / "host.py":
        return
    touched = [(t, line) for t, line, _ in imports(path) if t.split(".")[0] in HOST_PACKAGES]
    text = path.read_text(encoding="utf8")
    assert not touched, f"{path.relative_to(REPO)} imports {touched}"
    assert 'import_module("modules' not in text and "import_module('modules" not in text


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(LIB)))
def test_only_the_comfyui_host_adapter_touches_comfyui(path: Path) -> None:
    if path == LIB / "comfyui" / "host.py":
        return
    touched = [(t, line) for t, line, _ in imports(path) if t.split(".")[0] in COMFY_PACKAGES]
    assert not touched, f"{path.relative_to(REPO)} imports {touched}"


def test_only_the_pack_entry_imports_the_comfyui_floor() -> None:
    """ComfyUI imports the repository's root `__init__.py`; it imports `lib_depth.comfyui`, relatively
    (a top-level `lib_depth` could be another pack's), and nothing else does. `sys` is the guard's: it
    looks for ComfyUI's `folder_paths` among the loaded modules."""
    entry = REPO / "__init__.py"
    tree = ast.parse(entry.read_text(encoding="utf8"))
    found: list[tuple[int, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module))
        elif isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
    assert found == [(0, "sys"), (1, "lib_depth.comfyui")], found
    for path in MODULES:
        if layer_of(module_name(path)) == "comfyui":
            continue
        users = [(t, line) for t, line, _ in imports(path) if t.startswith("lib_depth.comfyui")]
        assert not users, f"{path.relative_to(REPO)} imports {users}"


def command_line_modules() -> list[Path]:
    """The command line's files: the package `lib_depth/cli/` once it is one, else cli.py and cli_sequence.py."""
    if (LIB / "cli").is_dir():
        return sorted((LIB / "cli").glob("*.py"))
    return [LIB / "cli.py", LIB / "cli_sequence.py"]


@pytest.mark.parametrize("path", [*sorted((LIB / "depth").glob("*.py")), LIB / "__init__.py",
                                  *command_line_modules()],
                         ids=lambda p: str(p.relative_to(LIB)))
def test_the_exr_path_imports_no_torch_or_gradio(path: Path) -> None:
    heavy = heavy_imports(path, module_name(path))
    assert not heavy, f"{path.relative_to(REPO)} imports {heavy}"


@pytest.mark.parametrize("package", ["network_base", "midas", "anything", "video", "images"])
def test_models_import_torch_only_when_used(package: str) -> None:
    for path in sorted((LIB / package).glob("*.py")):
        heavy = heavy_imports(path, module_name(path))
        assert not heavy, f"{path.relative_to(REPO)} imports {heavy} at module level"


def test_nothing_imports_webui_but_scripts() -> None:
    for path in MODULES:
        if layer_of(module_name(path)) == "webui":
            continue
        users = [(t, line) for t, line, _ in imports(path) if layer_of(t) == "webui" and t.startswith("lib_depth")]
        assert not users, f"{path.relative_to(REPO)} imports {users}"


def test_no_module_is_over_400_lines() -> None:
    long = {str(p.relative_to(REPO)): n for p in MODULES if (n := len(p.read_text().splitlines())) > 420}
    assert not long, long


def test_the_rules_catch_a_wrong_import(tmp_path: Path) -> None:
    """The checker itself: upward and heavy imports written into a depth/ module are reported."""
    probe = tmp_path / "probe.py"
    probe.write_text("from ..midas import estimator\nfrom ..webui.host import in_webui\n"
                     "def f():\n    import torch\n", encoding="utf8")
    name = "lib_depth.depth.probe"
    assert [t for t, _, _ in imports(probe, name)] == ["lib_depth.midas", "lib_depth.webui.host", "torch"]
    assert [v.split(" (")[0] for v in layer_violations(probe, name)] == [
        "line 1: depth/ imports lib_depth.midas", "line 2: depth/ imports lib_depth.webui.host"]
    assert heavy_imports(probe, name) == [("torch", 4)]
    assert layer_violations(probe, "lib_depth.webui.probe") == []
    private = tmp_path / "private.py"
    private.write_text("from ..midas.network import _first_line, load_count\nfrom .config import _hint\n"
                       "from lib_depth.midas import _cache\nfrom ..network_base import strict_load\n", encoding="utf8")
    assert private_imports(private, "lib_depth.anything.private") == [
        "line 1: anything/ imports _first_line from lib_depth.midas.network",
        "line 3: anything/ imports _cache from lib_depth.midas"]
    assert private_imports(private, "lib_depth.midas.private") == []  # its own package's: its business


#: the longest function allowed: one screen, so that a function is read whole
MAX_FUNCTION_LINES = 60


def module_edges(path: Path, name: str, known: set[str]) -> set[str]:
    """The lib_depth modules that `path` makes Python load at run time, at module level or inside a
    function. `from package import name` loads the submodule `package.name` when there is one, else
    the package's `__init__`. Imports under `if TYPE_CHECKING:` are left out: they never run."""
    skip = type_checking_lines(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join([*base, node.module] if node.module else base)
            found |= {f"{target}.{a.name}" if f"{target}.{a.name}" in known else target for a in node.names}
    return {module for module in found if module in known and module != name}


def import_graph(files: Iterable[tuple[Path, str]]) -> dict[str, set[str]]:
    """module -> the modules it imports, for (file, module name) pairs."""
    files = list(files)
    known = {name for _, name in files}
    return {name: module_edges(path, name, known) for path, name in files}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every group of modules that reach each other through imports (Tarjan's strongly connected
    components of more than one module), each sorted, for a message that names them all."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def long_functions(path: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """`file:line name (N lines)` for every function or method longer than `limit`, counted from
    its `def` to its last line (decorators excluded); nested functions are measured on their own."""
    tree = ast.parse(path.read_text(encoding="utf8"))
    return [f"{path.name}:{node.lineno} {node.name} ({size} lines)" for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and (size := node.end_lineno - node.lineno + 1) > limit]


def test_no_import_cycles() -> None:
    loops = cycles(import_graph((path, module_name(path)) for path in MODULES))
    assert not loops, "modules that import each other (directly or around a loop):\n" + "\n".join(
        " <-> ".join(group) for group in loops)


def test_no_function_is_over_60_lines() -> None:
    long = [f"{path.parent.relative_to(REPO)}/{entry}" for path in MODULES for entry in long_functions(path)]
    assert not long, "\n".join(long)


def test_the_rules_catch_a_cycle_and_a_long_function(tmp_path: Path) -> None:
    """The checkers themselves: a cycle through a lazy import, one through `from . import module`
    and one through a package's `__init__` are found; a TYPE_CHECKING import is no edge; a
    61-line function is reported, a 60-line one (with a decorator on top) is not."""
    pkg = tmp_path / "lib_depth" / "pkg"
    pkg.mkdir(parents=True)
    sources = {
        "__init__.py": "from .c import g\n",
        "a.py": "from .b import f\n",
        "b.py": "def f():\n    from lib_depth.pkg.a import x\n",  # lazy: still a cycle a <-> b
        "c.py": "from . import d\n",
        "d.py": "from lib_depth.pkg import g\n",  # the package's __init__, which imports c
        "e.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import f\n",
    }
    files = []
    for file, text in sources.items():
        (pkg / file).write_text(text, encoding="utf8")
        files.append((pkg / file, "lib_depth.pkg" + ("" if file == "__init__.py" else f".{file[:-3]}")))
    graph = import_graph(files)
    assert graph["lib_depth.pkg.e"] == set()
    assert cycles(graph) == [["lib_depth.pkg", "lib_depth.pkg.c", "lib_depth.pkg.d"],
                             ["lib_depth.pkg.a", "lib_depth.pkg.b"]]
    assert cycles({"x": {"y"}, "y": {"z"}, "z": set()}) == []
    body = "".join(f"    x{i} = {i}\n" for i in range(58))
    probe = tmp_path / "long.py"
    probe.write_text(f"@decorator\ndef short():\n{body}    return 0\n\n"
                     f"def long():\n{body}    x = 1\n    return x\n", encoding="utf8")
    assert long_functions(probe) == ["long.py:63 long (61 lines)"]
