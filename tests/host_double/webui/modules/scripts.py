"""A1111's script loading: callbacks cleared, then every extension's `scripts/*.py` executed with
that extension's root on `sys.path` only while the file runs (Forge/reForge keep it there)."""

import os
import sys
import traceback

from modules import script_callbacks, script_loading

loaded: list[str] = []
load_errors: list[str] = []


def list_scripts(extension_dirs):
    found = []
    for basedir in extension_dirs:
        folder = os.path.join(basedir, "scripts")
        if not os.path.isdir(folder):
            continue
        for filename in sorted(os.listdir(folder)):
            path = os.path.join(folder, filename)
            if os.path.splitext(path)[1].lower() == ".py" and os.path.isfile(path):
                found.append((basedir, path))
    return found


def load_scripts(extension_dirs, keep_on_path=False):
    """`keep_on_path=True` is Forge's behaviour (every extension root stays on sys.path)."""
    script_callbacks.clear_callbacks()
    syspath = sys.path
    for basedir, path in list_scripts(extension_dirs):
        try:
            sys.path = [basedir, *sys.path]
            script_loading.load_module(path)
            loaded.append(path)
        except Exception:
            load_errors.append(f"Error loading script: {path}\n{traceback.format_exc()}")
            print(load_errors[-1], file=sys.stderr)
        finally:
            if not keep_on_path:
                sys.path = syspath
