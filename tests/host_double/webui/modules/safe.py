"""Stand-in for A1111's `modules/safe.py` (v1.10.1, commit 82a973c0): importing it wraps `torch.load`.

What it reproduces, as the source does it: `unsafe_torch_load = torch.load; torch.load = load` at
the end of the module. `load` -> `load_with_extra`: unless `--disable-safe-unpickle`, `check_pt`
verifies the file first, and on any failure prints a report through `errors.report` and returns
None (it does not raise). `check_pt`: a zip checkpoint may hold only the member names matched by
`allowed_zip_names_re` (copied below: `<dir>/data/<n>`, `version`, `byteorder`,
`.data/serialization_id`, `data.pkl`), so the `<dir>/.format_version` and `<dir>/.storage_alignment`
that torch 2.13's `torch.save` writes make a valid file "bad file inside ..."; then its one
`data.pkl` is walked by `RestrictedUnpickler`, which allows a short list of globals. A non-zip file
must be five pickles with those globals. Left out: `extra_handler`/`Extra` and the
pytorch_lightning names, which nothing of ours uses. Forge keeps this module but leaves
`torch.load` alone (`# torch.load = load  <- Forge do not need it!`).
"""

import _codecs
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
    ("_codecs", "encode"): lambda: _codecs.encode,
    ("__builtin__", "set"): lambda: set,
}
# the WebUI's own expression, character for character (its unescaped "." matches any character)
allowed_zip_names_re = re.compile(r"^([^/]+)/((data/\d+)|version|byteorder|.data/serialization_id|(data\.pkl))$")
data_pkl_re = re.compile(r"^([^/]+)/data\.pkl$")


class RestrictedUnpickler(pickle.Unpickler):
    """Walks a pickle without building tensors; any global outside the list is refused."""

    def persistent_load(self, saved_id):
        assert saved_id[0] == "storage"
        return torch.storage.TypedStorage(_internal=True)

    def find_class(self, module, name):
        if module == "torch" and name in _TORCH_TYPES:
            return getattr(torch, name)
        getter = _ALLOWED.get((module, name))
        if getter is not None:
            return getter()
        raise Exception(f"global '{module}/{name}' is forbidden")


def check_zip_filenames(filename, names):
    for name in names:
        if not allowed_zip_names_re.match(name):
            raise Exception(f"bad file inside {filename}: {name}")


def check_pt(filename):
    try:
        with zipfile.ZipFile(filename) as archive:
            check_zip_filenames(filename, archive.namelist())
            pickles = [n for n in archive.namelist() if data_pkl_re.match(n)]
            if len(pickles) == 0:
                raise Exception(f"data.pkl not found in {filename}")
            if len(pickles) > 1:
                raise Exception(f"Multiple data.pkl found in {filename}")
            with archive.open(pickles[0]) as file:
                RestrictedUnpickler(file).load()
    except zipfile.BadZipfile:
        with open(filename, "rb") as file:
            unpickler = RestrictedUnpickler(file)
            for _ in range(5):
                unpickler.load()


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
