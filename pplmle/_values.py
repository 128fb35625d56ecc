"""Value semantics for pplmle's results: equality of nested numerical data, and pickling of
the PyMC models a result refers to.

A result is compared field by field: NumPy arrays by shape and content (NaN equal to NaN),
pandas objects with ``.equals``, xarray objects with ``.identical``, mappings and sequences
element by element. A ``pm.Model`` does not pickle with the standard library (its graph holds
objects that only cloudpickle serializes), so a result stores it as cloudpickle bytes inside an
ordinary pickle: ``pickle.dumps(result)`` works as it is, for process pools and Dask workers.
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


class _PickledModel:
    """A ``pm.Model`` carried through the standard pickle as cloudpickle bytes."""

    def __init__(self, payload: bytes):
        self.payload = payload


def portable(obj: Any) -> Any:
    """`obj`, with a ``pm.Model`` replaced by something the standard pickle can carry."""
    import pymc as pm

    if isinstance(obj, pm.Model):
        import cloudpickle

        return _PickledModel(cloudpickle.dumps(obj))
    return obj


def restore(obj: Any) -> Any:
    """The inverse of :func:`portable`."""
    if isinstance(obj, _PickledModel):
        import pickle

        return pickle.loads(obj.payload)
    return obj
