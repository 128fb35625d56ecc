"""Input checks where data enters pplmle (NumPy only).

Every check returns a new array (the caller's object is never modified) and
raises ``ValueError`` naming the argument, the rule and the first bad value.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pplmle.core import messages

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


#: how many labels or names a message lists before it stops
_FEW = 5


def _few(items: Sequence[Any]) -> str:
    """The first few `items` as a list, with how many more there are."""
    shown = [plain(v) for v in items[:_FEW]]
    return f"{shown}" + (f" and {len(items) - _FEW} more" if len(items) > _FEW else "")


def check_not_masked(name: str, x: Any) -> None:
    """Raise if `x` is a NumPy masked array with masked values: pplmle reads values, not masks."""
    if not isinstance(x, np.ma.MaskedArray):
        return
    mask = np.ma.getmaskarray(x)
    if mask.any():
        raise ValueError(
            f"`{name}` is a masked array with {int(mask.sum())} masked value(s) (the first at index "
            f"{_first_bad(mask)}); pplmle does not read masks, so the masked values would be used as "
            f"data. Pass `{name}.astype(float).filled(np.nan)` with nan_policy='omit' to leave them "
            "out, or drop the masked values."
        )


#: dtype kinds that NumPy would silently turn into other numbers: complex, datetime, timedelta
_NOT_REAL = {"c": "complex", "M": "datetime", "m": "timedelta"}
_NOT_REAL_TYPES = (
    complex,
    np.complexfloating,
    np.datetime64,
    np.timedelta64,
    datetime.date,
    datetime.timedelta,
)


def _not_real_kind(dtype: Any) -> str | None:
    return _NOT_REAL.get(getattr(dtype, "kind", ""))


def check_real(name: str, x: Any) -> None:
    """Raise if `x` holds complex numbers, dates or durations (NumPy would cast them to numbers).

    The dtype of an array, of a pandas Series and of every column of a DataFrame is checked, and
    the elements of an object array (or object column).
    """
    if hasattr(x, "columns") and hasattr(x, "iloc"):  # a DataFrame: name the column
        for j, column in enumerate(x.columns):
            _check_real(f"`{name}` column {plain(column)!r}", x.iloc[:, j])
    else:
        _check_real(f"`{name}`", x)


def _check_real(what: str, x: Any) -> None:
    dtype = getattr(x, "dtype", None)  # a pandas dtype too (a datetime with a time zone)
    arr = None
    if _not_real_kind(dtype) is None:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError):
            return  # not an array at all: the conversion that follows says so
        dtype = arr.dtype
    kind = _not_real_kind(dtype)
    if kind is not None:
        raise ValueError(f"{what} must hold real numbers; got {kind} dtype {dtype} ({_NOT_REAL_HINT[kind]}).")
    if arr is not None and arr.dtype.kind == "O":
        flat = arr.ravel()
        bad = np.fromiter((isinstance(v, _NOT_REAL_TYPES) for v in flat), dtype=bool, count=flat.size)
        if bad.any():
            where = _first_bad(bad.reshape(arr.shape))
            value = arr[where]
            kind = _value_kind(value)
            raise ValueError(
                f"{what} must hold real numbers; found the {kind} value {value!r} at index {where} "
                f"of an object array ({_NOT_REAL_HINT[kind]})."
            )


def _value_kind(value: Any) -> str:
    if isinstance(value, (complex, np.complexfloating)):
        return "complex"
    return "timedelta" if isinstance(value, (np.timedelta64, datetime.timedelta)) else "datetime"


_NOT_REAL_HINT = {
    "complex": "complex values are not cast to their real part; pass the real part yourself if "
    "that is what you mean",
    "datetime": "dates are not converted to integers; convert them to numbers yourself, for "
    "example days since a reference date",
    "timedelta": "durations are not converted to integers; convert them to numbers in a unit "
    "you choose, for example `td / np.timedelta64(1, 'D')`",
}


def check_data(name: str, x: Any) -> None:
    """The checks of anything that enters as data: not masked, real numbers."""
    check_not_masked(name, x)
    check_real(name, x)


def _index(x: Any) -> Any:
    """The pandas index of `x` (a Series or DataFrame), else None (no pandas import here)."""
    idx = getattr(x, "index", None)
    return idx if hasattr(idx, "equals") and hasattr(idx, "tolist") else None


def check_same_index(named: Mapping[str, Any]) -> None:
    """Raise unless every pandas object among `named` has the index of the first one.

    Rows are paired by position; pandas pairs them by label, so two indexes that differ mean the
    user's rows would be paired differently than they think.  Objects of the wrong length are left
    to the row-count check.
    """
    indexed = [(name, idx) for name, x in named.items() if (idx := _index(x)) is not None]
    if len(indexed) < 2:
        return
    (first, ref), rest = indexed[0], indexed[1:]
    for name, idx in rest:
        if len(idx) != len(ref) or idx.equals(ref):
            continue
        a, b = ref.tolist(), idx.tolist()
        try:
            set_a, set_b = set(a), set(b)
            only_a, only_b = [v for v in a if v not in set_b], [v for v in b if v not in set_a]
        except TypeError:  # unhashable labels: compare by position only
            only_a = only_b = []
        if only_a or only_b:
            detail = f"labels only in `{first}`: {_few(only_a)}; only in `{name}`: {_few(only_b)}"
        else:
            pos = [i for i, (u, v) in enumerate(zip(a, b, strict=True)) if not _same_label(u, v)]
            if not pos:
                continue  # the same labels in the same order (pandas' `equals` is stricter about dtypes)
            pairs = ", ".join(f"{i} ({plain(a[i])!r} vs {plain(b[i])!r})" for i in pos[:_FEW])
            more = f" and {len(pos) - _FEW} more" if len(pos) > _FEW else ""
            detail = f"the same labels in a different order, first differing at position(s) {pairs}{more}"
        raise ValueError(
            f"`{first}` and `{name}` must have equal indexes (the same labels in the same order): "
            f"pplmle pairs rows by position, pandas by label; {detail}. Align them first, for "
            f"example `{name} = {name}.loc[{first}.index]`, or pass `.to_numpy()` to pair by position."
        )


def _same_label(u: Any, v: Any) -> bool:
    try:
        return bool(u == v) or (u != u and v != v)  # NaN labels match each other
    except (TypeError, ValueError):
        return u is v


def check_bool(name: str, value: Any) -> bool:
    """`value` as a bool; only True, False and NumPy bools are accepted (no truthiness)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be True or False; got {value!r} ({type(value).__name__}).")
    return bool(value)


def check_distinct_names(name: str, names: Sequence[str]) -> None:
    """Raise if `names` (the column names of `name`, as strings) repeat."""
    dup = [c for c, count in Counter(names).items() if count > 1]
    if dup:
        raise ValueError(
            f"`{name}` must have distinct column names (each coefficient is labelled by its column); "
            f"found duplicate(s) {_few(dup)}."
        )


def check_params(params: Any, expected: Mapping[str, Any], what: str = "params") -> dict[str, Any]:
    """Checked float copies of `params`: exactly the names of `expected`, each with its shape.

    `expected` maps each parameter name to a value of the right shape (a result's estimates).
    """
    if not isinstance(params, Mapping):
        raise TypeError(
            f"`{what}` must be a mapping from parameter name to value; got {type(params).__name__}."
        )
    names = list(expected)
    missing = [n for n in names if n not in params]
    unknown = [n for n in params if n not in expected]
    if missing or unknown:
        parts = ([f"missing {missing}"] if missing else []) + ([f"unknown {unknown}"] if unknown else [])
        raise ValueError(
            f"`{what}` must give exactly the parameters {names}; {', '.join(parts)} "
            "(no parameter is filled in from a default)."
        )
    out: dict[str, Any] = {}
    for n in names:
        try:
            v = np.array(params[n], dtype=float, copy=True)
        except (TypeError, ValueError):
            raise ValueError(f"`{what}[{n!r}]` must be numeric; got {params[n]!r}.") from None
        shape = np.shape(expected[n])
        if v.shape != shape:
            raise ValueError(f"`{what}[{n!r}]` must have shape {shape}; got shape {v.shape}.")
        out[n] = float(v) if v.ndim == 0 else v
    return out


def check_finite_value(name: str, value: Any) -> np.ndarray:
    """`value` as a new float array; raise if it is not numeric or has a NaN or infinite element."""
    try:
        arr = np.array(value, dtype=float, copy=True)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be numeric; got {value!r}.") from None
    bad = ~np.isfinite(arr)
    if bad.any():
        where = "" if arr.ndim == 0 else f" at index {_first_bad(bad)}"
        raise ValueError(f"`{name}` must be finite; got {plain(arr[bad][0])!r}{where}.")
    return arr


def check_fixed_value(key: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """`value` for ``fixed[key]`` as a new float array of exactly `shape`, every element finite.

    A vector parameter takes a whole array of its own shape: a single number is not spread over
    its elements (that would, for one, put an ordered vector's elements all at one value).
    """
    arr = check_finite_value(f"fixed[{key!r}]", value)
    if arr.shape != tuple(shape):
        raise ValueError(messages.fixed_shape(key, tuple(shape), arr.shape))
    return arr


def check_whole_observed(name: str, values: Any) -> None:
    """Raise unless the observed `values` of the discrete variable `name` are whole numbers.

    PyMC casts the observed data of a discrete likelihood to integers: 1.5 would be read as 1.
    """
    arr = np.asarray(values, dtype=float)
    bad = ~np.isfinite(arr) | (arr != np.round(arr))
    if bad.any():
        where = "" if arr.ndim == 0 else f" at index {_first_bad(bad)}"
        value = arr if arr.ndim == 0 else arr[_first_bad(bad)]
        raise ValueError(
            f"`observed` values of the discrete variable {name!r} must be whole numbers; "
            f"found {plain(value)!r}{where}."
        )


def as_float_array(name: str, x: Any, ndim: int = 1) -> np.ndarray:
    """Return `x` as a new float64 array with `ndim` dimensions."""
    check_data(name, x)
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
    check_data("n", n)
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
    check_data("X", X)
    columns = None
    if hasattr(X, "columns"):
        columns = [str(c) for c in X.columns]
        check_distinct_names("X", columns)
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
    column rank (smallest singular value of the column-scaled design above ``max(n, q) * eps`` of the
    largest, numpy's ``matrix_rank`` rule).
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
    # numerically rank-deficient as numpy.linalg.matrix_rank judges it: a design of condition
    # number 1e12 (after column scaling) is still identified, and fitted to 1e-9 on its QR basis
    if s[-1] <= max(X1.shape) * np.finfo(float).eps * s[0]:
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


def check_report(
    report: Any, deterministics: Sequence[str], free: Sequence[str], observed: Sequence[str]
) -> tuple[str, ...]:
    """The Deterministics `report` (of mle() and map_estimate()) names, in its order without repeats.

    `report` must be a list or tuple of strings, each the name of one of `deterministics`; a name
    in `free` or `observed` (free variables, observed variables and data) is refused as such.
    """
    if isinstance(report, (str, bytes)) or not isinstance(report, (list, tuple)):
        raise ValueError(messages.report_not_list(report))
    bad = [name for name in report if not isinstance(name, str)]
    if bad:
        raise ValueError(messages.report_not_string(bad))
    dets = list(deterministics)
    for names, message in (
        ([n for n in report if n in free], messages.report_free),
        ([n for n in report if n in observed], messages.report_observed),
        (
            [n for n in report if n not in dets and n not in free and n not in observed],
            messages.report_unknown,
        ),
    ):
        if names:
            raise ValueError(message(names, dets))
    return tuple(dict.fromkeys(report))
