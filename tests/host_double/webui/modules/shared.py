"""A1111's `modules.shared`: the objects extensions read (options, command-line flags, job state)."""

import argparse

from modules import options, paths
from modules.options import OptionInfo

__all__ = ["OptionInfo", "cmd_opts", "data_path", "models_path", "opts", "state"]

#: The flags extensions read; a real WebUI has many more (ControlNet's preload adds its own).
cmd_opts = argparse.Namespace(
    lowvram=False,
    medvram=False,
    medvram_sdxl=False,
    use_cpu=[],
    listen=False,
    share=False,
    api=False,
    nowebui=False,
    api_auth=None,
    enable_insecure_extension_access=False,
    disable_safe_unpickle=False,
    skip_install=False,
)

opts = options.Options({}, set())
data_path = paths.data_path
models_path = paths.models_path
demo = None


class State:
    """The job state shown by the progress bar and `/sdapi/v1/progress`."""

    def __init__(self):
        self.job = ""
        self.job_no = 0
        self.job_count = 0
        self.textinfo = None
        self.interrupted = False
        self.skipped = False
        self.history: list[tuple[str, object]] = []  # for tests: what extensions reported

    def begin(self, job: str = "(unknown)"):
        self.job, self.job_no, self.job_count, self.interrupted = job, 0, 0, False
        self.history.append(("begin", job))

    def nextjob(self):
        self.job_no += 1
        self.history.append(("nextjob", self.textinfo))

    def interrupt(self):
        self.interrupted = True

    def end(self):
        self.job = ""
        self.job_count = 0
        self.history.append(("end", None))


state = State()
