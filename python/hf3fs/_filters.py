"""pyarrow's DNF filters (``[(column, op, value), ...]``) checked and built as ``_Filter`` trees."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._hf3fs import _Filter

_CMP_OPS = ("==", "=", "!=", "<", "<=", ">", ">=")


def _filter_term(term: Any) -> _Filter:
    if not isinstance(term, (tuple, list)) or len(term) not in (2, 3):
        raise ValueError(
            f"filter: expected (column, op, value) or (column, 'is_null'), got {term!r}"
        )
    column, op = term[0], term[1]
    if not isinstance(column, str):
        raise ValueError(f"filter: the column name must be a string, got {column!r}")
    if len(term) == 2 or op in ("is_null", "is_not_null"):
        if op not in ("is_null", "is_not_null"):
            raise ValueError(f"filter: operator {op!r} needs a value")
        negated = op == "is_not_null"
        if len(term) == 3:
            negated = negated != (not bool(term[2]))
        return _Filter.isnull(column, negated)
    value = term[2]
    if op in ("in", "not in"):
        if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, set, frozenset)):
            raise ValueError(f"filter on column {column!r}: {op!r} needs a list of values")
        return _Filter.isin(column, list(value), op == "not in")
    if op not in _CMP_OPS:
        raise ValueError(f"filter on column {column!r}: unknown operator {op!r}")
    if value is None:
        raise ValueError(f"filter on column {column!r}: compare with None using 'is_null'")
    return _Filter.compare(column, op, value)


def normalize_filter(filter: Any) -> _Filter | None:
    """pyarrow's DNF (a list of terms, or a list of lists of terms) as a filter tree."""
    if filter is None:
        return None
    if isinstance(filter, tuple):
        return _Filter.all([_filter_term(filter)])
    if not isinstance(filter, list) or not filter:
        raise ValueError(
            f"filter: expected a non-empty list of (column, op, value) terms, got {filter!r}"
        )
    if all(isinstance(t, list) for t in filter):
        return _Filter.any([_Filter.all([_filter_term(t) for t in conj]) for conj in filter])
    return _Filter.all([_filter_term(t) for t in filter])
