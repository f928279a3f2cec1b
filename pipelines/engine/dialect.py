"""The stage definitions are written once, in DuckDB's SQL; this turns them into Spark SQL.

sqlglot does the transpiling (`read="duckdb", write="spark"`: QUALIFY becomes a filtered subquery,
`::` casts become CAST, struct literals become STRUCT(... AS name), window ORDER BY keeps DuckDB's
NULLS LAST, TIMESTAMPTZ becomes Spark's session-zoned TIMESTAMP). What sqlglot leaves as it found
it because Spark has no such function is rewritten here on the parsed tree, never on the text:

- `hash(a, b, ...)` (DuckDB: 64-bit) -> `xxhash64(a, b, ..., isnull(a), isnull(b), ...)`: Spark's
  `hash` is 32-bit, and its hashes skip NULL arguments, so without the null flags ('x', NULL) and
  (NULL, 'x') would hash alike;
- `json_object(k, v, ...)` -> `to_json(named_struct(k, v, ...))` (the session keeps null fields:
  `spark.sql.jsonGenerator.ignoreNullFields=false`, as DuckDB does);
- `regexp_full_match(x, p)` -> `x RLIKE '^(?:p)$'` (Spark's RLIKE finds, DuckDB's full-matches);
- `isfinite(x)` -> `NOT isnan(x) AND abs(x) < double('inf')`;
- `UBIGINT` (the type of a DuckDB hash) -> `BIGINT` (xxhash64's type).
"""

from __future__ import annotations

from functools import lru_cache

import sqlglot
from sqlglot import exp


def _call(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _spark_node(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Anonymous):
        name = str(node.this).lower()
        args = list(node.expressions)
        if name == "hash":
            flags = [_call("isnull", a.copy()) for a in args]
            return _call("xxhash64", *args, *flags)
        if name == "isfinite":
            (value,) = args
            infinity = _call("double", exp.Literal.string("inf"))
            return exp.and_(exp.not_(_call("isnan", value.copy())),
                            exp.LT(this=_call("abs", value.copy()), expression=infinity))
    if isinstance(node, exp.JSONObject):
        pairs: list[exp.Expression] = []
        for kv in node.expressions:
            pairs += [kv.this, kv.expression]
        return _call("to_json", _call("named_struct", *pairs))
    if isinstance(node, exp.RegexpFullMatch):
        pattern = node.expression
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            raise ValueError(f"regexp_full_match needs a literal pattern on Spark; got {pattern.sql()}")
        return exp.RegexpLike(this=node.this, expression=exp.Literal.string(f"^(?:{pattern.this})$"))
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.UBIGINT:
        return exp.DataType.build("BIGINT")
    return node


@lru_cache(maxsize=4096)
def to_spark(sql: str) -> str:
    """One DuckDB-dialect statement as Spark SQL (cached: a load runs the same text per table)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    return tree.transform(_spark_node).sql(dialect="spark")
