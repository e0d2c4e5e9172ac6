"""Every document the repository cites is in the repository: a clone has nothing else.

A citation is a name ending `.md` in any tracked text file (code comments, docstrings, docs),
outside a URL. It counts as present when it names a tracked file relative to the citing file's
folder, to the repository root or to `docs/`. Code once cited a file of host facts that only the
developers' own machine had.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CITATION = re.compile(r"[\w./:~-]*\w\.md\b")


def tracked_files(root: Path) -> list[str]:
    try:
        listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True, check=True,
                                timeout=60).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: no list of tracked files")
    return [name for name in listed.decode().split("\0") if name]


def citations(text: str) -> set[str]:
    """The documents `text` names (URLs left out)."""
    return {found for found in CITATION.findall(text) if "://" not in found and not found.startswith("www.")}


def missing_citations(root: Path, files: list[str]) -> list[str]:
    """`file: document` for every cited document that is not among `files`."""
    present = set(files)
    missing = []
    for name in files:
        try:
            text = (root / name).read_text(encoding="utf8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files (pictures, EXR renders) cite nothing
        folder = Path(name).parent
        for cited in sorted(citations(text)):
            places = {(folder / cited).as_posix(), cited.lstrip("./"), f"docs/{cited}"}
            if not any(Path(place).as_posix() in present for place in places):
                missing.append(f"{name}: {cited}")
    return missing


def test_citations_are_found_and_urls_left_out() -> None:
    text = "see docs/hosts.md, (README.md) and ./notes/a-b.md. Not https://example.org/x/NOTES.md, www.a.org/b.md."
    assert citations(text) == {"docs/hosts.md", "README.md", "./notes/a-b.md"}


def test_a_document_missing_from_the_files_is_named(tmp_path: Path) -> None:
    gone = "GONE" + ".md"  # spelled apart, or this file would cite it
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "hosts.md").write_text("facts\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "here.md").write_text("beside\n")
    (tmp_path / "sub" / "code.py").write_text(f'"""See hosts.md, here.md and {gone}."""\n')
    files = ["docs/hosts.md", "sub/here.md", "sub/code.py"]
    assert missing_citations(tmp_path, files) == [f"sub/code.py: {gone}"]


def test_every_cited_document_is_tracked() -> None:
    files = tracked_files(REPO)
    assert "docs/hosts.md" in files and "README.md" in files  # the list is what a clone has
    scanned = [name for name in files if name != "tests/test_cited_documents.py"]  # its examples cite on purpose
    assert missing_citations(REPO, scanned) == []
