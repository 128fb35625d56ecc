"""Results are values: they pickle with the standard library, compare equal by content, and
are safe to use from several threads at once.

Each result owns a snapshot of its data; the compiled engine behind it is shared by every fit
of the same structure (and rebuilt from the pickled model in another process).
"""

import pickle
import subprocess
import sys
import threading
import warnings

import numpy as np
import pymc as pm
import pytest

import pplmle as pl

RNG = np.random.default_rng(20261201)
X1 = RNG.normal(10.0, 2.0, 40)
X2 = RNG.normal(-3.0, 0.5, 25)


def _closed_form_nll(x, mu, sigma):
    return 0.5 * x.size * np.log(2 * np.pi * sigma**2) + np.sum((x - mu) ** 2) / (2 * sigma**2)


def _user_model(y=X1) -> pm.Model:
    with pm.Model(coords={"obs": np.arange(y.size)}) as model:
        data = pm.Data("y_data", y, dims="obs")
        mu = pm.Flat("mu")
        sigma = pm.HalfFlat("sigma")
        pm.Deterministic("var", sigma**2)
        pm.Normal("y", mu, sigma, observed=data, dims="obs")
    return model


@pytest.fixture(scope="module")
def results():
    return {
        "family": pl.mle(pl.Normal(X1)),
        "other": pl.mle(pl.Normal(X2)),
        "user": pl.mle(_user_model()),
    }


@pytest.fixture(scope="module")
def derived(results):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pl.PPLMLEWarning)
        return {
            "simulation": pl.simulate(
                pl.Normal, {"mu": 1.0, "sigma": 2.0}, n=30, reps=8, seed=3, progressbar=False
            ),
            "bootstrap": results["family"].bootstrap(10, seed=4, progressbar=False),
            "surface": pl.surface(pl.Normal(X1), {"mu": np.linspace(9.0, 11.0, 5)}, {"sigma": 2.0}),
            "comparison": pl.compare(pl.Normal(X1)),
        }


def test_mle_result_pickles_and_keeps_its_likelihood(results):
    for res in results.values():
        back = pickle.loads(pickle.dumps(res))
        assert back == res
        assert back is not res
        # the likelihood is recomputed from the pickled model and data
        probe = {"mu": float(res.params["mu"]) + 0.3, "sigma": float(res.params["sigma"]) * 1.1}
        assert back.nllf(probe) == pytest.approx(res.nllf(probe), rel=1e-12)


def test_unpickled_user_model_result_profiles_like_the_original(results):
    res = results["user"]
    back = pickle.loads(pickle.dumps(res))
    np.testing.assert_allclose(
        back.conf_int(0.9, method="profile").to_numpy(),
        res.conf_int(0.9, method="profile").to_numpy(),
        rtol=1e-9,
    )


def test_result_from_a_pickle_works_in_a_fresh_process(results, tmp_path):
    res = results["user"]
    path = tmp_path / "result.pkl"
    path.write_bytes(pickle.dumps(res))
    probe = {"mu": 9.5, "sigma": 2.5}
    code = (
        "import pickle, sys, warnings; warnings.simplefilter('ignore');"
        f"r = pickle.loads(open({str(path)!r}, 'rb').read());"
        f"print(repr(r.nllf({probe!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600
    )
    assert float(out.stdout.strip().splitlines()[-1]) == pytest.approx(res.nllf(probe), rel=1e-12)
    assert res.nllf(probe) == pytest.approx(_closed_form_nll(X1, 9.5, 2.5), rel=1e-12)


def test_equality_is_by_content(results):
    a, b = results["family"], pl.mle(pl.Normal(X1.copy()))
    assert a == b  # two fits of the same data: equal values
    assert not (a == results["other"])
    assert a != results["other"]
    assert (a == "not a result") is False
    with pytest.raises(TypeError, match="unhashable"):
        hash(a)


def test_profile_intervals_are_computed_once_and_do_not_change_the_value(results):
    res = pl.mle(pl.Normal(X2))
    before = pickle.dumps(res.params), res == results["other"]
    first = res.conf_int(0.95, method="profile")
    first.iloc[0, 0] = -1e9  # the caller's copy is theirs to change
    again = res.conf_int(0.95, method="profile")
    assert again.iloc[0, 0] != -1e9
    assert {("profile interval", label, 0.95) for label in res.labels} <= set(res.context.cache)
    assert (pickle.dumps(res.params), res == results["other"]) == before


@pytest.mark.parametrize("name", ["simulation", "bootstrap", "surface", "comparison"])
def test_derived_results_pickle_and_compare(derived, name):
    value = derived[name]
    back = pickle.loads(pickle.dumps(value))
    assert back == value
    assert not (back != value)
    with pytest.raises(TypeError, match="unhashable"):
        hash(value)


def test_derived_results_differ_when_their_content_does(derived):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pl.PPLMLEWarning)
        other = pl.simulate(pl.Normal, {"mu": 1.0, "sigma": 2.0}, n=30, reps=8, seed=5, progressbar=False)
    assert other != derived["simulation"]
    moved = pl.surface(pl.Normal(X1), {"mu": np.linspace(9.0, 11.0, 5)}, {"sigma": 2.5})
    assert moved != derived["surface"]


def test_surface_is_read_only(derived):
    with pytest.raises(AttributeError, match="is a value"):
        derived["surface"].dataset = None


def _run_threads(target, n: int = 4):
    errors: list[BaseException] = []

    def wrapped(i):
        try:
            target(i)
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_two_threads_evaluate_two_results_of_one_structure(results):
    # both Normal results share one compiled engine; each must see only its own data
    pairs = [(results["family"], X1), (results["other"], X2)]

    def work(i):
        res, x = pairs[i % 2]
        for k in range(25):
            mu, sigma = float(np.mean(x)) + 0.01 * k, float(np.std(x)) * 1.2
            assert res.nllf({"mu": mu, "sigma": sigma}) == pytest.approx(
                _closed_form_nll(x, mu, sigma), rel=1e-12
            )

    _run_threads(work)


def test_threads_fit_and_profile_at_once(results):
    data = [X1, X2, X1 * 3.0 + 1.0, X2 - 7.0]

    def work(i):
        x = data[i]
        res = pl.mle(pl.Normal(x))
        assert res.converged
        np.testing.assert_allclose(res.params["mu"], x.mean(), rtol=1e-10)
        lo, hi = res.conf_int(0.95, method="profile").loc["mu"]
        assert lo < x.mean() < hi

    _run_threads(work)


def test_bootstrap_of_a_user_model_that_does_not_vectorize():
    # a Categorical likelihood indexed by group: PyTensor cannot batch its graph, so each
    # replicate is fitted on its own (this used to dereference the missing batch engine)
    rng = np.random.default_rng(0)
    g, y = rng.integers(0, 3, 60), rng.integers(0, 3, 60)
    with pm.Model() as model:
        gd, yd = pm.Data("g", g), pm.Data("yd", y)
        p = pm.Dirichlet("p", np.ones((3, 3)))
        pm.Categorical("y", p=p[gd], observed=yd)
    res = pl.mle(model)
    boot = res.bootstrap(12, seed=1, progressbar=False)
    table = boot.table
    assert (table["used"] == 12).all()
    # each row of p sums to one in every replicate, and the MLE is the observed frequencies
    est = boot.estimates.drop(columns=["converged", "diagnostics"]).to_numpy().reshape(12, 3, 3)
    np.testing.assert_allclose(est.sum(axis=2), 1.0, rtol=1e-8)
    freq = np.array([[np.mean(y[g == a] == b) for b in range(3)] for a in range(3)])
    np.testing.assert_allclose(res.params["p"], freq, atol=1e-7)


def test_diagnostics_are_typed_and_say_whether_an_mle_exists():
    from pplmle.core.diagnostics import NO_MLE, Diagnostic

    X = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pl.PPLMLEWarning)
        separated = pl.mle(pl.LogisticRegression(X, np.array([0, 0, 1, 1])))
    assert separated.diagnostics == (Diagnostic.SEPARATION,)
    assert isinstance(separated.diagnostics[0], Diagnostic)
    assert "separation" in separated.diagnostics  # members are their strings
    assert separated.mle_exists is False
    assert Diagnostic.SEPARATION.no_mle and not Diagnostic.BOUNDARY.no_mle
    assert {d.value for d in NO_MLE} == {"separation", "drift", "unbounded likelihood"}
    clean = pl.mle(pl.Normal(X1))
    assert clean.diagnostics == () and clean.mle_exists
    assert pickle.loads(pickle.dumps(separated)) == separated
