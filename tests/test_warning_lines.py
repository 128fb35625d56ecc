"""Every warning names the user's line: the file and line that called pplmle, never a line inside
the package, however deep the warning was raised (a fit, a comparison's likelihood check, a
simulation's replicate count, a comparison of models, a surface)."""

import inspect
import warnings

import numpy as np
import pytest

import pplmle as pl

X_SEP = np.arange(1.0, 7.0)[:, None]
Y_SEP = np.array([0, 0, 0, 1, 1, 1])


def _caught(call):
    """The warnings `call` raised, and the line it was called on (the line after this one's caller)."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        line = inspect.currentframe().f_back.f_lineno
        call()
    return [w for w in rec if issubclass(w.category, pl.PPLMLEWarning)], line


def _assert_at_user_line(rec, line):
    assert rec, "no pplmle warning was raised"
    for w in rec:
        assert (w.filename, w.lineno) == (__file__, line), f"{w.category.__name__} at {w.filename}:{w.lineno}"


def test_fit_warning_points_at_the_call_of_mle():
    rec, line = _caught(lambda: pl.mle(pl.LogisticRegression(X_SEP, Y_SEP)))
    assert any(issubclass(w.category, pl.SeparationWarning) for w in rec)
    _assert_at_user_line(rec, line)


def test_comparison_likelihood_check_points_at_the_call_of_compare():
    x = pl.datasets.heights()

    def nll_without_constant(p):
        return np.sum((x - p["mu"]) ** 2) / (2 * p["sigma"] ** 2) + x.size * np.log(p["sigma"])

    rec, line = _caught(lambda: pl.compare(pl.Normal(x), nll=nll_without_constant, gradient_descent=False))
    assert any(issubclass(w.category, pl.LikelihoodMismatchWarning) for w in rec)
    _assert_at_user_line(rec, line)


def test_simulation_replicate_counts_point_at_the_call_of_simulate():
    kw = {"true": {"p": 0.1}, "n": 8, "reps": 50, "seed": 1, "progressbar": False}
    rec, line = _caught(lambda: pl.simulate(pl.Bernoulli, **kw))
    assert any("replicates raised BoundaryWarning" in str(w.message) for w in rec)
    _assert_at_user_line(rec, line)


def test_model_comparison_of_an_untrusted_fit_points_at_the_call():
    with pytest.warns(pl.SeparationWarning):
        sep = pl.mle(pl.LogisticRegression(X_SEP, Y_SEP))
    with pytest.warns(pl.SeparationWarning):
        sep_null = pl.mle(pl.LogisticRegression(np.column_stack([X_SEP, X_SEP[:, 0] ** 2]), Y_SEP))
    rec, line = _caught(lambda: pl.compare_models({"linear": sep, "quadratic": sep_null}))
    assert any(issubclass(w.category, pl.ConvergenceWarning) for w in rec)
    _assert_at_user_line(rec, line)
