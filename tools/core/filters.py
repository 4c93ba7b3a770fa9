"""Typed search filters compiled into escaped Milvus expressions.

Milvus Lite has no filter parameters, so every value is rendered as a literal here
and user text never reaches the expression unescaped.

A filter is a mapping from field to condition:

    {"source": "docs/a.md"}                     equality
    {"lang": ["en", "de"]}                      membership
    {"page": {"$gte": 2, "$lt": 5}}             ranges
    {"source": {"$ne": "x"}, "draft": False}    several fields: all must hold

`source`, `chunk_index` and `id` are columns; any other key is a metadata field.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict

from .errors import FilterError
from .vocabulary import FilterSpec, Scalar

COLUMNS = frozenset({"id", "source", "chunk_index"})
_COLUMN_TYPES: dict[str, tuple[type, ...]] = {"id": (str,), "source": (str,), "chunk_index": (int,)}
# Milvus string literals take these escapes and no others (not \uXXXX, which json.dumps
# writes for control characters); every other character may stand as it is.
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"})
_OPERATORS = {
    "$eq": "==",
    "$ne": "!=",
    "$gt": ">",
    "$gte": ">=",
    "$lt": "<",
    "$lte": "<=",
    "$in": "in",
    "$nin": "not in",
}

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-.]{0,127}$")


def literal(value: Any) -> str:
    """Render one scalar as a Milvus literal; strings are quoted and escaped."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise FilterError(f"filter value {value} does not fit a 64-bit integer, as "
                              "Milvus stores whole numbers")
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FilterError(f"filter value {value!r} is not a finite number")
        return repr(value)
    if isinstance(value, str):
        return f'"{value.translate(_ESCAPES)}"'
    raise FilterError(
        f"filter value {value!r} has type {type(value).__name__}: use a string, number or bool"
    )


def _field(key: str) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise FilterError(
            f"filter key {key!r} is invalid: use letters, digits, '_', '-' or '.', "
            "starting with a letter"
        )
    return key if key in COLUMNS else f"metadata[{json.dumps(key)}]"


def _typed(key: str, value: Any) -> Any:
    """`value`, checked against the type of column `key` (metadata fields take any)."""
    expected = _COLUMN_TYPES.get(key)
    if expected and (not isinstance(value, expected) or isinstance(value, bool)):
        kind = "a whole number" if expected == (int,) else "text"
        raise FilterError(f"filter on {key!r}: {value!r} is not {kind}; {key!r} holds {kind}")
    return value


def _condition(key: str, condition: Any) -> list[str]:
    field = _field(key)
    if isinstance(condition, Mapping):
        if not condition:
            raise FilterError(f"filter on {key!r} has no operator")
        clauses = []
        for op, value in condition.items():
            if op not in _OPERATORS:
                raise FilterError(
                    f"filter on {key!r}: unknown operator {op!r}; use one of "
                    + ", ".join(_OPERATORS)
                )
            if op in ("$in", "$nin"):
                clauses.append(_membership(key, field, value, negate=op == "$nin"))
            else:
                clauses.append(f"{field} {_OPERATORS[op]} {literal(_typed(key, value))}")
        return clauses
    if isinstance(condition, (list, tuple)):
        return [_membership(key, field, condition, negate=False)]
    return [f"{field} == {literal(_typed(key, condition))}"]


def _membership(key: str, field: str, values: Any, *, negate: bool) -> str:
    """`in` for columns; Milvus takes no `in` on JSON paths, so those become `or` chains."""
    if not isinstance(values, (list, tuple)) or not values:
        raise FilterError(f"filter on {key!r}: membership needs a non-empty list of values")
    if key in COLUMNS:
        rendered = ", ".join(literal(_typed(key, v)) for v in values)
        return f"{field} {'not in' if negate else 'in'} [{rendered}]"
    if negate:
        return " and ".join(f"{field} != {literal(v)}" for v in values)
    return " or ".join(f"{field} == {literal(v)}" for v in values)


def compile_filter(spec: FilterSpec | None) -> str:
    """Compile a filter mapping into a Milvus boolean expression ('' for no filter)."""
    if not spec:
        return ""
    if not isinstance(spec, Mapping):
        raise FilterError(f"a filter must be a mapping of field to condition, not {spec!r}")
    clauses = [clause for key, cond in spec.items() for clause in _condition(key, cond)]
    return " and ".join(f"({c})" for c in clauses)


_CLOSING = {")": "(", "]": "["}


def checked_expression(expr: str) -> str:
    """`expr` if its brackets balance and its strings end, outside string literals; else a
    `FilterError`. A balanced expression put in parentheses stays inside them, so a
    condition joined to it with `and` (a tenant's) holds whatever the text says."""
    open_brackets: list[str] = []
    quote: str | None = None
    escaped = False
    for position, char in enumerate(expr):
        if quote is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char in "([":
            open_brackets.append(char)
        elif char in _CLOSING:
            if not open_brackets or open_brackets.pop() != _CLOSING[char]:
                raise FilterError(f"raw filter {expr!r}: {char!r} at {position} closes "
                                  "nothing opened in the filter")
    if quote is not None or open_brackets:
        what = "a string" if quote is not None else f"{open_brackets[-1]!r}"
        raise FilterError(f"raw filter {expr!r}: {what} is never closed")
    return expr


class FilterClause(BaseModel):
    """One condition on a field; a model fills these in even under strict tool schemas,
    where a free-form object could only be `{}`."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    field: str
    """'source', 'chunk_index', or a metadata field such as 'lang' or 'page'."""
    op: Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]
    """How the field compares to the value; 'in' and 'nin' take a list."""
    value: Union[Scalar, list[Scalar]]
    """The value, or the list of values for 'in' and 'nin'."""


def as_filter_spec(clauses: list[FilterClause] | FilterSpec | None) -> FilterSpec | None:
    """Filter clauses (or a filter mapping, as in Python) as a filter mapping."""
    if not isinstance(clauses, list):
        return clauses
    spec: dict[str, dict[str, Any]] = {}
    for clause in clauses:
        clause = FilterClause.model_validate(clause)
        spec.setdefault(clause.field, {})[f"${clause.op}"] = clause.value
    return spec
