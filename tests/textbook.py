"""Independent reference solutions written for the tests (NumPy/SciPy only).

Closed forms straight from the textbook formulas, and a plain Newton-Raphson
solver with hand-derived gradients and Hessians for the families without one.
None of this shares code with pplmle.
"""

import numpy as np
from scipy.special import digamma, expit, polygamma, softmax


def newton(grad_hess, theta0, tol=1e-13, maxiter=100):
    """Minimize by Newton-Raphson with step halving on the gradient norm."""
    theta = np.asarray(theta0, dtype=float)
    for _ in range(maxiter):
        g, H = grad_hess(theta)
        step = np.linalg.solve(H, g)
        t = 1.0
        while t > 1e-8:
            new = theta - t * step
            if np.all(np.isfinite(grad_hess(new)[0])) and np.linalg.norm(grad_hess(new)[0]) < np.linalg.norm(
                g
            ):
                break
            t /= 2
        theta = theta - t * step
        if np.max(np.abs(t * step)) <= tol * (1 + np.max(np.abs(theta))):
            return theta
    return theta


def design(X, intercept=True):
    X = np.asarray(X, dtype=float)
    return np.column_stack([np.ones(len(X)), X]) if intercept else X


def qr_lstsq(X1, y):
    Q, R = np.linalg.qr(X1)
    return np.linalg.solve(R, Q.T @ y)


def gamma_mle(x):
    """Shape by Newton on log(a) - digamma(a) = log(mean x) - mean(log x); rate = a / mean(x)."""
    s = np.log(x.mean()) - np.log(x).mean()

    def gh(a):
        a = a[0]
        return np.array([np.log(a) - digamma(a) - s]), np.array([[1 / a - polygamma(1, a)]])

    a = newton(gh, [0.5 / s])[0]
    return {"alpha": a, "beta": a / x.mean()}


def logistic_mle(X1, y):
    def gh(b):
        p = expit(X1 @ b)
        return X1.T @ (p - y), (X1 * (p * (1 - p))[:, None]).T @ X1

    return newton(gh, np.zeros(X1.shape[1]))


def poisson_reg_mle(X1, y, offset):
    def gh(b):
        mu = np.exp(X1 @ b + offset)
        return X1.T @ (mu - y), (X1 * mu[:, None]).T @ X1

    return newton(gh, np.zeros(X1.shape[1]))


def softmax_mle(X1, codes, k):
    n, q = X1.shape
    Y = np.eye(k)[codes][:, 1:]

    def gh(theta):
        B = theta.reshape(q, k - 1)
        P = softmax(np.column_stack([np.zeros(n), X1 @ B]), axis=1)[:, 1:]
        g = (X1.T @ (P - Y)).ravel()
        H = np.zeros((q * (k - 1), q * (k - 1)))
        for i in range(n):
            W = np.diag(P[i]) - np.outer(P[i], P[i])
            H += np.kron(np.outer(X1[i], X1[i]), W)
        return g, H

    return newton(gh, np.zeros(q * (k - 1))).reshape(q, k - 1)
