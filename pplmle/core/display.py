"""Plain functions that turn results into text and HTML (used by __repr__ and _repr_html_)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pplmle.core.result import MLEResult


def _status(res: MLEResult) -> str:
    if res.converged and not res.diagnostics:
        return "converged"
    flags = [] if res.converged else ["NOT CONVERGED"]
    return ", ".join(flags + list(res.diagnostics))


def header_lines(res: MLEResult) -> list[str]:
    return [
        f"{res.method} of {res.model_name}: {_status(res)}",
        f"loglik = {res.loglik:.6g}   nll = {res.nll:.6g}   AIC = {res.aic:.6g}   "
        f"BIC = {res.bic:.6g}   n_obs = {res.n_obs}   n_params = {res.n_params}",
        *([f"held fixed: {', '.join(res.fixed)}"] if res.fixed else []),
        *([f"covariance: {res.cov_type}"] if res.cov_type != "observed" else []),
        f"details: {res.message}",
        *([res.n_obs_note] if res.n_obs_note else []),
    ]


def result_text(res: MLEResult) -> str:
    table = res.table().to_string(float_format=lambda v: f"{v:.6g}")
    return "\n".join([*header_lines(res), "", table])


def result_html(res: MLEResult) -> str:
    style = "" if res.converged and not res.diagnostics else ' style="color:#b00020"'
    head = "<br>".join(html.escape(line) for line in header_lines(res))
    table = res.table().to_html(float_format=lambda v: f"{v:.6g}", na_rep="NaN")
    return f"<div><p{style}>{head}</p>{table}</div>"
