"""A family written by a user, exactly as in the README ("Writing your own family").

The Weibull MLE has no closed form; the reference is the profile score equation in the shape,
solved by bisection, and the standard errors are those of the analytic observed information.
"""

import inspect
import pathlib
import re

import numpy as np
import pymc as pm
import pytest
from scipy import stats
from scipy.optimize import brentq

import pplmle as pl
from pplmle.core.validate import check_not_constant, check_positive


class Weibull(pl.Family):
    """``x_i ~ Weibull(alpha, beta)`` with shape `alpha` and scale `beta`, x > 0."""

    param_names = ("alpha", "beta")
    no_closed_form = "The score equation for the shape alpha is nonlinear, so it is solved numerically."

    def __init__(self, x):
        super().__init__()
        self.x = check_positive("x", x, "Weibull")  # ValueError naming `x`, the rule, the value
        check_not_constant("x", self.x, "Weibull")

    @property
    def n_obs(self):
        return self.x.size

    def data(self):
        return {"x": self.x}

    def declare(self, data):
        alpha = pm.HalfFlat("alpha")  # flat priors on the support: the MAP is the MLE
        beta = pm.HalfFlat("beta")
        pm.Weibull("obs", alpha=alpha, beta=beta, observed=data["x"])

    def start(self):
        return {"alpha": 1.0, "beta": float(np.mean(self.x))}  # the exponential fit

    def hand_nll(self):  # for pl.compare: the NLL by scipy.stats, every constant included
        return lambda p: -np.sum(stats.weibull_min.logpdf(self.x, p["alpha"], scale=p["beta"]))


X = stats.weibull_min.rvs(1.7, scale=3.0, size=60, random_state=np.random.default_rng(42))


def reference_mle(x):
    """Solve 1/a + mean(log x) - sum(x^a log x) / sum(x^a) = 0; then b = mean(x^a)^(1/a)."""
    lx = np.log(x / np.max(x))  # scaled: x^a neither overflows nor underflows

    def score(a):
        w = np.exp(a * lx)
        return 1.0 / a + np.mean(lx) - np.sum(w * lx) / np.sum(w)

    a = brentq(score, 1e-3, 1e3, xtol=1e-15, rtol=1e-15)
    b = np.max(x) * np.mean(np.exp(a * lx)) ** (1.0 / a)
    return a, b


def observed_information(x, a, b):
    """The analytic Hessian of the Weibull NLL in (alpha, beta)."""
    n, L = x.size, np.log(x / b)
    zk = (x / b) ** a
    h_aa = n / a**2 + np.sum(zk * L**2)
    h_bb = -n * a / b**2 + a * (a + 1) / b**2 * np.sum(zk)
    h_ab = n / b - np.sum(zk) / b - a / b * np.sum(zk * L)
    return np.array([[h_aa, h_ab], [h_ab, h_bb]])


@pytest.fixture(scope="module")
def fit():
    return pl.mle(Weibull(X))


@pytest.fixture(scope="module")
def comparison():
    return pl.compare(Weibull(X))


def test_mle_matches_the_profile_score_equation(fit):
    a, b = reference_mle(X)
    assert fit.converged and not fit.diagnostics
    np.testing.assert_allclose([fit.params["alpha"], fit.params["beta"]], [a, b], rtol=1e-6)
    # scipy's own generic fit agrees too, to its looser tolerance
    c, _, scale = stats.weibull_min.fit(X, floc=0)
    np.testing.assert_allclose([fit.params["alpha"], fit.params["beta"]], [c, scale], rtol=1e-3)


def test_standard_errors_are_those_of_the_observed_information(fit):
    a, b = reference_mle(X)
    cov = np.linalg.inv(observed_information(X, a, b))
    np.testing.assert_allclose([fit.se["alpha"], fit.se["beta"]], np.sqrt(np.diag(cov)), rtol=1e-5)
    np.testing.assert_allclose(fit.loglik, -Weibull(X).hand_nll()({"alpha": a, "beta": b}), rtol=1e-12)


def test_compare_runs_the_hand_written_nll_and_says_there_is_no_closed_form(comparison):
    comparison.assert_agree()
    assert comparison.equivalent is True
    assert list(comparison.table.columns[:2]) == ["find_MAP", "scipy"]
    assert "closed_form" not in comparison.table.columns
    assert f"No closed form for Weibull: {Weibull.no_closed_form}" in comparison.notes
    a, b = reference_mle(X)
    np.testing.assert_allclose(comparison.estimates["scipy"]["alpha"], a, rtol=1e-6)
    np.testing.assert_allclose(comparison.estimates["scipy"]["beta"], b, rtol=1e-6)


def test_compare_without_a_hand_written_nll_says_so():
    class Bare(Weibull):
        def hand_nll(self):
            return None

    cmp = pl.compare(Bare(X))
    assert list(cmp.table.columns) == ["find_MAP"] and cmp.equivalent is None
    assert any("No hand-written NLL for Bare" in note for note in cmp.notes)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ([1.0, -2.0, 3.0], r"`x` must be positive for Weibull; found -2.0 at index 1"),
        ([2.0, 2.0, 2.0], r"`x` must contain at least two different values for Weibull"),
        ([1.0, np.nan], r"`x` must be finite; found nan at index 1"),
        (["a", "b"], r"`x` must be numeric"),
    ],
)
def test_bad_input_is_refused(data, match):
    with pytest.raises(ValueError, match=match):
        Weibull(data)


def test_a_subclass_missing_an_abstract_method_cannot_be_instantiated():
    class NoDeclare(pl.Family):
        param_names = ("lam",)
        n_obs = 3

        def data(self):
            return {"x": np.ones(3)}

        def start(self):
            return {"lam": 1.0}

    with pytest.raises(TypeError, match=r"abstract .*declare"):
        NoDeclare()
    with pytest.raises(TypeError, match=r"abstract .*start"):
        type("NoStart", (Weibull,), {"start": pl.Family.start})(X)


def test_simulation_hooks_say_what_to_implement():
    with pytest.raises(NotImplementedError, match=r"Weibull does not support simulation.*`template`"):
        pl.simulate(Weibull, true={"alpha": 1.5, "beta": 2.0}, n=10, reps=2, seed=0)
    with pytest.raises(NotImplementedError, match=r"Weibull does not support the nonparametric bootstrap"):
        Weibull(X).resample(np.arange(3))


def test_the_readme_shows_this_family():
    readme = (pathlib.Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("### Writing your own family", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert inspect.getsource(Weibull) in code
    here = pathlib.Path(__file__).read_text()
    imports = [line for line in code.splitlines() if line.startswith(("import ", "from "))]
    assert imports and all(line in here for line in imports)
