"""The layers hold: `recsys/` and `aggregation/` import only `common/` and libraries, `api/` never
imports `pipelines/`, `common/` imports none of the others, and no two files import each other,
directly or round a longer loop (imports inside functions count too: a lazy import is still a
dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("common", "recsys", "aggregation", "api", "pipelines")
ALLOWED = {
    "common": {"common"},
    "recsys": {"common", "recsys"},
    "aggregation": {"common", "aggregation"},
    "api": {"common", "api", "recsys", "aggregation"},
    "pipelines": set(PACKAGES),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """The repository modules a file imports (any depth in the file), resolved to module names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            if t.split(".")[0] not in PACKAGES:
                continue
            while t and t not in known:  # `from x import name`: the module x
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(path, name, known) for name, path in mods.items()}


def test_each_layer_imports_only_what_it_may(graph):
    wrong = [f"{m} imports {t}" for m, targets in sorted(graph.items()) for t in sorted(targets)
             if t.split(".")[0] not in ALLOWED[m.split(".")[0]]]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles_between_files(graph):
    # a package's __init__ importing its own modules is not a loop between files
    edges = {m: {t for t in ts if not (m.endswith(("__init__",)) or t == m.rpartition(".")[0])}
             for m, ts in graph.items()}
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)
