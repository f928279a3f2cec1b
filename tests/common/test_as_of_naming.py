"""The as-of instant has one name and one type: a parameter or field named `as_of` is a zone-aware
`datetime` (00:00 of a platform day: common.clock.day_start), its day is `as_of_day: date`, and
`cutoff` is left to the domain's meaning (a campaign's `closes_at`), never the as-of instant. At the
wire edge (a CLI option, an API query parameter or JSON field) `as_of` is DESIGN.md's text, parsed
there."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "recsys", "aggregation", "pipelines", "api")
EXPECTED = {"as_of": ("datetime", "str", "Annotated[str"), "as_of_day": ("date",)}


def _annotated_names(tree: ast.AST):
    """(name, annotation source, line) of every annotated argument and class-level field."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
                if a.annotation is not None:
                    yield a.arg, ast.unparse(a.annotation), a.lineno
        elif isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                    yield stmt.target.id, ast.unparse(stmt.annotation), stmt.lineno


def _is(annotation: str, expected: str) -> bool:
    """`annotation` is `expected`, optionally `| None` (an `Annotated[str` prefix: a wire option)."""
    if expected.endswith("["):
        return annotation.startswith(expected)
    return annotation == expected or annotation.startswith(f"{expected} |")


def test_as_of_is_a_datetime_and_as_of_day_a_date_everywhere():
    wrong = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for name, annotation, line in _annotated_names(tree):
                rel = f"{path.relative_to(ROOT)}:{line}"
                if name == "cutoff" and annotation.startswith(("datetime", "date")):
                    wrong.append(f"{rel}: `cutoff: {annotation}` (the as-of instant is `as_of`)")
                elif name in EXPECTED and not any(_is(annotation, t) for t in EXPECTED[name]):
                    wrong.append(f"{rel}: `{name}: {annotation}`, expected {' or '.join(EXPECTED[name])}")
    assert not wrong, "\n".join(wrong)
