"""The tab's status line: what is loaded, what the map spans, and errors as readable messages.

HTML rather than Markdown: gradio 3 and 4 render Markdown differently (and mangle paths with
underscores); this looks the same in both. Everything user-supplied is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

#: Injected once into the tab (a <style> in an HTML block works in the WebUI, where a Blocks'
#: `css=` is ignored, and standalone alike). Colours are translucent so light and dark themes work.
STYLE = """
<style>
.dt-status { padding: 8px 12px; border-radius: 8px; border-left: 4px solid #3b82f6;
  background: rgba(59, 130, 246, 0.08); line-height: 1.55; font-size: 0.95em; overflow-wrap: anywhere; }
.dt-status.dt-error { border-left-color: #ef4444; background: rgba(239, 68, 68, 0.12); }
.dt-status.dt-done { border-left-color: #22c55e; background: rgba(34, 197, 94, 0.10); }
.dt-status.dt-hint { border-left-color: #9ca3af; background: rgba(156, 163, 175, 0.10); }
.dt-status code { padding: 0 4px; border-radius: 4px; background: rgba(127, 127, 127, 0.18); }
.dt-status ul { margin: 4px 0 0 1.2em; padding: 0; }
.dt-status .dt-sep { opacity: 0.45; margin: 0 6px; }
.dt-header { display: flex; gap: 10px; align-items: baseline; flex-wrap: wrap; margin: 0 0 2px 2px; }
.dt-header b { font-size: 1.1em; }
.dt-header span { opacity: 0.75; }
#depth_tools_cut_row { align-items: flex-end; }
#depth_tools_cut_row button { min-width: 0; }
#depth_tools_make, #depth_tools_midas_run { min-height: 42px; }
#depth_tools_exr_view_tag, #depth_tools_exr_sync, #depth_tools_midas_commit { display: none !important; }
/* gradio 3 grows an HTML block to 96 px while its event runs: the buttons below moved under the pointer */
#depth_tools_exr_status .min, #depth_tools_midas_status .min { min-height: 0; }
</style>
"""

SEP = '<span class="dt-sep">·</span>'


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def code(text: object) -> str:
    return f"<code>{esc(text)}</code>"


def _box(kind: str, body: str) -> str:
    return f'<div class="dt-status dt-{kind}">{body}</div>'


def info(parts: Iterable[str]) -> str:
    """Facts separated by dots; `parts` are already HTML (use esc/code on user text)."""
    return _box("info", SEP.join(parts))


def hint(text: str) -> str:
    return _box("hint", esc(text))


def done(parts: Iterable[str], items: Iterable[str] = ()) -> str:
    listed = "".join(f"<li>{item}</li>" for item in items)
    return _box("done", SEP.join(parts) + (f"<ul>{listed}</ul>" if listed else ""))


def error(message: object, items: Iterable[str] = ()) -> str:
    """A failure the user can act on; `items` (escaped here) list details, one per line."""
    lines = str(message).splitlines() or ["unknown error"]
    body = f"<b>Problem:</b> {esc(lines[0])}" + "".join(f"<br>{esc(line)}" for line in lines[1:])
    listed = "".join(f"<li>{esc(item)}</li>" for item in items)
    return _box("error", body + (f"<ul>{listed}</ul>" if listed else ""))


def header(title: str, subtitle: str) -> str:
    return STYLE + f'<div class="dt-header"><b>{esc(title)}</b><span>{esc(subtitle)}</span></div>'
