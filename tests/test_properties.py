"""Property tests: for any valid data, the compiled fit equals the closed form."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import pplmle as pl

finite = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)


@settings(max_examples=30, deadline=None)
@given(
    x=arrays(float, st.integers(3, 60), elements=finite).filter(
        lambda a: np.ptp(a) > 1e-3 * (1 + np.abs(a).max())
    )
)
def test_normal_mle_is_mean_and_divide_by_n_sd(x):
    res = pl.mle(pl.Normal(x), optimizer="compiled", strict=True)
    sd = np.sqrt(np.mean((x - x.mean()) ** 2))
    np.testing.assert_allclose(res.params["sigma"], sd, rtol=1e-8)
    # mu to 1e-8 standard errors of the mean (a relative tolerance fails for means near 0)
    np.testing.assert_allclose(res.params["mu"], x.mean(), atol=1e-8 * sd, rtol=1e-10)


@settings(max_examples=30, deadline=None)
@given(x=arrays(np.int64, st.integers(1, 60), elements=st.integers(0, 500)).filter(lambda a: a.sum() > 0))
def test_poisson_mle_is_mean(x):
    res = pl.mle(pl.Poisson(x), optimizer="compiled", strict=True)
    np.testing.assert_allclose(res.params["lam"], x.mean(), rtol=1e-8)
