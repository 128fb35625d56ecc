"""Value semantics for pplmle's results: equality of nested numerical data.

A result is compared field by field: NumPy arrays by shape and content (NaN equal to NaN),
pandas objects with ``.equals``, xarray objects with ``.identical``, mappings and sequences
element by element.  (How a result carries its ``pm.Model`` through the standard pickle is the
PyMC layer's business: :func:`pplmle.pymc.engine.portable`.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


def values_equal(a: Any, b: Any) -> bool:
    """Whether two (nested) values are equal, with NaN equal to NaN."""
    if a is b:
        return True
    pandas = (pd.DataFrame, pd.Series, pd.Index)
    if isinstance(a, pandas) or isinstance(b, pandas):
        return type(a) is type(b) and bool(a.equals(b))
    if hasattr(a, "identical") and hasattr(b, "identical"):  # xarray objects
        return type(a) is type(b) and bool(a.identical(b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        x, y = np.asarray(a), np.asarray(b)
        if x.shape != y.shape:
            return False
        if "O" in (x.dtype.kind, y.dtype.kind):
            return all(map(values_equal, x.ravel().tolist(), y.ravel().tolist()))
        if x.dtype.kind in "fc" or y.dtype.kind in "fc":
            return bool(np.array_equal(x, y, equal_nan=True))
        return bool(np.array_equal(x, y))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(values_equal, a, b))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (np.isnan(a) and np.isnan(b))
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and fields_equal(a, b)
    return bool(a == b)


def fields_equal(a: Any, b: Any) -> bool:
    """Whether two dataclass instances have equal comparable fields (``field(compare=True)``)."""
    return all(
        values_equal(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a) if f.compare
    )


class Value:
    """Base of pplmle's result dataclasses (declared with ``eq=False``): equal when they are of
    one type and every comparable field is equal (:func:`fields_equal`); not hashable, since
    they hold arrays."""

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return fields_equal(self, other)

    __hash__ = None  # type: ignore[assignment]
