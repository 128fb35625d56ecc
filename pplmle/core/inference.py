"""Tests and tables from a fitted result: z (or t) tests per coefficient, Wald tests of linear
hypotheses, and the statsmodels- or R-style :class:`Summary`.

Everything here works from the numbers a :class:`~pplmle.core.result.MLEResult` holds (estimate,
covariance, log-likelihoods): NumPy, SciPy and pandas only. Use :meth:`MLEResult.summary` and
:meth:`MLEResult.wald_test`, which call these functions.
"""

from __future__ import annotations

import ast
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.stats

from pplmle.core import values as _values

if TYPE_CHECKING:
    from pplmle.core.result import MLEResult

__all__ = ["Summary", "WaldTest", "coefficient_table", "linear_hypotheses", "summary", "wald_test"]


# -- the coefficient table -------------------------------------------------------------------
def _sigma_factor(res: MLEResult, unbiased_sigma: bool) -> float:
    """sqrt(n / df_resid) when the unbiased scale is asked for, else 1 (ValueError if undefined)."""
    if not unbiased_sigma:
        return 1.0
    if not res.scale_param:
        raise ValueError(
            "`unbiased_sigma=True` needs a linear regression (pl.LinearRegression), whose residual scale "
            f"has an unbiased version; this result is a {res.model_name}."
        )
    if res.df_resid <= 0:
        raise ValueError(f"`unbiased_sigma=True` needs n > p; this fit has df_resid = {res.df_resid}.")
    return float(np.sqrt(res.n_obs / res.df_resid))


def coefficient_table(
    res: MLEResult, level: float = 0.95, *, use_t: bool = False, unbiased_sigma: bool = False
) -> pd.DataFrame:
    """One row per scalar parameter: estimate, se, z (or t), P>|z| (or P>|t|) and the Wald interval.

    The test of each row is of the parameter being 0: ``z = estimate / se`` against the standard
    normal (``use_t=True``: Student's t with :attr:`MLEResult.df_resid` degrees of freedom, as R's
    ``lm`` and statsmodels' OLS report). With ``unbiased_sigma=True`` (a linear regression only) the
    residual scale is ``s = sigma_ML sqrt(n / (n - p))`` and every standard error is multiplied by
    the same factor, which gives R's ``summary(lm(...))`` exactly; the MLE divides by ``n``.
    Parameters held fixed (``fixed=`` of :func:`pplmle.mle`) have no standard error and no test.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"`level` must be strictly between 0 and 1; got {level!r}.")
    factor = _sigma_factor(res, unbiased_sigma)
    est, se = res.vector(res.params).copy(), res.vector(res.se) * factor
    if factor != 1.0:
        est[res.labels.index(res.scale_param)] *= factor
    if use_t and res.df_resid <= 0:
        raise ValueError(f"`use_t=True` needs n > p; this fit has df_resid = {res.df_resid}.")
    dist = scipy.stats.t(res.df_resid) if use_t else scipy.stats.norm()
    crit = float(dist.ppf(0.5 + level / 2.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = est / se
    pvalue = 2.0 * dist.sf(np.abs(stat))
    letter = "t" if use_t else "z"
    pct = f"{100 * level:g}%"
    out = pd.DataFrame(
        {
            "estimate": est,
            "se": se,
            letter: stat,
            f"P>|{letter}|": pvalue,
            f"lower {pct}": est - crit * se,
            f"upper {pct}": est + crit * se,
        },
        index=res.cov.index,
    )
    if res.derived:
        derived = set(res.derived_labels)
        out["derived"] = [lab in derived for lab in out.index]
    flags = {**res.flags, **{lab: "fixed" for lab in res.fixed}}
    if flags:
        out["flag"] = [flags.get(lab, "") for lab in out.index]
    return out


# -- Wald tests of linear hypotheses ---------------------------------------------------------
@dataclass(frozen=True, repr=False, eq=False)
class WaldTest(_values.Value):
    """A Wald test of the linear hypotheses ``R theta = q``.

    Attributes
    ----------
    statistic
        ``(R theta - q)' (R V R')^-1 (R theta - q)`` (chi-square with ``df`` degrees of freedom),
        or that divided by ``df`` for the F form (``use_f=True``).
    df, df_denom
        Number of hypotheses (the rank of ``R``) and, for the F form, the residual degrees of
        freedom (None for the chi-square form).
    pvalue
        The upper tail probability of the statistic.
    distribution
        ``"chi2"`` or ``"F"``.
    hypotheses
        The hypotheses in words, one per row of ``R``.
    R, q
        The restriction matrix (columns in the order of :attr:`MLEResult.labels`) and its right side.
    """

    statistic: float
    df: int
    pvalue: float
    distribution: str
    hypotheses: tuple[str, ...]
    R: np.ndarray
    q: np.ndarray
    df_denom: int | None = None

    def __repr__(self) -> str:
        dist = f"F({self.df}, {self.df_denom})" if self.distribution == "F" else f"chi2({self.df})"
        lines = [f"Wald test of {self.df} linear hypothes{'is' if self.df == 1 else 'es'}:"]
        lines += [f"  {h}" for h in self.hypotheses]
        lines.append(f"{dist} = {self.statistic:.6g}, p = {self.pvalue:.4g}")
        return "\n".join(lines)


_NUMBER = (int, float)


def _split_top(text: str) -> list[str]:
    """`text` split at commas and semicolons outside brackets."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        depth += ch in "[("
        depth -= ch in "])"
        if ch in ",;" and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def _linear(node: ast.AST, k: int, text: str) -> tuple[np.ndarray, float]:
    """The linear form ``a . theta + b`` of an expression tree whose names are ``_p{i}``."""

    def bad(why: str) -> ValueError:
        return ValueError(f"`hypotheses` must be linear equations in the parameters; {text!r} {why}.")

    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, _NUMBER)
        and not isinstance(node.value, bool)
    ):
        return np.zeros(k), float(node.value)
    if isinstance(node, ast.Name) and node.id.startswith("_p"):
        a = np.zeros(k)
        a[int(node.id[2:])] = 1.0
        return a, 0.0
    if isinstance(node, ast.Name):
        raise bad(f"names {node.id!r}, which is not a parameter label")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        a, b = _linear(node.operand, k, text)
        return (-a, -b) if isinstance(node.op, ast.USub) else (a, b)
    if isinstance(node, ast.BinOp):
        (a1, b1), (a2, b2) = _linear(node.left, k, text), _linear(node.right, k, text)
        if isinstance(node.op, ast.Add):
            return a1 + a2, b1 + b2
        if isinstance(node.op, ast.Sub):
            return a1 - a2, b1 - b2
        if isinstance(node.op, ast.Mult):
            if np.any(a1) and np.any(a2):
                raise bad("multiplies two parameters")
            return (a1 * b2, b1 * b2) if np.any(a1) else (a2 * b1, b1 * b2)
        if isinstance(node.op, ast.Div):
            if np.any(a2):
                raise bad("divides by a parameter")
            if b2 == 0:
                raise bad("divides by zero")
            return a1 / b2, b1 / b2
    raise bad("is not a sum of numbers times parameters")


def linear_hypotheses(
    hypotheses: Any, labels: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """``R``, ``q`` and the hypotheses in words, from strings or a matrix.

    `hypotheses` is a string of equations separated by commas (``"beta[a] = beta[b], sigma = 1"``;
    an expression without ``=`` means ``= 0``), a list of such strings, a matrix ``R`` (one column
    per label: the hypothesis ``R theta = 0``) or a pair ``(R, q)``.
    """
    k = len(labels)
    if isinstance(hypotheses, str) or (
        isinstance(hypotheses, (list, tuple)) and hypotheses and all(isinstance(h, str) for h in hypotheses)
    ):
        texts = (
            _split_top(hypotheses)
            if isinstance(hypotheses, str)
            else [t for h in hypotheses for t in _split_top(h)]
        )
        if not texts:
            raise ValueError(f"`hypotheses` must name at least one equation; got {hypotheses!r}.")
        # longest labels first, so that beta[x10] is read before beta[x1]
        order = sorted(range(k), key=lambda i: -len(labels[i]))
        pattern = re.compile("|".join(rf"(?<![\w\]])({re.escape(labels[i])})(?![\w\[])" for i in order))
        rows, rhs = [], []
        for text in texts:
            sides = text.replace("==", "=").split("=")
            if len(sides) > 2:
                raise ValueError(f"`hypotheses` must hold one '=' per equation; got {text!r}.")
            lhs_rhs = []
            for side in sides:
                coded = pattern.sub(lambda m: f"_p{order[int(m.lastindex or 1) - 1]}", side)
                unknown = [
                    t
                    for t in re.findall(r"[A-Za-z_]\w*(?:\[[^\]]*\])?", coded)
                    if not re.fullmatch(r"_p\d+", t)
                ]
                if unknown:
                    raise ValueError(
                        f"`hypotheses`: {text!r} names {unknown[0]!r}, which is not a parameter label; "
                        f"the labels are {list(labels)}."
                    )
                try:
                    tree = ast.parse(coded.strip(), mode="eval").body
                except SyntaxError:
                    raise ValueError(
                        f"`hypotheses` must be linear equations in the parameter labels {list(labels)}; "
                        f"could not read {text!r}."
                    ) from None
                lhs_rhs.append(_linear(tree, k, text))
            (a1, b1), (a2, b2) = lhs_rhs if len(lhs_rhs) == 2 else (lhs_rhs[0], (np.zeros(k), 0.0))
            if not np.any(a1 - a2):
                raise ValueError(f"`hypotheses`: {text!r} involves no parameter.")
            rows.append(a1 - a2)
            rhs.append(b2 - b1)
        R, q = np.array(rows), np.array(rhs)
    else:
        if isinstance(hypotheses, tuple) and len(hypotheses) == 2:
            R, q = (
                np.atleast_2d(np.asarray(hypotheses[0], dtype=float)),
                np.ravel(np.asarray(hypotheses[1], dtype=float)),
            )
        else:
            R = np.atleast_2d(np.asarray(hypotheses, dtype=float))
            q = np.zeros(R.shape[0])
        if R.ndim != 2 or R.shape[1] != k or q.shape != (R.shape[0],):
            raise ValueError(
                f"`hypotheses` as a matrix must have one column per parameter ({k}: {list(labels)}) and "
                f"`q` one entry per row; got R of shape {R.shape} and q of shape {q.shape}."
            )
        if not np.all(np.isfinite(R)) or not np.all(np.isfinite(q)):
            raise ValueError("`hypotheses`: R and q must be finite.")
        texts = [_words(row, qi, labels) for row, qi in zip(R, q, strict=True)]
    if np.linalg.matrix_rank(R) < R.shape[0]:
        raise ValueError(
            f"`hypotheses` must be linearly independent; these {R.shape[0]} have rank "
            f"{np.linalg.matrix_rank(R)}: {texts}."
        )
    return R, q, tuple(texts)


def _words(row: np.ndarray, q: float, labels: Sequence[str]) -> str:
    """A row of ``R`` and its ``q`` as an equation in the labels."""
    text = ""
    for c, lab in zip(row, labels, strict=True):
        if c == 0:
            continue
        term = lab if abs(c) == 1 else f"{abs(c):g}*{lab}"
        sign = "-" if c < 0 else "+"
        text = (f"-{term}" if sign == "-" else term) if not text else f"{text} {sign} {term}"
    return f"{text} = {q:g}"


def wald_test(res: MLEResult, hypotheses: Any, *, use_f: bool = False) -> WaldTest:
    """The Wald test of linear hypotheses on the free parameters and derived quantities of `res`.

    See :meth:`MLEResult.wald_test`.
    """
    labels = res.labels
    R, q, texts = linear_hypotheses(hypotheses, labels)
    fixed = [labels.index(lab) for lab in res.fixed]
    if fixed and np.any(R[:, fixed] != 0):
        raise ValueError(
            f"`hypotheses` may not involve parameters held fixed ({list(res.fixed)}): they have no variance."
        )
    theta, V = res.vector(res.params), res.cov.to_numpy()
    used = np.any(R != 0, axis=0)
    if not np.all(np.isfinite(V[np.ix_(used, used)])):
        nan = [
            lab
            for lab, u, s in zip(labels, used, res.vector(res.se), strict=True)
            if u and not np.isfinite(s)
        ]
        raise ValueError(f"`hypotheses` involve parameters without a covariance (no standard error): {nan}.")
    d = R @ theta - q
    M = R[:, used] @ V[np.ix_(used, used)] @ R[:, used].T
    stat = float(d @ np.linalg.solve(M, d))
    df = int(R.shape[0])
    if use_f:
        if res.df_resid <= 0:
            raise ValueError(f"`use_f=True` needs n > p; this fit has df_resid = {res.df_resid}.")
        stat /= df
        return WaldTest(
            stat, df, float(scipy.stats.f.sf(stat, df, res.df_resid)), "F", texts, R, q, res.df_resid
        )
    return WaldTest(stat, df, float(scipy.stats.chi2.sf(stat, df)), "chi2", texts, R, q)


# -- the summary -----------------------------------------------------------------------------
@dataclass(frozen=True, repr=False, eq=False)
class Summary(_values.Value):
    """What :meth:`MLEResult.summary` returns: a header, a coefficient table and notes.

    ``str(summary)`` (and ``print``) is plain text, a notebook shows HTML, :meth:`to_frame` gives
    the table; :attr:`header` keeps the numbers of the header by name.

    Attributes
    ----------
    verdict
        One sentence: whether the estimate can be trusted, in plain words.
    header
        ``(name, value)`` pairs: model, dependent variable, method, observations, degrees of
        freedom, log-likelihoods, deviance, AIC, BIC, pseudo-R², covariance type, iterations.
    table
        :func:`coefficient_table`.
    notes
        Warnings and caveats in plain words (a boundary, a separation, the divide-by-n scale).
    details
        What the optimizers said, for whoever wants the route.
    """

    verdict: str
    header: tuple[tuple[str, Any], ...]
    table: pd.DataFrame
    notes: tuple[str, ...]
    details: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table (a copy)."""
        return self.table.copy()

    def header_dict(self) -> dict[str, Any]:
        """The header's values by name."""
        return dict(self.header)

    def __str__(self) -> str:
        cells = [(name, _cell(value)) for name, value in self.header]
        half = (len(cells) + 1) // 2
        left, right = cells[:half], cells[half:]
        wl = max(len(n) + len(v) for n, v in left) + 4
        lines = []
        for i, (name, value) in enumerate(left):
            text = f"{name}:{' ' * (wl - len(name) - len(value) - 1)}{value}"
            if i < len(right):
                rn, rv = right[i]
                wr = max(len(n) + len(v) for n, v in right) + 2
                text += f"    {rn}:{' ' * (wr - len(rn) - len(rv) - 1)}{rv}"
            lines.append(text)
        width = max(len(line) for line in lines)
        table = self.table.to_string(float_format=_num, na_rep="NaN")
        width = max(width, max(len(t) for t in table.splitlines()))
        rule = "=" * width
        out = [self.verdict, rule, *lines, "-" * width, table, rule]
        if self.notes:
            out += ["Notes:", *[f"[{i}] {n}" for i, n in enumerate(self.notes, 1)]]
        if self.details:
            out += ["Details:", *[f"  {d}" for d in self.details]]
        return "\n".join(out)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(n)}</th><td>{html.escape(_cell(v))}</td></tr>"
            for n, v in self.header
        )
        table = self.table.to_html(float_format=_num, na_rep="NaN")
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        details = "".join(f"<li>{html.escape(d)}</li>" for d in self.details)
        return (
            f"<div><p><b>{html.escape(self.verdict)}</b></p><table>{rows}</table>{table}"
            + (f"<p>Notes:</p><ol>{notes}</ol>" if notes else "")
            + (f"<details><summary>Details</summary><ul>{details}</ul></details>" if details else "")
            + "</div>"
        )


def _num(v: float) -> str:
    return f"{v:.6g}"


def _cell(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return "NaN" if not np.isfinite(value) and np.isnan(value) else f"{float(value):.6g}"
    return str(value)


def verdict(res: MLEResult) -> str:
    """One plain sentence: can the estimate be trusted."""
    what = f"{res.method} of {res.model_name}"
    if not res.mle_exists:
        found = ", ".join(res.diagnostics)
        return f"{what}: no MLE exists ({found}); the numbers are where the optimizer stopped."
    if not res.converged:
        return f"{what}: NOT CONVERGED; the numbers are not a verified optimum."
    if res.diagnostics:
        return f"{what}: converged, with warnings ({', '.join(res.diagnostics)})."
    return f"{what}: converged to a verified optimum."


def summary(
    res: MLEResult,
    level: float = 0.95,
    *,
    use_t: bool = False,
    unbiased_sigma: bool = False,
    profile: bool = False,
) -> Summary:
    """See :meth:`MLEResult.summary`."""
    table = coefficient_table(res, level, use_t=use_t, unbiased_sigma=unbiased_sigma)
    if profile:
        pct = f"{100 * level:g}%"
        free = [lab for lab in res.labels if lab not in res.fixed]
        prof = res.conf_int(level, method="profile", params=free).reindex(table.index)
        table[f"profile lower {pct}"] = prof["lower"].to_numpy()
        table[f"profile upper {pct}"] = prof["upper"].to_numpy()
    header: list[tuple[str, Any]] = [
        ("Model", res.model_name),
        ("Dependent variable", res.dep_var or "(not named)"),
        ("Method", "MLE (flat priors)" if res.method == "MLE" else "MAP (priors kept)"),
        ("Observations", res.n_obs),
        ("Parameters", res.n_params),
        ("Df residuals", res.df_resid),
        ("Log-likelihood", res.loglik),
    ]
    has_null = np.isfinite(res.null_loglik)
    if has_null:
        df_lr = res.n_params - res.null_n_params
        lr = 2.0 * (res.loglik - res.null_loglik)
        header += [("LL-null", res.null_loglik)]
        if df_lr > 0:
            header += [("LLR p-value", float(scipy.stats.chi2.sf(lr, df_lr)))]
    if np.isfinite(res.saturated_loglik):
        header += [("Deviance", 2.0 * (res.saturated_loglik - res.loglik))]
    else:
        header += [("-2 log-likelihood", -2.0 * res.loglik)]
    header += [("AIC", res.aic), ("BIC", res.bic)]
    if has_null and res.scale_param:
        header += [("R-squared", 1.0 - float(np.exp(-2.0 * (res.loglik - res.null_loglik) / res.n_obs)))]
    elif has_null and res.null_loglik != 0:
        header += [("Pseudo R-squared (McFadden)", 1.0 - res.loglik / res.null_loglik)]
    header += [
        ("Covariance", _COV_WORDS.get(res.cov_type, res.cov_type)),
        ("Inference", f"t({res.df_resid})" if use_t else "normal (z)"),
        ("Converged", bool(res.converged)),
        ("Iterations", res.n_iter),
    ]
    notes = [
        *(f"{lab}: {flag}" for lab, flag in res.flags.items()),
        *([f"Held fixed, not estimated: {', '.join(res.fixed)}."] if res.fixed else []),
        *([res.n_obs_note] if res.n_obs_note else []),
    ]
    if res.scale_param:
        notes.append(
            f"{res.scale_param} is the MLE (residual sum of squares divided by n) and the standard errors "
            "use it; R's lm and statsmodels' OLS divide by n - p: pass unbiased_sigma=True (and use_t=True) "
            "for their numbers."
            if not unbiased_sigma
            else f"{res.scale_param} is s = sqrt(RSS / (n - p)) and the standard errors use it, as in R's lm."
        )
    details = [res.message, f"largest |gradient| of the NLL on the natural scale: {res.grad_norm:.2g}"]
    return Summary(verdict(res), tuple(header), table, tuple(notes), tuple(details))


_COV_WORDS = {
    "observed": "observed information (Hessian)",
    "expected": "expected (Fisher) information",
    "robust": "robust (sandwich, HC0)",
    "HC0": "robust (sandwich, HC0)",
    "HC1": "robust (sandwich, HC1: n / (n - p))",
    "cluster": "cluster-robust",
}
