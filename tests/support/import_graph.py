"""The import graph of a source tree, read with `ast` (nothing is imported), and the layer
rules of docs/layout.md checked against it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Lowest first: a module may import from its own layer or any layer below it, never above.
LAYERS: list[tuple[str, ...]] = [
    ("chatstate.errors", "chatstate.ports", "chatstate.http", "chatstate.logs"),
    ("chatstate.state",),
    ("chatstate.chat", "chatstate.platforms"),
    ("chatstate.conversations", "chatstate.config"),
    ("chatstate.routes",),
    ("chatstate.compose",),
    (
        "chatstate.local",
        "chatstate.cloudflare",
        "chatstate.project",
        "chatstate.testing",
        "chatstate.__main__",
    ),
]
RUNTIME_ONLY = {"js", "pyodide", "workers"}
CLOUDFLARE_GLUE = "chatstate.cloudflare"


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(root: Path) -> Iterator[Import]:
    """Every import of every module under `root`, those in functions and TYPE_CHECKING blocks
    included; `from a import b` counts as importing `a.b` when `a/b.py` or `a/b/` exists."""
    for path in sorted(root.rglob("*.py")):
        importer = module_name(root, path)
        package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(importer, alias.name, node.lineno)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    as_path = root.joinpath(*candidate.split("."))
                    is_module = as_path.with_suffix(".py").is_file() or as_path.is_dir()
                    yield Import(importer, candidate if is_module else base, node.lineno)


def layer_of(module: str) -> int | None:
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None


def violations(root: Path) -> list[str]:
    """Each import that breaks a layer rule, as `importer:line imports imported (why)`."""
    found = []
    for edge in imports(root):
        where = f"{edge.importer}:{edge.line} imports {edge.imported}"
        top_level = edge.imported.split(".")[0]
        if top_level in RUNTIME_ONLY and not edge.importer.startswith(CLOUDFLARE_GLUE):
            found.append(f"{where} (only {CLOUDFLARE_GLUE} may touch the Workers runtime)")
        low, high = layer_of(edge.imported), layer_of(edge.importer)
        if low is not None and high is not None and low > high:
            found.append(f"{where} (a lower layer imports a higher one)")
    return found


def cycles(root: Path) -> list[list[str]]:
    """Import cycles between modules (strongly connected components of more than one)."""
    graph: dict[str, set[str]] = {}
    for edge in imports(root):
        graph.setdefault(edge.importer, set())
        if edge.imported != edge.importer:
            graph[edge.importer].add(edge.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph.get(node, ()):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found
