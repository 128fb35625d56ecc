"""Labels from the model's coords: ``beta[age]``, ``city_offset[Berlin, Jan]``, everywhere labels are used.

One small model in the style of the PyMC gallery (a two-way table of city by month effects, and a
noise scale), fitted once; its labels must reach the table, the covariance, the intervals, the
profiles, the surfaces, the comparison with a hand-written NLL, the simulation and bootstrap tables
and the ``az.InferenceData`` (whose posterior carries the model's dims and coordinate values).
"""

import numpy as np
import pymc as pm
import pytest
import scipy.stats

import pplmle as pl
from pplmle.workflows.surfaces import surface

CITIES, MONTHS = ["Berlin", "Paris"], ["Jan", "Feb"]
LABELS = [f"city_offset[{c}, {m}]" for c in CITIES for m in MONTHS] + ["sigma"]


@pytest.fixture(scope="module")
def table_data():
    rng = np.random.default_rng(11)
    city, month = np.repeat([0, 0, 1, 1], 15), np.tile(np.repeat([0, 1], 15), 2)
    effect = np.array([[10.0, 12.0], [8.0, 9.5]])
    y = effect[city, month] + rng.normal(0.0, 1.5, size=city.size)
    return city, month, y


@pytest.fixture(scope="module")
def model(table_data):
    city, month, y = table_data
    with pm.Model(coords={"city": CITIES, "month": MONTHS}) as m:
        y_data = pm.Data("y_data", y)
        offset = pm.Normal("city_offset", 10.0, 5.0, dims=("city", "month"))
        sigma = pm.HalfNormal("sigma", 3.0)
        pm.Normal("y", offset[city, month], sigma, observed=y_data)
    return m


@pytest.fixture(scope="module")
def fit(model):
    return pl.mle(model, strict=True)


def test_labels_come_from_the_coordinates(fit, table_data):
    city, month, y = table_data
    assert fit.labels == LABELS
    assert list(fit.table().index) == LABELS
    assert list(fit.cov.index) == LABELS and list(fit.cov.columns) == LABELS
    assert list(fit.conf_int().index) == LABELS
    # the cell means are the MLE of a two-way table with one mean per cell
    means = [y[(city == c) & (month == m)].mean() for c in range(2) for m in range(2)]
    np.testing.assert_allclose(fit.table()["estimate"].to_numpy()[:4], means, rtol=1e-10)
    assert "city_offset[Paris, Feb]" in repr(fit)


def test_profiles_and_surfaces_take_the_coordinate_labels(fit):
    est = float(fit.params["city_offset"][1, 0])
    prof = pl.profile(fit, "city_offset[Paris, Jan]", [est - 0.5, est, est + 0.5])
    assert prof.dims == ("city_offset[Paris, Jan]",)
    assert float(prof.sel({"city_offset[Paris, Jan]": est})) == pytest.approx(fit.loglik, rel=1e-10)
    lo, hi = fit.conf_int(method="profile").loc["city_offset[Paris, Jan]"]
    assert lo < est < hi
    surf = surface(fit, {"city_offset[Berlin, Feb]": np.linspace(11.0, 13.0, 5)})
    assert surf.names == ["city_offset[Berlin, Feb]"]
    with pytest.raises(ValueError, match=r"must be one of the scalar parameters .*got .city_offset\[1, 0\]"):
        pl.profile(fit, "city_offset[1, 0]", [est])


def test_compare_with_a_hand_written_nll_is_labelled_by_coordinates(model, table_data):
    city, month, y = table_data

    def nll(p):
        return -scipy.stats.norm.logpdf(y, np.asarray(p["city_offset"])[city, month], p["sigma"]).sum()

    cmp = pl.compare(model, nll=nll, gradient_descent=False)
    assert cmp.agree
    assert list(cmp.table.index)[: len(LABELS)] == LABELS  # then the NLL row


def test_simulation_and_bootstrap_tables_are_labelled_by_coordinates(model, fit):
    true = {"city_offset": np.array([[10.0, 12.0], [8.0, 9.5]]), "sigma": 1.5}
    sim = pl.simulate(model, true, reps=3, seed=1, progressbar=False, profile=False)
    assert list(sim.summary().index) == LABELS
    assert list(sim.estimates.columns)[: len(LABELS)] == LABELS  # then the per-fit columns
    boot = fit.bootstrap(reps=3, kind="parametric", seed=2, progressbar=False)
    assert list(boot.table.index) == LABELS


def test_inference_data_has_the_models_dims_and_coordinates(fit):
    idata = fit.to_inference_data(draws=2000, seed=0)
    post = idata.posterior
    assert post["city_offset"].dims == ("chain", "draw", "city", "month")
    assert post["city"].values.tolist() == CITIES and post["month"].values.tolist() == MONTHS
    assert post["sigma"].dims == ("chain", "draw")
    np.testing.assert_allclose(
        post["city_offset"].std(("chain", "draw")).sel(city="Paris", month="Feb"),
        fit.se["city_offset"][1, 1],
        rtol=0.05,
    )
    assert idata.mle["parameter"].values.tolist() == LABELS
