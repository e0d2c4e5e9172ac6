"""Request bodies -> a file on disk plus the option fields, within a size bound.

Two ways in: a JSON object with the file in base64 (what scripts can build with the standard
library), or a multipart form (curl `-F exr=@render.exr`). A multipart file is streamed straight
to a temporary file as it arrives, never held in memory, and the upload is refused (413) as soon as
it passes the bound, or before any byte is read when Content-Length already says so.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request

from ..depth.exr import DEFAULT_MAX_PIXELS  # the command line's bound: one number for every entry

MIB = 1 << 20
#: 512 MiB: a 16-bit 8K multi-layer render fits; anything larger is more likely a mistake.
DEFAULT_MAX_UPLOAD = 512 * MIB
#: Form fields and JSON options are short; more than this is not an option.
MAX_FIELD_BYTES = 64 * 1024
FIELDS_SLACK = MIB


@dataclass(frozen=True)
class ApiLimits:
    """What one request may bring: bytes of the file, pixels of the image (413 past either)."""

    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    max_pixels: int = DEFAULT_MAX_PIXELS

    def json_body_limit(self) -> int:
        """The file in base64 is 4/3 of its size; the options come on top."""
        return -(-self.max_upload_bytes // 3) * 4 + FIELDS_SLACK


class ApiError(Exception):
    """A refusal with its HTTP status; `detail` is what the client reads."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def too_large(limits: ApiLimits, size: int | None = None) -> ApiError:
    got = f" ({size / MIB:.1f} MiB)" if size is not None else ""
    return ApiError(413, f"the upload{got} is larger than this server accepts "
                         f"({limits.max_upload_bytes / MIB:g} MiB); send a smaller file")


@dataclass
class Upload:
    """The uploaded file (a temporary file, deleted on close) and the other fields, as sent."""

    path: Path
    filename: str
    fields: dict[str, Any] = field(default_factory=dict)
    size: int = 0


def _label(name: object, default: str) -> str:
    """The client's file name for messages (`render.exr: ...`, as the command line says), no folders."""
    text = Path(str(name).replace("\\", "/")).name[:200] if name else ""
    return text or default


def _temp_file(suffix: str) -> tuple[int, Path]:
    fd, name = tempfile.mkstemp(prefix="depth-tools-upload-", suffix=suffix)
    return fd, Path(name)


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    """Empty form fields mean "the default"; the command line's `histo` cutoff means no cutoff."""
    out = {k: v for k, v in fields.items() if v is not None and v != ""}
    if isinstance(out.get("cutoff"), str) and out["cutoff"].strip().lower() == "histo":
        del out["cutoff"]
    return out


async def _read_json(request: Request, file_field: str, suffix: str, limits: ApiLimits) -> Upload:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limits.json_body_limit():
            raise too_large(limits)
    try:
        data = json.loads(bytes(body))
    except ValueError as exc:
        raise ApiError(400, f"the body is not valid JSON ({exc})") from None
    del body
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    encoded = data.pop(file_field, None)
    if not isinstance(encoded, str) or not encoded:
        raise ApiError(400, f"no file: put it in base64 in the field {file_field!r}, or send a multipart form")
    if encoded.startswith("data:"):  # a data URL, as browsers make them
        encoded = encoded.partition(",")[2]
    try:
        raw = base64.b64decode(encoded)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, f"the field {file_field!r} is not valid base64 ({exc})") from None
    del encoded
    if len(raw) > limits.max_upload_bytes:
        raise too_large(limits, len(raw))
    fd, path = _temp_file(suffix)
    with os.fdopen(fd, "wb") as fh:
        fh.write(raw)
    return Upload(path, _label(data.pop("filename", None), f"upload{suffix}"), _clean(data), len(raw))


def _multipart():
    try:  # python-multipart >= 0.0.13 (newer fastapi); older ones (A1111's) only have `multipart`
        from python_multipart import multipart
    except ImportError:
        from multipart import multipart
    return multipart


class _Form:
    """python-multipart callbacks: the file part goes to `sink` as it streams, other parts to memory."""

    def __init__(self, file_field: str, sink: Any, limits: ApiLimits) -> None:
        self.file_field, self.sink, self.limits = file_field, sink, limits
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.size = 0
        self.has_file = False
        self._headers: dict[bytes, bytes] = {}
        self._field, self._value = bytearray(), bytearray()
        self._name: str | None = None
        self._data: bytearray | None = None

    def callbacks(self) -> dict[str, Any]:
        return {f"on_{name}": getattr(self, f"on_{name}") for name in (
            "part_begin", "header_field", "header_value", "header_end", "headers_finished", "part_data", "part_end")}

    def on_part_begin(self) -> None:
        self._headers, self._name, self._data = {}, None, None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[bytes(self._field).lower()] = bytes(self._value)
        self._field, self._value = bytearray(), bytearray()

    def on_headers_finished(self) -> None:
        _, options = _multipart().parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._name == self.file_field:
            if self.has_file:
                raise ApiError(400, f"more than one file in the field {self.file_field!r}")
            self.has_file = True
            self.filename = options.get(b"filename", b"").decode("utf-8", "replace") or None
        else:
            self._data = bytearray()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._data is None:
            self.size += end - start
            if self.size > self.limits.max_upload_bytes:
                raise too_large(self.limits)
            self.sink.write(data[start:end])
            return
        self._data += data[start:end]
        if len(self._data) > MAX_FIELD_BYTES:
            raise ApiError(413, f"the form field {self._name!r} is over {MAX_FIELD_BYTES // 1024} KiB")

    def on_part_end(self) -> None:
        if self._data is not None and self._name:
            self.fields[self._name] = self._data.decode("utf-8", "replace")
        self._data = None


async def _read_multipart(request: Request, boundary: bytes, file_field: str, suffix: str,
                          limits: ApiLimits) -> Upload:
    fd, path = _temp_file(suffix)
    try:
        with os.fdopen(fd, "wb") as sink:
            form = _Form(file_field, sink, limits)
            parser = _multipart().MultipartParser(boundary, form.callbacks())
            async for chunk in request.stream():
                parser.write(chunk)
            parser.finalize()
    except ValueError as exc:  # python-multipart's parse errors
        path.unlink(missing_ok=True)
        raise ApiError(400, f"malformed multipart form ({exc})") from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if not form.has_file:
        path.unlink(missing_ok=True)
        raise ApiError(400, f"no file: send it in the form field {file_field!r} (curl -F {file_field}=@FILE)")
    filename = form.fields.pop("filename", None) or form.filename
    return Upload(path, _label(filename, f"upload{suffix}"), _clean(dict(form.fields)), form.size)


@asynccontextmanager
async def receive_upload(request: Request, file_field: str, suffix: str, limits: ApiLimits) -> AsyncIterator[Upload]:
    """The request's file on disk (deleted afterwards) and its option fields, or an ApiError
    (400 bad body, 413 too large, 415 neither JSON nor a multipart form)."""
    content_type = request.headers.get("content-type", "")
    kind, options = _multipart().parse_options_header(content_type)
    kind = kind.decode("latin-1").lower() if isinstance(kind, bytes) else str(kind).lower()
    multipart = kind == "multipart/form-data"
    if not multipart and kind != "application/json":
        raise ApiError(415, f"send application/json (the file in base64 in {file_field!r}) or multipart/form-data, "
                            f"not {content_type or 'no Content-Type'}")
    declared = request.headers.get("content-length", "")
    limit = limits.max_upload_bytes + FIELDS_SLACK if multipart else limits.json_body_limit()
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limits, int(declared))
    if multipart:
        boundary = options.get(b"boundary")
        if not boundary:
            raise ApiError(400, "multipart/form-data without a boundary")
        upload = await _read_multipart(request, boundary, file_field, suffix, limits)
    else:
        upload = await _read_json(request, file_field, suffix, limits)
    try:
        yield upload
    finally:
        upload.path.unlink(missing_ok=True)
