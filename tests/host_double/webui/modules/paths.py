"""A1111's `modules.paths`: re-exports the folders extensions read (`models_path` above all)."""

from modules.paths_internal import data_path, extensions_builtin_dir, extensions_dir, models_path, script_path

__all__ = ["data_path", "extensions_builtin_dir", "extensions_dir", "models_path", "script_path"]
