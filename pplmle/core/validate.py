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


# ---------------------------------------------------------------------------------
# data checks of the NumPy core (pplmle.reference.closed_form, pplmle.reference.handwritten)


def check_vector(name: str, x: Any, nan_policy: str = "raise") -> np.ndarray:
    """A new finite, non-empty 1-D float array (NaN dropped first with ``nan_policy="omit"``)."""
    check_nan_policy(nan_policy)
    arr = as_float_array(name, x, ndim=1)
    if nan_policy == "omit":
        arr = arr[~np.isnan(arr)]
        if arr.size == 0:
            raise ValueError(f"`{name}` has no values left after dropping NaN.")
    check_finite(name, arr)
    return arr


def unbounded(param: str) -> str:
    """The clause a degenerate-data message ends with: the likelihood is unbounded in `param`."""
    if param == "sigma":
        return ": sigma_hat would be 0 and the likelihood unbounded"
    return f": the likelihood is unbounded in {param}, so the MLE does not exist"


def check_not_constant(name: str, x: np.ndarray, family: str, why: str = "") -> None:
    """Raise unless `x` holds at least two different values."""
    if x.size < 2 or np.all(x == x[0]):
        raise ValueError(
            f"`{name}` must contain at least two different values for {family}; got {x.size} "
            f"value(s), all equal to {plain(x[0])!r}{why}."
        )


def check_not_all_zero(name: str, x: np.ndarray, family: str, why: str = "") -> None:
    """Raise if every value of `x` is zero."""
    if np.all(x == 0):
        raise ValueError(f"`{name}` must not be all zero for {family}{why}.")


def check_positive(name: str, x: Any, family: str) -> np.ndarray:
    arr = check_vector(name, x)
    check_support(name, arr, "positive", arr > 0, family)
    return arr


def check_binary(name: str, y: Any, family: str) -> np.ndarray:
    arr = check_vector(name, y)
    check_support(name, arr, "0 or 1", (arr == 0) | (arr == 1), family)
    return arr


def check_counts(name: str, x: Any, family: str) -> np.ndarray:
    arr = check_vector(name, x)
    check_support(name, arr, "non-negative", arr >= 0, family)
    check_integer(name, arr, family)
    return arr


def check_binomial(
    k: Any, n: Any, family: str = "Binomial", nan_policy: str = "raise"
) -> tuple[np.ndarray, np.ndarray]:
    """Successes `k` and trials `n` (a number or one per observation) as new float arrays.

    With ``nan_policy="omit"``, observations where `k` or `n` is NaN are dropped.
    """
    check_nan_policy(nan_policy)
    k_arr = as_float_array("k", k, ndim=1)
    try:
        n_arr = np.array(n, dtype=float, copy=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"`n` must be numeric; could not convert it to numbers ({exc}).") from None
    if n_arr.ndim == 0:
        n_arr = np.full_like(k_arr, float(n_arr))
    elif n_arr.shape != k_arr.shape:
        raise ValueError(f"`n` must be a number or have the shape of `k` {k_arr.shape}; got {n_arr.shape}.")
    if nan_policy == "omit":
        keep = ~(np.isnan(k_arr) | np.isnan(n_arr))
        k_arr, n_arr = k_arr[keep], n_arr[keep]
        if k_arr.size == 0:
            raise ValueError("`k` has no values left after dropping NaN.")
    check_finite("k", k_arr)
    check_finite("n", n_arr)
    check_support("n", n_arr, "at least 1", n_arr >= 1, family)
    check_integer("n", n_arr, family)
    check_support("k", k_arr, "non-negative", k_arr >= 0, family)
    check_integer("k", k_arr, family)
    check_support("k", k_arr, "at most n", k_arr <= n_arr, family)
    return k_arr, n_arr


def check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"`k` must be a whole number >= 2; got {k!r}.")
    return int(k)


def check_codes(
    codes: Any, k: Any, family: str, name: str = "codes", nan_policy: str = "raise"
) -> tuple[np.ndarray, int]:
    """Class codes as a new int64 array with values in ``0 .. k-1``, and `k` as an int."""
    k = check_k(k)
    arr = check_vector(name, codes, nan_policy)
    check_integer(name, arr, family)
    check_support(name, arr, f"in 0..{k - 1}", (arr >= 0) & (arr < k), family)
    return arr.astype(np.int64), k


def as_design(X: Any, vector_ok: bool = False) -> tuple[np.ndarray, list[str]]:
    """`X` as a new 2-D float array and its column names (a DataFrame's, else ``"0", "1", ...``).

    With `vector_ok`, a 1-D `X` (a vector or a named Series) is one column.
    """
    columns = None
    if hasattr(X, "columns"):
        columns = [str(c) for c in X.columns]
    elif vector_ok and getattr(X, "ndim", 2) == 1 and getattr(X, "name", None) is not None:
        columns = [str(X.name)]
    try:
        arr = np.array(X, dtype=float, copy=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"`X` must be numeric; could not convert it to numbers ({exc}).") from None
    if vector_ok and arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"`X` must be 2-dimensional (rows = observations); got shape {arr.shape}.")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"`X` must not be empty; got shape {arr.shape}.")
    return arr, (columns if columns is not None else [str(j) for j in range(arr.shape[1])])


def check_identified(X1: np.ndarray, names: list[str], intercept: bool) -> None:
    """Raise unless the design `X1` identifies its coefficients.

    `X1` is ``[1, X]`` with an intercept (else `X`) and `names` names its columns.  It must have
    more rows than columns, no all-zero column, no constant column beside the intercept and full
    column rank (smallest singular value of the column-scaled design above 1e-12 of the largest).
    """
    n, q = X1.shape
    if n <= q:
        raise ValueError(f"`X` must have more rows than coefficients; got {n} row(s) for {q} coefficient(s).")
    zero = np.flatnonzero(np.all(X1 == 0, axis=0))
    if zero.size:
        raise ValueError(f"`X` must not have all-zero columns; column {names[zero[0]]!r} is all zero.")
    if intercept:
        constant = np.flatnonzero(np.all(X1[:, 1:] == X1[0, 1:], axis=0))
        if constant.size:
            j = int(constant[0]) + 1
            raise ValueError(
                f"`X` must not have constant (zero-variance) columns with an intercept; column "
                f"{names[j]!r} is {plain(X1[0, j])!r} in every row, so its coefficient is not "
                "identified. Drop it, or pass intercept=False."
            )
    _, s, vt = np.linalg.svd(X1 / np.linalg.norm(X1, axis=0), full_matrices=False)
    if s[-1] <= 1e-12 * s[0]:
        v = np.abs(vt[-1])
        cols = [names[j] for j in np.flatnonzero(v > 1e-3 * v.max())]
        raise ValueError(
            f"`X` must have full column rank; the columns {cols} are collinear (smallest singular value "
            f"{s[-1]:.3g} of the column-scaled design, largest {s[0]:.3g}), so their coefficients are "
            "not identified. Drop one of them."
        )


def check_design(X: Any, n_rows: int, intercept: bool, y_name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """`X` as a new 2-D float array and the design ``X1`` (``[1, X]`` with an intercept).

    `X` must have `n_rows` rows (one per response) and identify its coefficients
    (:func:`check_identified`).
    """
    arr, columns = as_design(X)
    check_finite("X", arr)
    check_same_length("X", arr, y_name, np.empty(n_rows))
    X1 = np.column_stack([np.ones(arr.shape[0]), arr]) if intercept else arr
    check_identified(X1, (["(intercept)"] if intercept else []) + columns, intercept)
    return arr, X1
