"""The layers of DESIGN.md "Layout", read from every module's imports with `ast` (nothing is run).

depth/ imports nothing else of lib_depth; midas/ only depth/; cli (and api/) depth/ and midas/;
ui/ those and api/ (the standalone server mounts it), never webui/; webui/ anything, and nothing
imports webui/ back but scripts/. Only webui/host.py touches the WebUI (`modules.*`, Forge,
ControlNet), and the EXR path never imports torch, controlnet_aux or gradio at module level.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIB = REPO / "lib_depth"

#: layer -> the lib_depth layers it may import (itself always allowed). "top" is lib_depth/*.py.
ALLOWED: dict[str, set[str]] = {
    "depth": set(),
    "midas": {"depth"},
    "anything": {"depth", "midas"},
    "cli": {"depth", "midas", "top"},
    "api": {"depth", "midas", "top"},
    "ui": {"depth", "midas", "api", "top"},  # the standalone server mounts the API
    "webui": {"depth", "midas", "ui", "api", "top", "cli"},
    "top": {"depth", "midas", "cli"},
}
HOST_PACKAGES = ("modules", "modules_forge", "scripts", "internal_controlnet", "launch", "lib_controlnet")
HEAVY = ("torch", "torchvision", "controlnet_aux", "timm", "gradio")


def layer_of(module: str) -> str:
    """`lib_depth.depth.exr` -> depth; `lib_depth.cli` -> cli; `lib_depth` -> top."""
    parts = module.split(".")
    if len(parts) == 1:
        return "top"
    if (LIB / parts[1]).is_dir():
        return parts[1]
    return "cli" if parts[1] in ("cli", "__main__") or parts[1].startswith("cli_") else "top"


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


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
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
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
    assert {"depth", "midas", "ui", "webui"} <= packages
    assert (LIB / "cli.py").is_file()
    for package in packages:
        doc = ast.get_docstring(ast.parse((LIB / package / "__init__.py").read_text(encoding="utf8")))
        assert doc and len(doc) > 80, f"lib_depth/{package}/__init__.py needs a docstring naming its public parts"


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


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(LIB)))
def test_only_the_host_adapter_touches_the_webui(path: Path) -> None:
    if path == LIB / "webui" / "host.py":
        return
    touched = [(t, line) for t, line, _ in imports(path) if t.split(".")[0] in HOST_PACKAGES]
    text = path.read_text(encoding="utf8")
    assert not touched, f"{path.relative_to(REPO)} imports {touched}"
    assert 'import_module("modules' not in text and "import_module('modules" not in text


@pytest.mark.parametrize("path", [*sorted((LIB / "depth").glob("*.py")), LIB / "__init__.py", LIB / "cli.py",
                                  LIB / "cli_sequence.py"],
                         ids=lambda p: str(p.relative_to(LIB)))
def test_the_exr_path_imports_no_torch_or_gradio(path: Path) -> None:
    heavy = heavy_imports(path, module_name(path))
    assert not heavy, f"{path.relative_to(REPO)} imports {heavy}"


def test_midas_imports_torch_only_when_used() -> None:
    for path in sorted((LIB / "midas").glob("*.py")):
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
