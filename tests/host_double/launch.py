"""Stand-in for the WebUI's `launch` module as `install.py` sees it (A1111 1.10 launch_utils):
`is_installed(package)` and `run_pip(command, desc)`. Calls are recorded, nothing is installed."""

import importlib.metadata
import importlib.util

pip_calls: list[tuple[str, str | None]] = []


def is_installed(package):
    try:
        importlib.metadata.distribution(package)
        return True
    except importlib.metadata.PackageNotFoundError:
        try:
            return importlib.util.find_spec(package) is not None
        except ModuleNotFoundError:
            return False


def run_pip(command, desc=None, live=False):
    pip_calls.append((command, desc))
    print(f"Installing {desc}")
    return ""
