"""What made each output, recorded beside it, so an interrupted sequence run resumes where it stopped.

One small JSON record per frame, `<output folder>/.depth-tools/<stem>.json`, not one manifest per
folder: farm machines converting chunks into the same folder never write the same file, and a
record is written (atomically) only after the frame's PNGs are, and deleted before they are
rewritten, so a record always describes complete outputs. A hidden folder, because ControlNet's and
the WebUI's batch modes list the output folder and skip dot-names.

A record holds the input's resolved path, size and modification time (not a hash of its bytes:
reading every EXR again to hash it would cost as much as converting it), a hash of everything that
decides the bytes (options, the frame's noise seed, channel, the shared mapping) and each output's
name and size. An output is up to date when all of these match; `--force` ignores the records.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .png import write_bytes_atomic

FOLDER = ".depth-tools"
FORMAT = "depth-tools-output"
VERSION = 1


def settings_digest(settings: dict) -> str:
    """sha256 of the canonical JSON of `settings` (floats as repr: exact)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class InputStamp:
    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> InputStamp:
        st = path.stat()
        return cls(str(path.resolve()), st.st_size, st.st_mtime_ns)


def record_path(output_folder: Path, stem: str) -> Path:
    return output_folder / FOLDER / f"{stem}.json"


def is_up_to_date(record: Path, stamp: InputStamp, digest: str, outputs: dict[str, Path]) -> bool:
    """True when `record` says these outputs were made from this input with these settings, and
    they are still there, at the size they were written."""
    try:
        data = json.loads(record.read_text(encoding="utf8"))
        if data.get("format") != FORMAT or data.get("version") != VERSION or data.get("settings") != digest:
            return False
        if data["input"] != {"path": stamp.path, "size": stamp.size, "mtime_ns": stamp.mtime_ns}:
            return False
        written = data["outputs"]
        if set(written) != set(outputs):
            return False
        return all(path.name == written[name]["name"] and path.stat().st_size == written[name]["size"]
                   for name, path in outputs.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def forget(record: Path) -> None:
    """Before outputs are rewritten: a record must never describe outputs that are half replaced."""
    with contextlib.suppress(FileNotFoundError):
        record.unlink()


def write_record(record: Path, stamp: InputStamp, digest: str, outputs: dict[str, Path]) -> None:
    record.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "format": FORMAT, "version": VERSION,
        "input": {"path": stamp.path, "size": stamp.size, "mtime_ns": stamp.mtime_ns},
        "settings": digest,
        "outputs": {name: {"name": path.name, "size": os.stat(path).st_size} for name, path in outputs.items()},
    }
    write_bytes_atomic(record, (json.dumps(data, indent=1) + "\n").encode())
