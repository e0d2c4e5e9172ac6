"""Events wired by name: what the tabs' handlers see instead of gradio's positional lists.

A handler takes its inputs' values as one dict keyed by name and returns its updates keyed by the
names of the components they go to, so adding a component or a control moves no position anywhere.
Gradio sees its own keyed forms, which 3.41 and 4.x both have: the inputs as a set (the function
gets one dict keyed by component) and a dict return keyed by component (the outputs not in it are
left as they are). `Wiring` translates between the two, once per event.

Every event goes through one `Wiring` method per kind of work (`preview`, `load`, `work`), so
the options of a kind (queueing, concurrency) are set in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

#: A handler's inputs: component name -> value.
Values = Mapping[str, Any]
#: A handler's outputs: component name -> new value (or a `gr.update`); names it leaves out stay as they are.
Updates = dict[str, Any]
#: Components by the names handlers use for them.
Named = Mapping[str, Any]


@dataclass(frozen=True)
class Wired:
    """One wired event, kept for the tests (which check that handlers answer what is wired)."""

    handler: Callable[..., Updates]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass
class Wiring:
    """A tab's events. `options`: the keywords every event of the tab gets (`compat.sequential`);
    `preview_options`: those of its previews instead (`compat.quick`: off the queue), if given."""

    options: dict[str, Any]
    preview_options: dict[str, Any] | None = None
    wired: list[Wired] = field(default_factory=list)

    def preview(self, trigger: Callable[..., Any], handler: Callable[..., Updates], inputs: Named,
                outputs: Named) -> None:
        """Cheap re-renders of what is loaded: a control edited, a frame."""
        options = self.options if self.preview_options is None else self.preview_options
        self._listen(trigger, handler, inputs, outputs, _plain, options)

    def load(self, trigger: Callable[..., Any], handler: Callable[..., Updates], inputs: Named,
             outputs: Named) -> None:
        """Reading files: an upload, another file, channel or view, a server folder."""
        self._listen(trigger, handler, inputs, outputs, _plain, self.options)

    def work(self, trigger: Callable[..., Any], handler: Callable[..., Updates], inputs: Named,
             outputs: Named) -> None:
        """Long work (Make, MiDaS): queued, with gradio's progress bar handed to the handler as
        `progress` (the host's Interrupt is the handler's business)."""
        self._listen(trigger, handler, inputs, outputs, _with_progress, self.options)

    def _listen(self, trigger: Callable[..., Any], handler: Callable[..., Updates], inputs: Named, outputs: Named,
                adapt: Callable[..., Callable[..., Any]], options: dict[str, Any]) -> None:
        names = {component: name for name, component in inputs.items()}
        if len(names) != len(inputs):
            raise ValueError(f"{handler.__name__}: one component under two names in {sorted(inputs)}")
        targets = dict(outputs)

        def named(values: Mapping[Any, Any]) -> dict[str, Any]:
            return {names[component]: value for component, value in values.items()}

        def keyed(updates: Updates) -> dict[Any, Any]:
            unknown = sorted(set(updates) - set(targets))
            if unknown:
                raise KeyError(f"{handler.__name__} answers {unknown}, which are not its outputs {sorted(targets)}")
            return {targets[name]: updates.get(name, gr.update()) for name in targets}

        event = adapt(handler, named, keyed)
        event.__name__ = getattr(handler, "__name__", event.__name__)  # gradio's API names and the tests read it
        trigger(event, set(inputs.values()), list(targets.values()), **options)
        self.wired.append(Wired(handler, tuple(inputs), tuple(targets)))


# Gradio hands a function its extras by looking at its signature (one whose default is a
# Progress), so each kind of handler has its own adapter.

def _plain(handler: Callable[..., Updates], named: Callable, keyed: Callable) -> Callable[..., Any]:
    def event(values: dict) -> dict:
        return keyed(handler(named(values)))

    return event


def _with_progress(handler: Callable[..., Updates], named: Callable, keyed: Callable) -> Callable[..., Any]:
    def event(values: dict, progress: Any = gr.Progress()) -> dict:  # noqa: B008 - gradio's way to ask for one
        return keyed(handler(named(values), progress=progress))

    return event


def pick(source: object, *names: str) -> dict[str, Any]:
    """`{name: source.<name>}`: a tab's components by their attribute names."""
    return {name: getattr(source, name) for name in names}
