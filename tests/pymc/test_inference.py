"""summary(), wald_test, predict, covariance types and fixed= pinned against statsmodels, on the
datasets statsmodels ships (spector, longley, cpunish, randhie)."""

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import statsmodels.api as sm

import pplmle as pl

EST, SE = 1e-6, 1e-5


def close(a, b, rtol, atol=0.0):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol, atol=atol)


# -- logistic regression: the spector data (Spector and Mazzeo 1980) -------------------------------
@pytest.fixture(scope="module")
def spector():
    d = sm.datasets.spector.load_pandas()
    X, y = d.exog, d.endog
    fam = pl.LogisticRegression(X, y)
    return X, y, fam, pl.mle(fam), sm.Logit(y, sm.add_constant(X)).fit(disp=0, tol=1e-12, maxiter=100)


def test_logit_summary_matches_statsmodels(spector):
    _X, _y, _, res, ref = spector
    s = res.summary()
    h = s.header_dict()
    t = s.to_frame()
    close(t["estimate"], ref.params, EST)
    close(t["se"], ref.bse, SE)
    close(t["z"], ref.tvalues, SE)
    close(t["P>|z|"], ref.pvalues, SE)
    ci = ref.conf_int()
    close(t["lower 95%"], ci[0], SE)
    close(t["upper 95%"], ci[1], SE)
    close(h["Log-likelihood"], ref.llf, 1e-10)
    close(h["LL-null"], ref.llnull, 1e-10)
    close(h["Pseudo R-squared (McFadden)"], ref.prsquared, 1e-8)
    close(h["LLR p-value"], ref.llr_pvalue, SE)
    close(h["Deviance"], -2 * ref.llf, 1e-10)
    assert h["Df residuals"] == ref.df_resid == 28
    assert h["Dependent variable"] == "GRADE"
    assert s.verdict == "MLE of LogisticRegression: converged to a verified optimum."
    text = str(s)
    assert text.splitlines()[0] == s.verdict
    assert "P>|z|" in text and "Details:" in text
    assert "<table>" in s._repr_html_()


def test_logit_robust_and_cluster_match_statsmodels(spector):
    X, y, fam, _, _ = spector
    Xc = sm.add_constant(X)
    hc0 = pl.mle(fam, cov_type="robust")
    ref = sm.Logit(y, Xc).fit(disp=0, tol=1e-12, cov_type="HC0")
    close(hc0.vector(hc0.se), ref.bse, SE)
    assert hc0.cov_type == "robust"
    groups = np.arange(len(y)) % 8
    cl = pl.mle(fam, cov_type="cluster", groups=groups)
    ref = sm.Logit(y, Xc).fit(disp=0, tol=1e-12, cov_type="cluster", cov_kwds={"groups": groups})
    close(cl.vector(cl.se), ref.bse, SE)
    close(cl.summary().to_frame()["P>|z|"], ref.pvalues, SE)


def test_logit_wald_test_matches_statsmodels(spector):
    _, _, _, res, ref = spector
    ours = res.wald_test("beta[GPA] = beta[PSI], beta[TUCE] = 0")
    theirs = ref.wald_test("GPA = PSI, TUCE = 0", scalar=True)
    close(ours.statistic, theirs.statistic, SE)
    close(ours.pvalue, theirs.pvalue, SE)
    assert ours.df == 2 and ours.distribution == "chi2"
    # the same hypotheses as a matrix with its right side
    R = np.array([[0, 1, 0, -1], [0, 0, 1, 0]])
    assert np.isclose(res.wald_test((R, [0, 0])).statistic, ours.statistic, rtol=1e-12)
    # a single hypothesis is the square of the coefficient's z
    one = res.wald_test("beta[TUCE]")
    close(one.statistic, ref.tvalues["TUCE"] ** 2, SE)


def test_logit_predict_matches_statsmodels(spector):
    X, _, _, res, ref = spector
    new = X.iloc[[0, 4, 9, 20]]
    ours = res.predict(new)
    theirs = ref.get_prediction(sm.add_constant(X).iloc[[0, 4, 9, 20]]).summary_frame()
    close(ours["mean"], theirs["predicted"], EST)
    close(ours["mean_se"], theirs["se"], SE)
    close(ours["lower 95%"], theirs["ci_lower"], SE)
    close(ours["upper 95%"], theirs["ci_upper"], SE)
    delta = res.predict(new, interval="delta")
    close(delta["lower 95%"], ours["mean"] - 1.959963984540054 * ours["mean_se"], 1e-12)
    # columns are matched by name, whatever their order
    close(res.predict(new[["PSI", "GPA", "TUCE"]])["mean"], ours["mean"], 1e-14)


def test_logit_fixed_is_the_smaller_model_and_lr_test_agrees(spector):
    X, y, fam, full, _ = spector
    res = pl.mle(fam, fixed={"beta[TUCE]": 0.0})
    ref = sm.Logit(y, sm.add_constant(X[["GPA", "PSI"]])).fit(disp=0, tol=1e-12)
    free = ["intercept", "beta[GPA]", "beta[PSI]"]
    close([res.params["intercept"], *res.params["beta"][[0, 2]]], ref.params, EST)
    close(res.table().loc[free, "se"], ref.bse, SE)
    close(res.loglik, ref.llf, 1e-10)
    assert res.converged and res.fixed == ("beta[TUCE]",) and res.n_params == 3
    assert res.params["beta"][1] == 0.0 and np.isnan(res.se["beta"][1])
    assert res.summary().to_frame().loc["beta[TUCE]", "flag"] == "fixed"
    lr = pl.lr_test(res, full)
    close(lr.statistic, 2 * (full.loglik - ref.llf), 1e-8)
    assert lr.df == 1
    # a prediction from the fit with TUCE held at 0 is the smaller model's prediction
    new = X.iloc[[0, 4, 9, 20]]
    theirs = ref.get_prediction(sm.add_constant(X[["GPA", "PSI"]]).iloc[[0, 4, 9, 20]]).summary_frame()
    ours = res.predict(new)
    close(ours["mean"], theirs["predicted"], EST)
    close(ours["mean_se"], theirs["se"], SE)
    with pytest.raises(ValueError, match=r"`fixed\['beta\[GPA\]'\]` must be a finite real number; got True"):
        pl.mle(fam, fixed={"beta[GPA]": True})


# -- linear regression: the Longley data (condition number ~5e9) -----------------------------------
@pytest.fixture(scope="module")
def longley():
    d = sm.datasets.longley.load_pandas()
    X, y = d.exog, d.endog
    fam = pl.LinearRegression(X, y)
    return X, y, fam, pl.mle(fam), sm.OLS(y, sm.add_constant(X)).fit()


def test_ols_summary_with_t_and_unbiased_sigma_is_lm(longley):
    _, _, _, res, ref = longley
    t = res.summary(use_t=True, unbiased_sigma=True).to_frame()
    coef = t.drop(index="sigma")
    close(coef["estimate"], ref.params, EST)
    close(coef["se"], ref.bse, SE)
    close(coef["t"], ref.tvalues, SE)
    close(coef["P>|t|"], ref.pvalues, SE)
    close(coef["lower 95%"], ref.conf_int()[0], SE)
    close(t.loc["sigma", "estimate"], np.sqrt(ref.scale), EST)
    h = res.summary().header_dict()
    close(h["R-squared"], ref.rsquared, 1e-8)
    close(h["Log-likelihood"], ref.llf, 1e-9)
    assert h["Df residuals"] == ref.df_resid == 9
    # the default is the MLE, and says so
    plain = res.summary()
    close(plain.to_frame().drop(index="sigma")["se"], ref.bse * np.sqrt(9 / 16), SE)
    assert any("divide by n - p" in note for note in plain.notes)


def test_ols_robust_types_match_statsmodels(longley):
    X, y, fam, _, _ = longley
    Xc = sm.add_constant(X)
    for ours, theirs in [("HC0", "HC0"), ("robust", "HC0"), ("HC1", "HC1")]:
        res = pl.mle(fam, cov_type=ours)
        ref = sm.OLS(y, Xc).fit(cov_type=theirs)
        close(res.table().drop(index="sigma")["se"], ref.bse, SE)
    groups = np.repeat(np.arange(4), 4)
    res = pl.mle(fam, cov_type="cluster", groups=groups)
    ref = sm.OLS(y, Xc).fit(cov_type="cluster", cov_kwds={"groups": groups})
    close(res.table().drop(index="sigma")["se"], ref.bse, SE)


def test_ols_f_test_matches_statsmodels(longley):
    _, _, _, res, _ = longley
    # the F form with the unbiased covariance is statsmodels' f_test; pplmle's cov is the MLE's,
    # so the statistic differs from it by (n - p) / n exactly
    X, y = sm.datasets.longley.load_pandas().exog, sm.datasets.longley.load_pandas().endog
    ref = sm.OLS(y, sm.add_constant(X)).fit().f_test("GNPDEFL = 0, GNP = 0")
    ours = res.wald_test("beta[GNPDEFL] = 0, beta[GNP] = 0", use_f=True)
    close(ours.statistic * 9 / 16, float(np.squeeze(ref.fvalue)), SE)
    assert ours.df == 2 and ours.df_denom == 9


# -- Poisson GLM: the cpunish data (executions by state) ---------------------------------------------
@pytest.fixture(scope="module")
def cpunish():
    d = sm.datasets.cpunish.load_pandas()
    X = d.exog.copy()
    X["INCOME"] = np.log(X["INCOME"])
    y = d.endog
    fam = pl.PoissonRegression(X, y)
    ref = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson()).fit(tol=1e-13)
    return X, y, fam, pl.mle(fam), ref


def test_poisson_glm_summary_matches_statsmodels(cpunish):
    _, _, _, res, ref = cpunish
    s = res.summary()
    t, h = s.to_frame(), s.header_dict()
    close(t["estimate"], ref.params, EST)
    close(t["se"], ref.bse, SE)
    close(t["P>|z|"], ref.pvalues, SE)
    close(h["Log-likelihood"], ref.llf, 1e-10)
    close(h["LL-null"], ref.llnull, 1e-10)
    close(h["Deviance"], ref.deviance, 1e-8)
    close(h["Pseudo R-squared (McFadden)"], 1 - ref.llf / ref.llnull, 1e-8)


def test_poisson_glm_robust_and_predict_match_statsmodels(cpunish):
    X, y, fam, res, ref = cpunish
    Xc = sm.add_constant(X)
    hc0 = pl.mle(fam, cov_type="HC0")
    close(
        hc0.vector(hc0.se), sm.GLM(y, Xc, family=sm.families.Poisson()).fit(tol=1e-13, cov_type="HC0").bse, SE
    )
    # HC1 is HC0 times n / (n - k) (MacKinnon and White); statsmodels applies that factor to OLS
    # only (its GLM and discrete "HC1" equal their HC0), so the reference is scaled by hand here
    hc1 = pl.mle(fam, cov_type="HC1")
    ref0 = sm.GLM(y, Xc, family=sm.families.Poisson()).fit(tol=1e-13, cov_type="HC0")
    close(hc1.vector(hc1.se), ref0.bse * np.sqrt(17 / (17 - 7)), SE)
    ours = res.predict(X.iloc[:6])
    theirs = ref.get_prediction(Xc.iloc[:6]).summary_frame()
    close(ours["mean"], theirs["mean"], EST)
    close(ours["mean_se"], theirs["mean_se"], SE)
    close(ours["lower 95%"], theirs["mean_ci_lower"], SE)
    close(ours["upper 95%"], theirs["mean_ci_upper"], SE)


# -- negative binomial regression through a user pm.Model: the RAND health insurance data ----------
@pytest.fixture(scope="module")
def randhie():
    d = sm.datasets.randhie.load_pandas().data.iloc[:1500]
    y = d["mdvis"].to_numpy()
    Xc = sm.add_constant(d.drop(columns="mdvis"))
    with pm.Model(coords={"coef": list(Xc.columns)}) as model:
        X = pm.Data("X", Xc.to_numpy())
        b = pm.Normal("b", 0, 10, dims="coef")
        alpha = pm.HalfNormal("alpha", 1)  # statsmodels' NB2 alpha: var = mu + alpha mu^2
        mu = pm.Deterministic("mu", pm.math.exp(X @ b))
        pm.NegativeBinomial("visits", mu=mu, alpha=1 / alpha, observed=y)
    ref = sm.NegativeBinomial(y, Xc).fit(method="newton", tol=1e-13, maxiter=200, disp=0)
    return Xc, y, model, pl.mle(model), ref


def test_negative_binomial_matches_statsmodels(randhie):
    _Xc, _y, _model, res, ref = randhie
    s = res.summary()
    t = s.to_frame()
    close(t["estimate"], ref.params, EST)
    close(t["se"], ref.bse, SE)
    close(t["P>|z|"], ref.pvalues, SE)
    close(res.loglik, ref.llf, 1e-10)
    assert s.header_dict()["Dependent variable"] == "visits"
    w = res.wald_test("b[lncoins] = 0, b[idp] = b[lpi]")
    theirs = ref.wald_test("lncoins = 0, idp = lpi", scalar=True)
    close(w.statistic, theirs.statistic, SE)
    close(w.pvalue, theirs.pvalue, SE)


@pytest.fixture(scope="module")
def randhie_hc0(randhie):
    _Xc, _y, model, _, _ = randhie
    return pl.mle(model, cov_type="HC0")


def test_negative_binomial_robust_matches_statsmodels(randhie, randhie_hc0):
    Xc, y, _, _, _ = randhie
    ref = sm.NegativeBinomial(y, Xc).fit(method="newton", tol=1e-13, maxiter=200, disp=0, cov_type="HC0")
    close(randhie_hc0.vector(randhie_hc0.se), ref.bse, SE)


def test_negative_binomial_predict_through_pm_data(randhie, randhie_hc0):
    Xc, _y, model, res, ref = randhie
    new = Xc.iloc[:5].to_numpy() * np.array([1, 0.5, 1, 1, 1, 1, 1, 1, 1, 1])
    ours = res.predict({"X": new}, var="mu")
    close(ours["mu"], ref.predict(new), EST)
    # the delta method by hand, with each fit's own covariance: grad of exp(x b) is exp(x b) x.
    # The robust fit's prediction uses its sandwich; a fit with b[idp] held at 0 gives that
    # coefficient no variance (its row and column of the reported covariance are NaN).
    held = pl.mle(model, fixed={"b[idp]": 0.0})
    for fit in (res, randhie_hc0, held):
        got = fit.predict({"X": new}, var="mu")
        V = np.nan_to_num(fit.cov.to_numpy()[:10, :10])
        se = got["mu"].to_numpy() * np.sqrt(np.einsum("ij,jk,ik->i", new, V, new))
        close(got["se"], se, 1e-8)
    assert not np.allclose(randhie_hc0.predict({"X": new}, var="mu")["se"], ours["se"], rtol=1e-3)
    # the fitted data are untouched by the prediction
    close(res.nllf(), -res.loglik, 1e-12)
    with pytest.raises(ValueError, match=r"`var` must name a pm.Deterministic of the model \(\['mu'\]\)"):
        res.predict({"X": new}, var="eta")
    with pytest.raises(ValueError, match=r"`new_data` names \['Z'\], which are not pm.Data"):
        res.predict({"Z": new}, var="mu")


# -- bad input --------------------------------------------------------------------------------------
def test_bad_arguments(spector):
    _, _y, fam, res, _ = spector
    with pytest.raises(ValueError, match=r"`cov_type` must be one of .*; got 'sandwich'"):
        pl.mle(fam, cov_type="sandwich")
    with pytest.raises(ValueError, match=r"`cov_type='cluster'` needs `groups=`"):
        pl.mle(fam, cov_type="cluster")
    with pytest.raises(ValueError, match=r"`groups=` is for `cov_type='cluster'`"):
        pl.mle(fam, groups=np.zeros(32))
    with pytest.raises(ValueError, match=r"`groups` must give one cluster per observation \(32"):
        pl.mle(fam, cov_type="cluster", groups=np.arange(5))
    with pytest.raises(ValueError, match=r"`fixed` names unknown parameter labels \['gpa'\]"):
        pl.mle(fam, fixed={"gpa": 0.0})
    with pytest.raises(ValueError, match=r"`fixed\['beta\[GPA\]'\]` must be a finite real number; got nan"):
        pl.mle(fam, fixed={"beta[GPA]": float("nan")})
    with pytest.raises(ValueError, match=r"`cov_type='robust'` cannot be combined with `fixed=`"):
        pl.mle(fam, fixed={"beta[GPA]": 0.0}, cov_type="robust")
    with pytest.raises(ValueError, match=r"`unbiased_sigma=True` needs a linear regression"):
        res.summary(unbiased_sigma=True)
    with pytest.raises(ValueError, match=r"`interval` must be 'link' or 'delta'; got 'wald'"):
        res.predict(interval="wald")
    with pytest.raises(ValueError, match=r"`new_data` must have the fitted columns \['GPA', 'TUCE', 'PSI'\]"):
        res.predict(pd.DataFrame({"GPA": [3.0]}))
    with pytest.raises(ValueError, match=r"`cov_type='expected'` is defined for the built-in families"):
        with pm.Model() as m:
            mu = pm.Normal("mu")
            pm.Normal("y", mu, 1, observed=[1.0, 2.0])
        pl.mle(m, cov_type="expected")


def test_expected_information_of_a_family_is_the_observed_at_the_mle(cpunish):
    _, _, fam, res, ref = cpunish
    exp = pl.mle(fam, cov_type="expected")
    assert exp.cov_type == "expected" and exp.cov.equals(res.cov)
    # statsmodels' GLM standard errors are from the expected information (IRLS)
    close(exp.vector(exp.se), ref.bse, SE)


def test_a_fit_with_fixed_values_refuses_what_would_refit_the_full_model(spector):
    _, _, fam, _, _ = spector
    res = pl.mle(fam, fixed={"beta[TUCE]": 0.0})
    with pytest.raises(
        ValueError, match=r"`method='profile'` is not available for a fit with parameters held"
    ):
        res.conf_int(method="profile")
    with pytest.raises(
        ValueError, match=r"`bootstrap` refits the full model; this fit holds \['beta\[TUCE\]'\]"
    ):
        res.bootstrap(reps=10)
    with pytest.raises(ValueError, match=r"may not involve parameters held fixed"):
        res.wald_test("beta[TUCE] = 1")
    again = pl.mle(fam, fixed={"beta[TUCE]": 0.0})
    assert again == res  # a value: the same fit twice compares equal
    import pickle

    assert pickle.loads(pickle.dumps(res)) == res


def test_poisson_fixed_coefficient_is_an_offset_in_statsmodels(cpunish):
    X, y, fam, full, _ = cpunish
    res = pl.mle(fam, fixed={"beta[INCOME]": 0.5})
    rest = X.drop(columns="INCOME")
    ref = sm.GLM(y, sm.add_constant(rest), family=sm.families.Poisson(), offset=0.5 * X["INCOME"]).fit(
        tol=1e-13
    )
    t = res.table()
    free = ["intercept", *(f"beta[{c}]" for c in rest.columns)]
    close(t.loc[free, "estimate"], ref.params, EST)
    close(t.loc[free, "se"], ref.bse, SE)
    close(res.loglik, ref.llf, 1e-10)
    assert res.converged and res.params["beta"][list(X.columns).index("INCOME")] == 0.5
    close(pl.lr_test(res, full).statistic, 2 * (full.loglik - ref.llf), 1e-7)
