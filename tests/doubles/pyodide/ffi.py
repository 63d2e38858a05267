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


def to_js(obj: Any) -> Any:
    return JsArray(obj) if isinstance(obj, list) else obj
