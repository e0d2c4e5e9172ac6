"""Stand-in for ControlNet <= 1.1.443's `scripts/global_state.py`: the name -> function registry,
the unload functions, the UI's preprocessor list and the Control Type filter (a substring match of
the name, with aliases, and SD-version filtering by the name: "xl" means SDXL-only)."""

from scripts import processor

cn_preprocessor_modules = {
    "none": lambda x, *args, **kwargs: (x, True),
    "depth": processor.midas,
}
cn_preprocessor_unloadable = {"depth": processor.unload_midas}
preprocessor_aliases = {"depth": "depth_midas"}
ui_preprocessor_keys = ["none"]
ui_preprocessor_keys += sorted(
    preprocessor_aliases.get(k, k)
    for k in cn_preprocessor_modules
    if preprocessor_aliases.get(k, k) not in ui_preprocessor_keys
)
reverse_preprocessor_aliases = {v: k for k, v in preprocessor_aliases.items()}


def get_module_basename(module):
    if module is None:
        module = "none"
    return reverse_preprocessor_aliases.get(module, module)


def cache_preprocessors(preprocessor_modules):
    """ControlNet wraps every function in one shared LRU cache (keyed by name); identity here."""
    return dict(preprocessor_modules)


def select_control_type(control_type):
    pattern = control_type.lower()
    if pattern == "all":
        return list(ui_preprocessor_keys)
    aliases = processor.preprocessor_filters_aliases.get(pattern, [])
    return [
        x
        for x in ui_preprocessor_keys
        if (pattern in x.lower() or any(a in x.lower() for a in aliases) or x.lower() == "none")
        and "xl" not in x.lower()
    ]
