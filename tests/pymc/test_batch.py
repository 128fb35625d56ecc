"""The vectorized engine: B fits side by side must equal B separate fits."""

import numpy as np
import pymc as pm
import pytest

import pplmle as pl
from pplmle.pymc.batch import BatchEngine, assess, batch_engine, constrained, newton
from pplmle.pymc.fitting import family_engine, model_engine

N, B = 30, 40


@pytest.fixture(scope="module")
def normal():
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, size=(B, N))
    fam = pl.Normal(X[0])
    engine = family_engine(fam)
    engine.set_data(fam.data())
    # the family fits x / unit (a power of two) and reports in the units of x: the replicates
    # share its unit, so the batch is given X / unit
    return engine, batch_engine(engine, ["x"]), X, {"x": X / fam.unit}


def test_batch_values_equal_single_engine(normal):
    engine, batch, _, D = normal
    U = np.random.default_rng(1).normal(size=(B, 2))
    full = batch.full(U, D)
    for b in (0, 7, B - 1):
        engine.set_data({"x": D["x"][b]})
        single = engine.info(U[b])
        np.testing.assert_allclose(full["objective"][b], single["objective"], rtol=1e-12)
        np.testing.assert_allclose(full["loglik"][b], single["loglik"], rtol=1e-12)
        np.testing.assert_allclose(full["grad"][b], single["grad_u"], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(full["hess"][b], single["hess_u"], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(full["reported"][b], single["reported"], rtol=1e-12)
    engine.set_data({"x": D["x"][0]})


def test_newton_reaches_the_closed_form(normal):
    _, batch, X, D = normal
    U0 = np.zeros((B, 2))  # a poor start (mu = 0, sigma = 1) for data centred at 3 with sd 2
    U, iters = newton(batch, U0, D)
    res = assess(batch, U, D, 1e-6)
    assert res["ok"].all()
    np.testing.assert_allclose(res["reported"][:, 0], X.mean(axis=1), rtol=1e-10)
    np.testing.assert_allclose(res["reported"][:, 1], X.std(axis=1), rtol=1e-10)
    # observed-information standard errors of the Normal: sigma/sqrt(n) and sigma/sqrt(2n)
    se = np.sqrt(np.diagonal(res["cov"], axis1=1, axis2=2))
    np.testing.assert_allclose(se[:, 0], X.std(axis=1) / np.sqrt(N), rtol=1e-8)
    np.testing.assert_allclose(se[:, 1], X.std(axis=1) / np.sqrt(2 * N), rtol=1e-8)
    assert iters.max() < 30


def test_constrained_fit_equals_the_exact_profile(normal):
    _, batch, X, D = normal
    U, _ = newton(batch, np.zeros((B, 2)), D)
    # sigma held at 2: mu = mean(x); NLL = n log 2 + S / 8 + n/2 log(2 pi)
    _, f, ok = constrained(batch, U, D, 1, np.full(B, 2.0))
    S = ((X - X.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    assert ok.all()
    np.testing.assert_allclose(f, N * np.log(2.0) + S / 8.0 + N / 2 * np.log(2 * np.pi), rtol=1e-10)
    # mu held at 3: sigma^2 = mean((x - 3)^2)
    _, f, ok = constrained(batch, U, D, 0, np.full(B, 3.0))
    s2 = ((X - 3.0) ** 2).mean(axis=1)
    assert ok.all()
    np.testing.assert_allclose(f, N / 2 * np.log(s2) + N / 2 + N / 2 * np.log(2 * np.pi), rtol=1e-10)


def test_assess_refuses_an_unbounded_likelihood():
    with pm.Model() as model:
        x = pm.Data("x", np.array([1.0, 2.0, 4.0]))
        mu = pm.Normal("mu", 0, 10)
        sigma = pm.HalfNormal("sigma", 10)
        pm.Normal("obs", mu, sigma, observed=x)
    engine, _ = model_engine(model, "MLE", "raise")
    batch = BatchEngine(engine, ["x"])
    data = {"x": np.array([[3.0, 3.0, 3.0], [1.0, 2.0, 4.0]])}  # constant data: sigma -> 0
    U, _ = newton(batch, np.zeros((2, 2)), data)
    res = assess(batch, U, data, 1e-6)
    assert res["ok"].tolist() == [False, True]
    np.testing.assert_allclose(res["reported"][1], [7 / 3, np.sqrt(14 / 9)], rtol=1e-10)


def test_a_graph_that_does_not_vectorize_gives_no_batch_engine():
    # the Categorical log-likelihood indexes log p by the (batched) class codes
    fam = pl.Categorical([0, 1, 2, 1], k=3)
    engine = family_engine(fam)
    engine.set_data(fam.data())
    assert batch_engine(engine, ["y"]) is None


def test_unknown_container_is_refused(normal):
    engine, _, _, _ = normal
    with pytest.raises(ValueError, match=r"no pm.Data container\(s\) \['z'\]"):
        BatchEngine(engine, ["z"])
