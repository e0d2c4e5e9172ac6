"""A1111's `modules.script_callbacks`, for the callbacks Depth Tools and ControlNet use.

As in the WebUI, a failing callback is reported and skipped, never raised; `errors` keeps the
reports so tests can assert that there were none.
"""

import sys
import traceback

callback_map: dict[str, list] = {
    "callbacks_ui_tabs": [],
    "callbacks_ui_settings": [],
    "callbacks_before_ui": [],
    "callbacks_app_started": [],
}
errors: list[str] = []


def clear_callbacks():
    for callbacks in callback_map.values():
        callbacks.clear()


def _report(kind, callback):
    message = f"Error executing callback {kind} for {getattr(callback, '__qualname__', callback)}"
    errors.append(message + "\n" + traceback.format_exc())
    print(message, file=sys.stderr)
    print(traceback.format_exc(), file=sys.stderr)


def on_ui_tabs(callback):
    callback_map["callbacks_ui_tabs"].append(callback)


def on_ui_settings(callback):
    callback_map["callbacks_ui_settings"].append(callback)


def on_before_ui(callback):
    callback_map["callbacks_before_ui"].append(callback)


def on_app_started(callback):
    callback_map["callbacks_app_started"].append(callback)


def ui_tabs_callback():
    res = []
    for callback in callback_map["callbacks_ui_tabs"]:
        try:
            res += callback() or []
        except Exception:
            _report("ui_tabs_callback", callback)
    return res


def ui_settings_callback():
    for callback in callback_map["callbacks_ui_settings"]:
        try:
            callback()
        except Exception:
            _report("ui_settings_callback", callback)


def before_ui_callback():
    for callback in callback_map["callbacks_before_ui"]:
        try:
            callback()
        except Exception:
            _report("before_ui_callback", callback)


def app_started_callback(demo, app):
    for callback in callback_map["callbacks_app_started"]:
        try:
            callback(demo, app)
        except Exception:
            _report("app_started_callback", callback)
