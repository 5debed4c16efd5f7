"""Import circles between hbiview's modules: every import, module-level or inside a function.

Walks ``src/hbiview`` with :mod:`ast` (nothing is imported or run), draws an edge from a module to each
hbiview module it imports (``from hbiview.a import b`` points at ``hbiview.a.b`` when that is a module, else
at ``hbiview.a``; imports under ``if TYPE_CHECKING:`` are left out, they never run), and prints the strongly
connected components of more than one module (the import circles) with one shortest circle through each.

Usage: ``python tools/import_cycles.py [--quiet]``; exit status 0, the count on the last line.
"""

from __future__ import annotations

import ast
import sys
from collections import deque
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


def modules(src: Path = SRC) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under ``src/hbiview``."""
    out = {}
    for path in sorted((src / "hbiview").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The hbiview modules that module ``name`` imports anywhere in its body (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def target(dotted: str) -> None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        if dotted and dotted != name:
            found.add(dotted)

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                target(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                target(full if full in known else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m.startswith("hbiview")}


def graph(src: Path = SRC) -> dict[str, set[str]]:
    """Module -> the modules it imports."""
    known = modules(src)
    return {name: imports(name, path, known) for name, path in known.items()}


def components(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    sys.setrecursionlimit(10000)

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return sorted(out, key=lambda c: (-len(c), c))


def shortest_circle(edges: dict[str, set[str]], start: str, members: set[str]) -> list[str]:
    """A shortest circle from ``start`` back to it inside one component (breadth first)."""
    prev: dict[str, str] = {}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(edges[v] & members):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return [start, *reversed(path[:-1]), start] if v != start else [start, start]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return []


def pairs(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Modules that import each other directly (a circle of two)."""
    return sorted((a, b) for a in edges for b in edges[a] if a < b and a in edges.get(b, ()))


def main(argv: list[str]) -> int:
    """Print the circles (``--quiet``: only the count line)."""
    edges = graph()
    comps = components(edges)
    if "--quiet" not in argv:
        for comp in comps:
            members = set(comp)
            print(f"{len(comp)} modules: {', '.join(comp)}")
            print("  e.g. " + " -> ".join(shortest_circle(edges, comp[0], members)))
        for a, b in pairs(edges):
            print(f"mutual: {a} <-> {b}")
    count = sum(map(len, comps))
    print(f"{len(comps)} import circles (components) over {count} modules; {len(pairs(edges))} mutual pairs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
