"""A1111's `modules.devices`: the device per task (honouring --use-cpu) and `torch_gc()`."""

import gc

from modules import shared

gc_calls = 0  # for tests: how often extensions asked for memory back


def get_optimal_device():
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def get_device_for(task):
    import torch

    if task in shared.cmd_opts.use_cpu or "all" in shared.cmd_opts.use_cpu:
        return torch.device("cpu")
    return get_optimal_device()


def torch_gc():
    global gc_calls
    gc_calls += 1
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
