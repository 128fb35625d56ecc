"""The gallery of real PyMC models (tests/gallery/models.py), each fitted once by ``pl.mle`` and
checked against its independent reference: estimates to 1e-6 (relative, or in SEs near 0),
standard errors to 1e-4 relative, labels from the coords, the observation count, the diagnostics
and warnings; refused models raise with a message that names the cause.

Fits are shared through :mod:`gallery.fits` (one per model per process).
"""

from __future__ import annotations

import warnings

import numpy as np
import pymc as pm
import pytest

import pplmle as pl
from gallery import fits, models
from gallery.models import GALLERY

EST_TOL = 1e-6
SE_TOL = 1e-4

FITTED = [e for e in GALLERY if e.refusal is None]
WITH_REFERENCE = [e for e in FITTED if e.reference is not None]
REFUSED = [e for e in GALLERY if e.refusal is not None]


def _params(entries):
    return [e.name for e in entries]


def _fit(name: str) -> fits.Fitted:
    fit = fits.fitted(name)
    assert fit.error is None, f"{name}: pl.mle raised {fit.error!r}"
    return fit


# ---------------------------------------------------------------------------------------------
# every fitted model


def test_gallery_covers_the_kinds():
    assert len(FITTED) >= 15
    names = {e.name for e in GALLERY}
    assert len(names) == len(GALLERY)
    for entry in GALLERY:
        assert entry.source.startswith("https://github.com/pymc-devs/"), entry.name
        assert entry.kind, entry.name


@pytest.mark.parametrize("name", _params(WITH_REFERENCE))
def test_estimates(name):
    fit, ref = _fit(name), fits.reference(name)
    est_err, _ = fits.errors(fit.result, ref)
    bad = {lab: err for lab, err in est_err.items() if not err <= EST_TOL}
    assert not bad, f"{name}: estimates off the reference ({ref.note}): {bad}"


@pytest.mark.parametrize("name", _params(WITH_REFERENCE))
def test_standard_errors(name):
    fit, ref = _fit(name), fits.reference(name)
    _, se_err = fits.errors(fit.result, ref)
    bad = {lab: err for lab, err in se_err.items() if not err <= SE_TOL}
    assert not bad, f"{name}: standard errors off the reference ({ref.note}): {bad}"


@pytest.mark.parametrize("name", _params(FITTED))
def test_labels_from_coords(name):
    fit = _fit(name)
    assert fit.result.free_labels == list(fit.entry.labels)
    assert fit.result.derived == fit.entry.derived
    assert list(fit.result.cov.index) == fit.result.labels


@pytest.mark.parametrize("name", _params(FITTED))
def test_n_obs(name):
    fit = _fit(name)
    assert fit.result.n_obs == fit.entry.n_obs
    assert fit.result.n_obs_note == ""
    assert np.isfinite(fit.result.bic)


@pytest.mark.parametrize("name", _params(FITTED))
def test_flags_are_honest(name):
    fit = _fit(name)
    res = fit.result
    assert res.converged is fit.entry.converged, res.message
    assert tuple(res.diagnostics) == fit.entry.diagnostics, res.message
    assert sorted(fit.pplmle_warnings) == sorted(fit.entry.warns), [str(w.message) for w in fit.warnings]
    if fit.entry.converged and not fit.entry.diagnostics:
        assert res.mle_exists and not res.flags
        assert np.all(np.isfinite(res.vector(res.se))), res.se
    else:
        assert not res.converged or res.flags  # never shown clean


@pytest.mark.parametrize("name", _params(WITH_REFERENCE))
def test_loglik_is_the_reference_optimum(name):
    """The reported log-likelihood is the model's at the reference optimum, to rounding: the fit
    is not stopped short of the optimum nor past it on another branch."""
    fit, ref = _fit(name), fits.reference(name)
    at_ref = fit.result.context.nll(_natural(fit, ref))
    assert fit.result.nll == pytest.approx(at_ref, rel=1e-10, abs=1e-8)


def _natural(fit: fits.Fitted, ref: models.Reference) -> dict[str, np.ndarray | float]:
    """The reference values laid out like the result's params."""
    flat = iter(ref.estimates[lab] for lab in fit.result.free_labels)
    out: dict[str, np.ndarray | float] = {}
    for key, value in fit.result.params.items():
        if key in fit.result.derived:  # functions of the free parameters, not inputs of the NLL
            continue
        shape = np.shape(value)
        vals = [next(flat) for _ in range(int(np.prod(shape)) if shape else 1)]
        out[key] = np.reshape(vals, shape) if shape else vals[0]
    return out


# ---------------------------------------------------------------------------------------------
# refusals


@pytest.mark.parametrize("name", _params(REFUSED))
def test_refused(name):
    entry = models.BY_NAME[name]
    kind, pattern = entry.refusal
    if isinstance(kind, str):
        kind = getattr(pl, kind)
        assert issubclass(kind, ValueError)
    model = entry.build()
    with pytest.raises(kind, match=pattern):
        pl.mle(model)


def test_discrete_switchpoint_refusal_says_what_to_do():
    model = models.build_coal_discrete()
    with pytest.raises(ValueError, match="discrete") as info:
        pl.mle(model)
    message = str(info.value)
    assert "switchpoint" in message and "early_rate" not in message
    assert "Marginalize" in message


def test_continuous_switchpoint_is_not_shown_clean():
    """The likelihood is a step function of a continuous switchpoint: no strict optimum, so no
    standard error for it (the pair of rates alone is fitted in the fixed-switchpoint model)."""
    res = _fit("coal_mining_continuous_switchpoint").result
    assert not res.converged
    assert np.isnan(res.se["switchpoint"])


# ---------------------------------------------------------------------------------------------
# model-specific checks


def test_weibull_potential_n_obs_note():
    """Without n_obs= the count is the observed variable's (the events), with a note and BIC
    NaN: the Potential's censored times cannot be counted; with n_obs=500 BIC uses 500."""
    t, event = models.weibull_data()
    fit = _fit("weibull_survival")
    result, error, _, _ = fits.fit_recorded(fit.model)
    assert error is None and result.converged
    assert result.n_obs == int(event.sum())
    assert "y_cens" in result.n_obs_note
    assert np.isnan(result.bic)
    assert result.params["mu"] == pytest.approx(fit.result.params["mu"], rel=1e-9)
    given = fit.result
    assert given.n_obs == t.size and given.n_obs_note == ""
    assert given.bic == pytest.approx(2 * np.log(t.size) - 2 * given.loglik, rel=1e-12)


def test_weibull_deterministics_alpha_beta():
    fit = _fit("weibull_survival")
    res, error, _, _ = fits.fit_recorded(fit.model, n_obs=500, report=["alpha", "beta"])
    assert error is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, nat = models.weibull_fits()  # fitted in (alpha, beta) directly
    for k, name in enumerate(["alpha", "beta"]):
        assert res.params[name] == pytest.approx(nat.theta[k], rel=EST_TOL)
        assert res.se[name] == pytest.approx(nat.se[k], rel=SE_TOL)
    # the free parameters are still reported, unchanged
    assert res.params["mu"] == pytest.approx(fit.result.params["mu"], rel=1e-9)


def test_lkj_stds_and_correlations_by_default():
    """chol_stds and chol_corr (3 and 9 elements, fewer than the 400 observations) are reported
    by default: the sample SDs and correlations (divisor n), SEs sd / sqrt(2n) and
    (1 - r^2) / sqrt(n) (the delta method at the Normal's MLE)."""
    res = _fit("mvnormal_lkj").result
    cf = models.mvnormal_closed_form()
    n = len(models.mvnormal_data())
    np.testing.assert_allclose(res.params["chol_stds"], cf["stds"], rtol=EST_TOL)
    np.testing.assert_allclose(res.se["chol_stds"], cf["stds"] / np.sqrt(2 * n), rtol=SE_TOL)
    np.testing.assert_allclose(res.params["chol_corr"], cf["corr"], rtol=EST_TOL, atol=EST_TOL)
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_allclose(
        np.asarray(res.se["chol_corr"])[off], ((1 - cf["corr"] ** 2) / np.sqrt(n))[off], rtol=SE_TOL
    )


def test_lkj_covariance_is_the_sample_covariance():
    res = _fit("mvnormal_lkj").result
    cf = models.mvnormal_closed_form()
    packed = np.asarray(res.params["chol"])
    L = np.zeros((3, 3))
    L[np.tril_indices(3)] = packed
    np.testing.assert_allclose(L @ L.T, cf["S"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(res.params["mu"], cf["mean"], rtol=1e-6)


def test_set_data_refit_equals_a_fresh_model():
    """pm.set_data on the fitted model, then pl.mle again: the fit of the new data, equal to the
    fit of a model built on them and to statsmodels' Logit."""
    fit = _fit("logistic_regression_data")
    x2, y2 = models.logistic_data(seed=99, n=600)
    x1, y1 = models.logistic_data()
    try:
        with fit.model:
            pm.set_data({"x": x2, "y": y2})
        refit, error, _, _ = fits.fit_recorded(fit.model)
    finally:
        with fit.model:
            pm.set_data({"x": x1, "y": y1})
    assert error is None and refit.converged and not refit.diagnostics
    fresh, error, caught, _ = fits.fit_recorded(models.build_logistic(x2, y2))
    assert error is None and not [w for w in caught if isinstance(w.message, pl.PPLMLEWarning)]
    ref = models.ref_logistic(x2, y2)
    assert refit.n_obs == fresh.n_obs == 600
    assert refit.labels == fresh.labels == list(ref.estimates)
    np.testing.assert_allclose(refit.vector(refit.params), fresh.vector(fresh.params), rtol=1e-8)
    np.testing.assert_allclose(refit.vector(refit.se), fresh.vector(fresh.se), rtol=1e-6)
    est_err, se_err = fits.errors(refit, ref)
    assert max(est_err.values()) <= EST_TOL and max(se_err.values()) <= SE_TOL
    assert refit.data_key == fresh.data_key != fit.result.data_key
    # the first result still describes the first data
    assert fit.result.n_obs == 800


def test_radon_partial_pooling_flattened_is_no_pooling():
    """hierarchy="flatten" fits the group effects without their hyperprior: the no-pooling MLE,
    with the hyperparameters NaN and flagged."""
    model = models.build_radon_partial_pooling()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pl.PPLMLEWarning)
        res = pl.mle(model, hierarchy="flatten")
    ref = fits.reference("radon_no_pooling")
    est = dict(zip(res.labels, res.vector(res.params), strict=True))
    se = dict(zip(res.labels, res.vector(res.se), strict=True))
    for lab, value in ref.estimates.items():
        assert est[lab] == pytest.approx(value, rel=EST_TOL)
        assert se[lab] == pytest.approx(ref.se[lab], rel=SE_TOL)
    for hyper in ("mu_alpha", "sigma_alpha"):
        assert np.isnan(est[hyper]) and np.isnan(se[hyper])
        assert hyper in res.flags
    assert res.n_obs == 91
