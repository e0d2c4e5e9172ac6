"""Stand-in for A1111's `modules/safe.py`: importing it replaces `torch.load` with a checking loader.

Behaviour reproduced (the WebUI's, as read from its source): before loading, the file is verified.
A zip checkpoint may only hold `<dir>/data.pkl`, `<dir>/version` and `<dir>/data/<n>` — so files
saved by recent torch, which add `.format_version`, `byteorder`, `.data/serialization_id`, are
rejected — and its pickle may only name a short list of globals. An old-style (non-zip) file must
hold five pickles with those globals. On rejection the loader prints a report and returns None
(it does not raise); `--disable-safe-unpickle` skips the check. `unsafe_torch_load` is the original.
"""

import collections
import pickle
import re
import zipfile

import numpy
import torch

from modules import errors, shared

_TORCH_TYPES = {
    "FloatStorage",
    "HalfStorage",
    "IntStorage",
    "LongStorage",
    "DoubleStorage",
    "ByteStorage",
    "float32",
    "BFloat16Storage",
}
_ALLOWED = {
    ("collections", "OrderedDict"): lambda: collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): lambda: torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): lambda: torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_device_tensor_from_numpy"): lambda: torch._utils._rebuild_device_tensor_from_numpy,
    ("torch.nn.modules.container", "ParameterDict"): lambda: torch.nn.modules.container.ParameterDict,
    ("numpy.core.multiarray", "scalar"): lambda: numpy.core.multiarray.scalar,
    ("numpy.core.multiarray", "_reconstruct"): lambda: numpy.core.multiarray._reconstruct,
    ("numpy", "dtype"): lambda: numpy.dtype,
    ("numpy", "ndarray"): lambda: numpy.ndarray,
    ("__builtin__", "set"): lambda: set,
}
_ZIP_ENTRY = re.compile(r"^[^/]+/(data\.pkl|version|data/\d+)$")
_DATA_PKL = re.compile(r"^[^/]+/data\.pkl$")


class _Checker(pickle.Unpickler):
    """Walks a pickle without building tensors; any global outside the list is refused."""

    def persistent_load(self, pid):
        return torch.storage.TypedStorage(_internal=True)

    def find_class(self, module, name):
        if module == "torch" and name in _TORCH_TYPES:
            return getattr(torch, name)
        getter = _ALLOWED.get((module, name))
        if getter is not None:
            return getter()
        raise Exception(f"global '{module}/{name}' is forbidden")


def check_pt(filename):
    try:
        with zipfile.ZipFile(filename) as archive:
            names = archive.namelist()
            for name in names:
                if not _ZIP_ENTRY.match(name):
                    raise Exception(f"bad file inside {filename}: {name}")
            pickles = [n for n in names if _DATA_PKL.match(n)]
            if len(pickles) != 1:
                raise Exception(f"expected one data.pkl in {filename}, found {len(pickles)}")
            with archive.open(pickles[0]) as file:
                _Checker(file).load()
    except zipfile.BadZipFile:
        with open(filename, "rb") as file:
            checker = _Checker(file)
            for _ in range(5):
                checker.load()


def load(filename, *args, **kwargs):
    try:
        if not shared.cmd_opts.disable_safe_unpickle:
            check_pt(filename)
    except pickle.UnpicklingError:
        errors.report(
            f"Error verifying pickled file from {filename}\n"
            "-----> !!!! The file is most likely corrupted !!!! <-----\n"
            "You can skip this check with --disable-safe-unpickle commandline argument, "
            "but that is not going to help you.\n",
            exc_info=True,
        )
        return None
    except Exception:
        errors.report(
            f"Error verifying pickled file from {filename}\n"
            "The file may be malicious, so the program is not going to read it.\n"
            "You can skip this check with --disable-safe-unpickle commandline argument.\n",
            exc_info=True,
        )
        return None
    return unsafe_torch_load(filename, *args, **kwargs)


unsafe_torch_load = torch.load
torch.load = load
