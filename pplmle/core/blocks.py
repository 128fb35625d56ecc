"""Symmetric curvatures with sparse structure: measured by few Hessian-vector products, factored
block by block.

The curvature ``H`` (q x q) of the group effects of a mixed model is sparse, and block diagonal up
to a permutation: the effects of one group meet only each other (random intercepts: ``H`` is
diagonal; an intercept and a slope per group: 2 x 2 blocks; nested or crossed factors: the
connected components of the factors' co-occurrence). Two facts make that cheap:

- **Compression** (Curtis, Powell and Reid 1974): columns of ``H`` with no row in common can be
  measured together, by one product ``H v`` with ``v`` the sum of their unit vectors. A greedy
  colouring of the columns gives ``c`` such seed vectors (``c = 1`` for random intercepts); the
  products ``H S`` (q x c) hold every entry of ``H``, read back through the pattern.
- **Blocks**: ``H`` is factored, inverted and its log-determinant taken block by block (the
  connected components of its pattern), blocks of a size batched in one LAPACK call.

A dense border (``p`` rows and columns, the fixed effects that REML integrates) is handled by its
Schur complement. The pattern is what :func:`pattern_of` measured; a caller checks it with
:meth:`Structure.mismatch` (the compressed ``H`` against full products with random vectors).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

__all__ = ["Factor", "Structure", "pattern_of"]


def pattern_of(products: Callable[[np.ndarray], np.ndarray], q: int, chunk: int = 256) -> sp.csr_matrix:
    """The nonzero pattern (symmetrized, with the diagonal) of the q x q matrix whose products with
    the columns of a (q, b) matrix `products` returns (q, b), from the unit vectors in chunks."""
    rows, cols = [], []
    for start in range(0, q, chunk):
        stop = min(q, start + chunk)
        E = np.zeros((q, stop - start))
        E[np.arange(start, stop), np.arange(stop - start)] = 1.0
        block = np.asarray(products(E))
        i, j = np.nonzero(block != 0.0)
        rows.append(i)
        cols.append(j + start)
    i, j = np.concatenate(rows), np.concatenate(cols)
    data = np.ones(i.size + q, dtype=bool)
    P = sp.csr_matrix((data, (np.r_[i, np.arange(q)], np.r_[j, np.arange(q)])), shape=(q, q))
    return ((P + P.T) > 0).tocsr()


def _colouring(P: sp.csr_matrix) -> np.ndarray:
    """A greedy distance-2 colouring of the columns of the symmetric pattern `P`: columns sharing
    a row get different colours (largest degree first)."""
    q = P.shape[0]
    A = (P.T @ P).tocsr()  # columns j, k conflict when A[j, k] != 0
    colour = np.full(q, -1)
    order = np.argsort(-np.diff(A.indptr), kind="stable")
    for j in order:
        nb = A.indices[A.indptr[j] : A.indptr[j + 1]]
        used = colour[nb]
        used = used[used >= 0]
        if used.size == 0:
            colour[j] = 0
            continue
        taken = np.zeros(used.max() + 2, dtype=bool)
        taken[used] = True
        colour[j] = int(np.argmin(taken))
    return colour


@dataclass(frozen=True)
class _Group:
    """Blocks factored together, padded to one size S (sizes rounded up to a power of two, so a
    few LAPACK calls serve blocks of many sizes): their indices (m, S), ``q`` in a padded slot;
    where each entry is read in the flat compressed products (m, S, S), masked where the pattern
    is zero; and the identity on the padded slots."""

    idx: np.ndarray
    flat: np.ndarray
    mask: np.ndarray
    pad: np.ndarray


def _bucket(size: int) -> int:
    return 1 << (size - 1).bit_length()


class Structure:
    """The measured sparsity of a q x q curvature, with a dense border of `p` rows: the seed
    matrix of its compressed products and its blocks."""

    def __init__(self, P: sp.csr_matrix, p: int = 0):
        q = P.shape[0]
        self.q, self.p = q, p
        self.pattern = P
        self.colour = _colouring(P) if q else np.zeros(0, dtype=int)
        self.c = int(self.colour.max()) + 1 if q else 0
        self.seeds = np.zeros((q, self.c))
        self.seeds[np.arange(q), self.colour] = 1.0
        _, label = connected_components(P, directed=False) if q else (0, np.zeros(0, dtype=int))
        buckets: dict[int, list[np.ndarray]] = {}
        for comp in np.unique(label):
            members = np.flatnonzero(label == comp)
            buckets.setdefault(_bucket(members.size), []).append(members)
        self.largest = int(np.bincount(label).max()) if q else 0
        self.groups = []
        colour = np.append(self.colour, 0)
        for size, comps in sorted(buckets.items()):
            idx = np.full((len(comps), size), q)
            for i, mem in enumerate(comps):
                idx[i, : mem.size] = mem
            real = idx < q
            flat = np.where(
                real[:, :, None] & real[:, None, :],
                np.minimum(idx, q - 1)[:, :, None] * self.c + colour[idx][:, None, :],
                0,
            )
            safe = np.minimum(idx, q - 1)
            ii = np.broadcast_to(safe[:, :, None], flat.shape).ravel()
            jj = np.broadcast_to(safe[:, None, :], flat.shape).ravel()
            inside = np.asarray(P[ii, jj])
            mask = inside.reshape(flat.shape) & real[:, :, None] & real[:, None, :]
            pad = np.einsum("mi,ij->mij", (~real).astype(float), np.eye(size))
            self.groups.append(_Group(idx, flat, mask, pad))

    @classmethod
    def dense(cls, q: int, p: int = 0) -> Structure:
        """No structure: every entry may be nonzero (q products, one block)."""
        return cls(sp.csr_matrix(np.ones((q, q), dtype=bool)), p)

    def blocks(self, HS: np.ndarray) -> list[np.ndarray]:
        """The symmetrized diagonal blocks of H, group by group (m, s, s), from its compressed
        products ``HS = H @ seeds`` (q, c)."""
        flat = np.asarray(HS, dtype=float).ravel()
        out = []
        for g in self.groups:
            B = np.where(g.mask, flat[g.flat], 0.0)
            out.append(0.5 * (B + np.swapaxes(B, 1, 2)) + g.pad)
        return out

    def _extend(self, R: np.ndarray) -> np.ndarray:
        """`R` (q, b) with a zero row q for the padded slots."""
        return np.vstack([R, np.zeros((1, R.shape[1]))])

    def matvec(self, HS: np.ndarray, V: np.ndarray) -> np.ndarray:
        """``H @ V`` (q, b) from the compressed products."""
        V = self._extend(np.asarray(V, dtype=float).reshape(self.q, -1))
        out = np.zeros_like(V)
        for g, B in zip(self.groups, self.blocks(HS), strict=True):
            out[g.idx] = np.einsum("mij,mjb->mib", B, V[g.idx])
        return out[: self.q]

    def mismatch(self, HS: np.ndarray, HV: np.ndarray, V: np.ndarray) -> float:
        """The largest difference between ``H @ V`` read through the pattern and the measured
        products `HV`, relative to the largest of them: 0 up to rounding when the pattern holds."""
        approx = self.matvec(HS, V)
        top = max(float(np.max(np.abs(HV), initial=0.0)), 1e-300)
        return float(np.max(np.abs(approx - HV), initial=0.0)) / top

    def factor(
        self,
        HS: np.ndarray,
        Hxb: np.ndarray | None = None,
        Hbb: np.ndarray | None = None,
        damping: float = 0.0,
    ) -> Factor | None:
        """The Cholesky factor of ``[[H, Hxb], [Hxb', Hbb]]`` (H from its compressed products),
        with ``damping`` times its diagonal's magnitude added (Marquardt); None when it is not
        positive definite or not finite."""
        return Factor.build(self, self.blocks(HS), Hxb, Hbb, damping)


class Factor:
    """A block Cholesky factorization: the blocks of H, and the Schur complement of the border."""

    def __init__(self, structure, L, U, S_chol):
        self.structure = structure
        self.L = L  # per group (m, s, s)
        self.U = U  # H^-1 Hxb (q, p)
        self.S_chol = S_chol  # Cholesky of Hbb - Hxb' H^-1 Hxb (p, p)

    @classmethod
    def build(cls, structure: Structure, blocks, Hxb, Hbb, damping: float) -> Factor | None:
        st = structure
        p = st.p
        L = []
        with np.errstate(all="ignore"):
            for B in blocks:
                if not np.all(np.isfinite(B)):
                    return None
                if damping:
                    d = np.abs(np.diagonal(B, axis1=1, axis2=2))
                    d = np.where(d > 0, d, 1.0)
                    B = B + damping * np.einsum("mi,ij->mij", d, np.eye(B.shape[1]))
                try:
                    L.append(np.linalg.cholesky(B))
                except np.linalg.LinAlgError:
                    return None
            f = cls(st, L, np.zeros((st.q, p)), np.zeros((p, p)))
            if p:
                Hxb = np.asarray(Hxb, dtype=float)
                Hbb = 0.5 * (np.asarray(Hbb, dtype=float) + np.asarray(Hbb, dtype=float).T)
                if damping:
                    d = np.abs(np.diag(Hbb))
                    Hbb = Hbb + damping * np.diag(np.where(d > 0, d, 1.0))
                if not (np.all(np.isfinite(Hxb)) and np.all(np.isfinite(Hbb))):
                    return None
                U = f._solve_blocks(Hxb)
                try:
                    f.S_chol = np.linalg.cholesky(Hbb - Hxb.T @ U)
                except np.linalg.LinAlgError:
                    return None
                f.U = U
        return f

    def _solve_blocks(self, R: np.ndarray) -> np.ndarray:
        """``H^-1 R`` for the latent block H (q, b)."""
        st = self.structure
        R = st._extend(np.asarray(R, dtype=float).reshape(st.q, -1))
        out = np.zeros_like(R)
        for g, L in zip(st.groups, self.L, strict=True):
            z = np.linalg.solve(L, R[g.idx])
            out[g.idx] = np.linalg.solve(np.swapaxes(L, 1, 2), z)
        return out[: st.q]

    def logdet(self) -> float:
        """log det of the whole matrix."""
        total = sum(2.0 * float(np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)))) for L in self.L)
        if self.structure.p:
            total += 2.0 * float(np.sum(np.log(np.diag(self.S_chol))))
        return total

    def solve(self, r: np.ndarray) -> np.ndarray:
        """The solution of the whole system for the vector r = (r_x, r_b)."""
        q, p = self.structure.q, self.structure.p
        rx, rb = r[:q], r[q:]
        zx = self._solve_blocks(rx)[:, 0]
        if not p:
            return zx
        xb = _chol_solve(self.S_chol, rb - self.U.T @ rx)
        return np.concatenate([zx - self.U @ xb, xb])

    def _Sinv(self) -> np.ndarray:
        p = self.structure.p
        return _chol_solve(self.S_chol, np.eye(p)) if p else np.zeros((0, 0))

    def selected_inverse(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The entries of the inverse that the curvature's derivative meets, compressed: ``W``
        (q, c) with ``W[i, colour] = sum of C[i, j]`` over the pattern's j of that colour (so that
        ``sum(C * dH)`` over the latent block is ``sum(W * dHS)``), and the border's blocks
        ``C_xb`` (q, p) and ``C_bb`` (p, p) of ``C = H^-1``."""
        st = self.structure
        Sinv = self._Sinv()
        W = np.zeros((st.q + 1, st.c))
        colour = np.append(st.colour, 0)
        U = st._extend(self.U)
        for g, L in zip(st.groups, self.L, strict=True):
            m, s = g.idx.shape
            Li = np.linalg.solve(L, np.broadcast_to(np.eye(s), (m, s, s)))
            C = np.einsum("mki,mkj->mij", Li, Li)
            if st.p:
                Ug = U[g.idx]  # (m, s, p)
                C = C + np.einsum("mip,pr,mjr->mij", Ug, Sinv, Ug)
            C = np.where(g.mask, C, 0.0)
            cols = colour[g.idx]  # (m, s)
            at = (np.repeat(g.idx[:, :, None], s, axis=2), np.broadcast_to(cols[:, None, :], C.shape))
            np.add.at(W, at, C)
        W = W[: st.q]
        Cxb = -self.U @ Sinv if st.p else np.zeros((st.q, 0))
        return W, Cxb, Sinv

    def latent_inverse(self) -> sp.csr_matrix:
        """The latent block of the inverse without the border's low-rank part: block diagonal
        (sparse), ``H^-1`` where there is no border."""
        st = self.structure
        rows, cols, vals = [], [], []
        for g, L in zip(st.groups, self.L, strict=True):
            m, s = g.idx.shape
            Li = np.linalg.solve(L, np.broadcast_to(np.eye(s), (m, s, s)))
            C = np.einsum("mki,mkj->mij", Li, Li)
            real = g.idx < st.q
            keep = (real[:, :, None] & real[:, None, :]).ravel()
            rows.append(np.repeat(g.idx[:, :, None], s, axis=2).ravel()[keep])
            cols.append(np.broadcast_to(g.idx[:, None, :], C.shape).ravel()[keep])
            vals.append(C.ravel()[keep])
        if not rows:
            return sp.csr_matrix((st.q, st.q))
        return sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(st.q, st.q)
        )

    def sandwich_diagonal(self, J: np.ndarray | sp.spmatrix) -> np.ndarray:
        """The diagonal of ``J C_xx J'`` for a (m, q) matrix J (the variances of values that are
        linear in the latent variables, to first order), without forming ``C_xx``."""
        Js = sp.csr_matrix(J)
        out = np.asarray((Js @ self.latent_inverse()).multiply(Js).sum(axis=1)).ravel()
        if self.structure.p:
            JU = Js @ self.U  # (m, p)
            out = out + np.einsum("mp,pr,mr->m", JU, self._Sinv(), JU)
        return out

    def border_inverse(self) -> np.ndarray:
        """The border's block of the inverse (p, p): ``(Hbb - Hxb' H^-1 Hxb)^-1``."""
        return self._Sinv()


def _chol_solve(L: np.ndarray, R: np.ndarray) -> np.ndarray:
    return np.linalg.solve(L.T, np.linalg.solve(L, R))
