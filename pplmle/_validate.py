"""Input checks where data enters pplmle (NumPy only).

Every check returns a new array (the caller's object is never modified) and
raises ``ValueError`` naming the argument, the rule and the first bad value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

NAN_POLICIES = ("raise", "omit")


def check_nan_policy(nan_policy: str) -> str:
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"`nan_policy` must be one of {NAN_POLICIES}; got {nan_policy!r}.")
    return nan_policy


def plain(value: Any) -> Any:
    """A NumPy scalar or array as a plain Python value, for messages."""
    return value.tolist() if hasattr(value, "tolist") else value


def _first_bad(mask: np.ndarray) -> tuple[int, ...] | int:
    idx = np.argwhere(mask)[0]
    return int(idx[0]) if idx.size == 1 else tuple(int(i) for i in idx)


def as_float_array(name: str, x: Any, ndim: int = 1) -> np.ndarray:
    """Return `x` as a new float64 array with `ndim` dimensions."""
    try:
        arr = np.array(x, dtype=float, copy=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"`{name}` must be numeric; could not convert it to numbers ({exc}).") from None
    if arr.ndim != ndim:
        raise ValueError(f"`{name}` must be {ndim}-dimensional; got an array with shape {arr.shape}.")
    if arr.size == 0 or arr.shape[0] == 0:
        raise ValueError(f"`{name}` must not be empty; got shape {arr.shape}.")
    return arr


def nan_rows(arr: np.ndarray) -> np.ndarray:
    """Boolean mask of rows (first axis) that contain a NaN."""
    mask = np.isnan(arr)
    return mask if arr.ndim == 1 else mask.reshape(arr.shape[0], -1).any(axis=1)


def check_finite(name: str, arr: np.ndarray) -> None:
    """Raise if `arr` has NaN or infinite values."""
    bad = ~np.isfinite(arr)
    if bad.any():
        where = _first_bad(bad)
        raise ValueError(
            f"`{name}` must be finite; found {plain(arr[where])} at index {where} "
            f"({int(bad.sum())} non-finite value(s) in all)."
        )


def check_support(name: str, arr: np.ndarray, rule: str, ok: np.ndarray, family: str) -> None:
    """Raise if any element of `arr` breaks `rule` (where `ok` is False)."""
    bad = ~ok
    if bad.any():
        where = _first_bad(bad)
        raise ValueError(
            f"`{name}` must be {rule} for {family}; found {plain(arr[where])!r} at index {where}."
        )


def check_integer(name: str, arr: np.ndarray, family: str) -> None:
    check_support(name, arr, "whole numbers", arr == np.round(arr), family)


def check_same_length(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"`{name_a}` and `{name_b}` must have the same number of rows; got {a.shape[0]} and {b.shape[0]}."
        )
