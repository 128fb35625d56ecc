"""The block-sparse curvature (pplmle.core.blocks) against dense NumPy linear algebra.

The matrices are random symmetric positive definite matrices with the structure of mixed models'
curvatures (blocks of several sizes, their rows shuffled, a dense border of fixed effects), built
here and factored densely as the reference.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from pplmle.core.blocks import Structure, pattern_of


def block_matrix(rng, sizes, p, *, sparse_inside=False):
    """A random SPD matrix (q + p) with diagonal blocks of `sizes` among the first q rows (rows
    shuffled), a dense border of p rows, and its latent block's products function."""
    q = sum(sizes)
    H = np.zeros((q, q))
    start = 0
    for s in sizes:
        A = rng.normal(size=(s, s))
        B = A @ A.T + s * np.eye(s)
        if sparse_inside and s > 2:  # an arrow: the first effect meets the others, they not each other
            B = np.diag(np.diag(B))
            B[0, 1:] = B[1:, 0] = 0.3 * rng.normal(size=s - 1)
            B[0, 0] += s
        H[start : start + s, start : start + s] = B
        start += s
    perm = rng.permutation(q)
    H = H[np.ix_(perm, perm)]
    M = np.zeros((q + p, q + p))
    M[:q, :q] = H
    if p:
        X = rng.normal(size=(q, p))
        M[:q, q:] = X
        M[q:, :q] = X.T
        M[q:, q:] = X.T @ np.linalg.solve(H, X) + np.diag(rng.uniform(1.0, 3.0, size=p))
    return M


def compressed(st: Structure, M: np.ndarray) -> np.ndarray:
    q = st.q
    return M[:q, :q] @ st.seeds


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=1, max_size=12),
    p=st.integers(0, 3),
    sparse_inside=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_factor_matches_dense_linear_algebra(sizes, p, sparse_inside, seed):
    rng = np.random.default_rng(seed)
    M = block_matrix(rng, sizes, p, sparse_inside=sparse_inside)
    q = sum(sizes)
    P = pattern_of(lambda E: M[:q, :q] @ E, q, chunk=5)
    np.testing.assert_array_equal(P.toarray(), (M[:q, :q] != 0) | np.eye(q, dtype=bool))
    structure = Structure(P, p)
    # a valid colouring: no two columns of a colour share a row, so each product reads one entry
    for c in range(structure.c):
        cols = np.flatnonzero(structure.colour == c)
        assert np.all(P[:, cols].sum(axis=1) <= 1)
    assert structure.c <= max(sizes)  # conflicts stay inside a block
    HS = compressed(structure, M)
    f = structure.factor(HS, M[:q, q:], M[q:, q:])
    assert f is not None
    sign, logdet = np.linalg.slogdet(M)
    assert sign > 0
    np.testing.assert_allclose(f.logdet(), logdet, rtol=1e-10, atol=1e-10)
    r = rng.normal(size=q + p)
    np.testing.assert_allclose(f.solve(r), np.linalg.solve(M, r), rtol=1e-8, atol=1e-10)
    C = np.linalg.inv(M)
    W, Cxb, Cbb = f.selected_inverse()
    # sum(W * (dH S)) == sum(C * dH) over the latent block, for any dH with H's pattern
    dH = np.where(P.toarray(), rng.normal(size=(q, q)), 0.0)
    dH = dH + dH.T
    traced = np.sum(W * (dH @ structure.seeds))
    np.testing.assert_allclose(traced, np.sum(C[:q, :q] * dH), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(Cxb, C[:q, q:], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(Cbb, C[q:, q:], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(f.border_inverse(), C[q:, q:], rtol=1e-8, atol=1e-10)
    J = rng.normal(size=(4, q)) * (rng.uniform(size=(4, q)) < 0.3)
    np.testing.assert_allclose(f.sandwich_diagonal(J), np.diag(J @ C[:q, :q] @ J.T), rtol=1e-8, atol=1e-10)


def test_random_intercepts_take_one_product():
    """A diagonal curvature (one random intercept per group) is measured by a single product."""
    d = np.random.default_rng(0).uniform(1.0, 2.0, size=50)
    P = pattern_of(lambda E: d[:, None] * E, 50)
    structure = Structure(P)
    assert structure.c == 1 and structure.largest == 1
    f = structure.factor(d[:, None] * structure.seeds)
    np.testing.assert_allclose(f.logdet(), np.sum(np.log(d)), rtol=1e-12)


def test_a_missed_entry_is_caught_by_the_random_products():
    """A pattern that misses an entry reads the curvature wrongly, and the check says so."""
    rng = np.random.default_rng(1)
    M = block_matrix(rng, [2, 3, 1], 0)
    q = 6
    full = Structure(pattern_of(lambda E: M @ E, q))
    V = rng.normal(size=(q, 2))
    assert full.mismatch(M @ full.seeds, M @ V, V) < 1e-14
    diagonal = Structure(sp.identity(q, format="csr", dtype=bool))
    assert diagonal.mismatch(M @ diagonal.seeds, M @ V, V) > 1e-3


def test_not_positive_definite_is_none_and_damping_makes_it_so():
    M = np.diag([1.0, -0.5, 2.0])
    structure = Structure(pattern_of(lambda E: M @ E, 3))
    assert structure.factor(M @ structure.seeds) is None
    assert structure.factor(M @ structure.seeds, damping=2.0) is not None
    bad = M.copy()
    bad[0, 0] = np.nan
    assert structure.factor(bad @ structure.seeds) is None


@pytest.mark.parametrize("q", [1, 7])
def test_dense_structure_is_one_block(q):
    rng = np.random.default_rng(q)
    A = rng.normal(size=(q, q))
    M = A @ A.T + q * np.eye(q)
    structure = Structure.dense(q)
    assert structure.c == q and structure.largest == q
    f = structure.factor(M @ structure.seeds)
    np.testing.assert_allclose(f.logdet(), np.linalg.slogdet(M)[1], rtol=1e-12)
