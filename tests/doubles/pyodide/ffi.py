"""`pyodide.ffi` as workerd presents it to the glue: create_proxy and the proxies it makes.

A proxy keeps its Python object reachable from JavaScript until destroy() is called; using a
destroyed proxy fails the way Pyodide does.
"""

from __future__ import annotations

from typing import Any

DESTROYED = (
    "This borrowed proxy was automatically destroyed at the end of a function call. "
    "Try using create_proxy or create_once_callable."
)


class JsException(Exception):
    """An error raised by JavaScript, as Python sees it."""


class PyProxy:
    def __init__(self, target: Any) -> None:
        self._target: Any = target
        self.destroyed = False

    def unwrap(self) -> Any:
        if self.destroyed:
            raise JsException(f"Error: {DESTROYED}")
        return self._target

    def destroy(self) -> None:
        self.destroyed = True
        self._target = None


def create_proxy(obj: Any) -> PyProxy:
    return PyProxy(obj)


class JsArray(list):  # type: ignore[type-arg]
    """What to_js makes of a list: a JS Array, which JS APIs that take arrays insist on."""


class JsMap(dict):  # type: ignore[type-arg]
    """What to_js makes of a dict by default: a JS Map, which JS APIs reading plain objects
    (options bags such as env.AI.run's) do not take."""


def to_js(obj: Any, dict_converter: Any = None) -> Any:
    """Recursive, as Pyodide's: lists become Arrays, dicts Maps, or what dict_converter makes
    of their entries (js.Object.fromEntries: plain objects)."""
    if isinstance(obj, list | tuple):
        return JsArray(to_js(item, dict_converter) for item in obj)
    if isinstance(obj, dict):
        entries = [(key, to_js(value, dict_converter)) for key, value in obj.items()]
        return JsMap(entries) if dict_converter is None else dict_converter(entries)
    return obj
