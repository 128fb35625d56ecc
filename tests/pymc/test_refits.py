"""Refits of one model reuse what find_MAP compiled: find_MAP still runs on every fit, on the same
graphs, and a refit gives the value of a first fit (new data through pm.Data included)."""

import numpy as np
import pymc as pm
import pytest
import statsmodels.api as sm

import pplmle as pl
from pplmle.pymc.engine import adopt
from pplmle.pymc.fitting import model_engine


def _regression(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = 2.0 + X @ np.array([0.5, -1.0, 0.25]) + rng.normal(size=n)
    return X, y


@pytest.fixture(scope="module")
def data_model():
    X, y = _regression(200, 0)
    with pm.Model(coords={"col": ["a", "b", "c"]}) as model:
        Xd = pm.Data("X", X)
        yd = pm.Data("y", y)
        icpt = pm.Normal("icpt", 0.0, 10.0)
        beta = pm.Normal("beta", 0.0, 10.0, dims="col")
        sigma = pm.HalfNormal("sigma", 5.0)
        pm.Normal("obs", icpt + pm.math.dot(Xd, beta), sigma, observed=yd, shape=Xd.shape[0])
    return model


def _ols(X, y):
    fit = sm.OLS(y, sm.add_constant(X)).fit()
    return fit.params, np.sqrt(fit.ssr / len(y))


def test_a_refit_runs_find_map_on_the_functions_it_compiled_and_equals_the_first_fit(data_model):
    first = pl.mle(data_model, strict=True)
    engine, _ = model_engine(data_model, "MLE", "raise")
    kept = dict(engine.model._find_map_functions)
    assert {key[0] for key in kept} >= {"logp", "dlogp", "unobserved"}
    # find_MAP's check of the start is answered by pplmle's own evaluation there: no function of
    # each term's log-density is compiled, and none is evaluated
    assert "point_logps" not in {key[0] for key in kept}
    again = pl.mle(data_model, strict=True)
    # nothing new was compiled for find_MAP, and each function is the one the first fit compiled
    assert engine.model._find_map_functions.keys() == kept.keys()
    assert all(engine.model._find_map_functions[k] is f for k, f in kept.items())
    assert again == first  # the same route on the same graphs: the same value
    assert "find_MAP (L-BFGS-B) then Newton" in again.message
    assert type(data_model) is pm.Model  # the user's model is not the one adopted


def test_refits_on_new_data_through_pm_data_match_least_squares(data_model):
    for n, seed in ((200, 1), (57, 2), (1000, 3)):  # new values, and new lengths
        X, y = _regression(n, seed)
        with data_model:
            pm.set_data({"X": X, "y": y})
        res = pl.mle(data_model, strict=True)
        coef, sigma = _ols(X, y)
        np.testing.assert_allclose(res.params["icpt"], coef[0], rtol=1e-10)
        np.testing.assert_allclose(res.params["beta"], coef[1:], rtol=1e-10)
        np.testing.assert_allclose(res.params["sigma"], sigma, rtol=1e-10)
        assert res.n_obs == n
        # and a fresh model on the same data gives the same value
        with pm.Model(coords={"col": ["a", "b", "c"]}) as fresh:
            icpt = pm.Normal("icpt", 0.0, 10.0)
            beta = pm.Normal("beta", 0.0, 10.0, dims="col")
            sigma_rv = pm.HalfNormal("sigma", 5.0)
            pm.Normal("obs", icpt + pm.math.dot(X, beta), sigma_rv, observed=y)
        other = pl.mle(fresh, strict=True)
        for name in ("icpt", "beta", "sigma"):
            np.testing.assert_allclose(res.params[name], other.params[name], rtol=1e-11)
            np.testing.assert_allclose(res.se[name], other.se[name], rtol=1e-8)


def test_family_refits_on_other_data_reuse_the_family_model():
    rng = np.random.default_rng(5)
    fits = [pl.mle(pl.Gamma(rng.gamma(shape, 3.0, size=80)), strict=True) for shape in (0.7, 2.0, 9.0)]
    for shape, res in zip((0.7, 2.0, 9.0), fits, strict=True):
        assert res.converged and res.params["alpha"] == pytest.approx(shape, rel=0.6)
    x = rng.gamma(2.0, 3.0, size=80)
    assert pl.mle(pl.Gamma(x)) == pl.mle(pl.Gamma(x.copy()))


def test_a_start_outside_the_support_is_refused_by_name_on_a_refit(data_model):
    X, y = _regression(200, 0)
    with data_model:
        pm.set_data({"X": X, "y": y})
    pl.mle(data_model)
    # refused by name before find_MAP runs (whose own check of the start a refit answers from
    # pplmle's evaluation there, test above): sigma < 0
    with pytest.raises(ValueError, match=r"`start` lies outside the support.*\['sigma'\]"):
        pl.mle(data_model, start={"sigma": -1.0})


def test_only_plain_pm_models_are_adopted():
    class Custom(pm.Model):
        pass

    with Custom() as custom:
        pm.Normal("x", 0.0, 1.0)
    assert type(adopt(custom)) is Custom


def test_a_fit_evaluates_a_point_once_and_forgets_what_it_kept_when_the_data_change(data_model):
    pl.mle(data_model)  # compiled, and its data synced with the user's model
    engine, _ = model_engine(data_model, "MLE", "raise")
    single, u = engine.single, engine.u_default + 0.1
    calls = []
    real_vg = single._vg

    def counted(point):
        calls.append(1)
        return real_vg(point)

    saved = engine.data_snapshot()
    single._vg = counted
    try:
        with engine.lock:
            before = engine.objective(u)
            with single.remembering():
                assert engine.objective(u) == engine.objective(u) == before
                assert len(calls) == 2  # once outside the block, once inside
                engine.set_data({"y": saved["y"] + 1.0})
                shifted = engine.objective(u)  # evaluated again on the new data, not the kept value
                assert len(calls) == 3
            assert engine.objective(u) == shifted  # outside a fit: evaluated every time
            assert len(calls) == 4
    finally:
        single._vg = real_vg
        with engine.lock:
            engine.set_data({"y": saved["y"]})
    assert shifted != before
    with engine.lock:
        assert engine.objective(u) == before


def test_find_maps_log_density_and_gradient_are_the_engines_and_equal_pymcs(data_model):
    pl.mle(data_model)
    engine, _ = model_engine(data_model, "MLE", "raise")
    model = engine.model
    point = {name: np.reshape(0.3 + 0.1 * np.arange(size), shape) for name, shape, size in engine.point_map}
    served = model.compile_logp(jacobian=False)
    assert served is model.compile_logp(jacobian=False)  # compiled once, by the engine
    own = pm.Model.compile_logp(model, jacobian=False)  # PyMC's own function, as a reference
    np.testing.assert_allclose(served(point), own(point), rtol=1e-13)
    order = list(reversed(model.free_RVs))  # any order find_MAP asks for
    np.testing.assert_allclose(
        model.compile_dlogp(order, jacobian=False)(point),
        pm.Model.compile_dlogp(model, order, jacobian=False)(point),
        rtol=1e-12,
    )
    # with the Jacobian term, or for some of the variables, PyMC compiles as usual
    with_jacobian = model.compile_logp()
    np.testing.assert_allclose(with_jacobian(point), pm.Model.compile_logp(model)(point), rtol=1e-13)
    some = model.compile_dlogp(order[:1], jacobian=False)
    np.testing.assert_allclose(
        some(point), pm.Model.compile_dlogp(model, order[:1], jacobian=False)(point), rtol=1e-12
    )


def _first_fit_on_the_original_data(model):
    """The module's model given back its first data (other tests set new data), and its fit."""
    X, y = _regression(200, 0)
    with model:
        pm.set_data({"X": X, "y": y})
    return pl.mle(model, strict=True)


def test_a_refit_compiles_no_initial_point_and_starts_find_map_where_the_fit_asks(data_model, monkeypatch):
    import pymc.initial_point
    import pymc.tuning.starting

    first = _first_fit_on_the_original_data(data_model)
    compiled = []
    real = pymc.initial_point.compile

    def counting(*args, **kwargs):  # PyMC's own compile, counted
        compiled.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pymc.initial_point, "compile", counting)
    again = pl.mle(data_model, strict=True)
    assert compiled == []  # find_MAP's initial-point function was served, not compiled
    assert "find_MAP (L-BFGS-B) then Newton" in again.message
    for name in ("icpt", "beta", "sigma"):
        np.testing.assert_allclose(again.params[name], first.params[name], rtol=1e-13)
    # a start of the user's: find_MAP starts there (a wrong start would end elsewhere or fail)
    engine, _ = model_engine(data_model, "MLE", "raise")
    u0 = engine.to_unconstrained({"icpt": 1.0, "beta": [0.0, 0.0, 0.0], "sigma": 2.0})
    served = engine.model
    served.starting_at({"icpt": 1.0}, engine.point_from_u(u0))
    pending = served.__dict__["_find_map_start"][1]
    np.testing.assert_array_equal(np.concatenate([np.ravel(v) for v in pending.values()]), u0)
    assert served.initial_point_for({"icpt": 1.0}) is None  # only for that very start object
    # PyMC's own initial points, for any model pplmle does not own, are PyMC's
    assert compiled == []
    with pm.Model() as user:
        pm.Normal("mu", 0.0, 1.0)
        pm.HalfNormal("s", 1.0)
    point = pymc.tuning.starting.make_initial_point_fn(model=user, overrides={"mu": 2.5, "s": 3.0})(None)
    assert compiled == [1]
    assert point["mu"] == 2.5 and point["s_log__"] == pytest.approx(np.log(3.0), rel=1e-15)


def test_find_map_on_a_users_model_is_unchanged_by_pplmle(data_model):
    pl.mle(data_model)  # pplmle serves its own models' initial points from here on
    x = np.random.default_rng(8).normal(3.0, 2.0, size=50)
    with pm.Model() as user:
        mu = pm.Flat("mu")
        sigma = pm.HalfFlat("sigma")
        pm.Normal("x", mu, sigma, observed=x)
    point = pm.find_MAP(model=user, start={"mu": -4.0, "sigma": 10.0}, progressbar=False)
    np.testing.assert_allclose(point["mu"], x.mean(), rtol=1e-6)
    np.testing.assert_allclose(point["sigma"], x.std(), rtol=1e-5)
    assert type(user) is pm.Model


def test_a_refit_builds_find_maps_graph_of_unobserved_values_once_and_leaves_pymcs_logger_as_set(
    data_model, monkeypatch
):
    import hashlib
    import logging

    first = _first_fit_on_the_original_data(data_model)
    built = []
    real = pm.Model.unobserved_value_vars

    def counting(model):  # PyMC's own graph, counted
        built.append(1)
        return real.fget(model)

    monkeypatch.setattr(pm.Model, "unobserved_value_vars", property(counting))
    logger = logging.getLogger("pymc")
    level, filters = logger.level, list(logger.filters)
    again = pl.mle(data_model, strict=True)
    assert built == []  # find_MAP was handed the graph the first fit built
    assert again == first
    # find_MAP's messages are silenced for the call only: the user's level and filters are kept
    assert logger.level == level and logger.filters == filters
    # PyMC's own models still build theirs
    with pm.Model() as user:
        m = pm.Normal("m", 0.0, 1.0)
        pm.Deterministic("twice", 2.0 * m)
    assert [v.name for v in user.unobserved_value_vars] == ["m", "twice"] and built == [1]
    # a family fitted in units fingerprints the data as given (scaled back a block at a time):
    # the key of a user model on the same data, and the SHA-1 of its shape and bytes
    x = np.random.default_rng(5).normal(3.0e6, 1.0e4, size=100_003)
    fam = pl.mle(pl.Normal(x), strict=True)
    digest = hashlib.sha1(str(x.shape).encode() + x.tobytes()).hexdigest()
    with pm.Model() as same:
        pm.Normal("x", pm.Flat("mu"), pm.HalfFlat("sigma"), observed=x)
    assert fam.data_key == digest == pl.mle(same, start={"mu": 3.0e6, "sigma": 1.0e4}).data_key
