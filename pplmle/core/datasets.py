"""Small datasets used in the examples and the teaching notebooks."""

from __future__ import annotations

import numpy as np

__all__ = ["heights"]

_HEIGHTS = (162.0, 165.0, 171.0, 168.0, 174.0, 160.0, 169.0, 176.0, 166.0, 169.0)


def heights() -> np.ndarray:
    """Heights in cm of ten middle-school students (a new array on every call).

    The classic first MLE example: the sample mean is exactly 168 cm and the
    divide-by-n standard deviation is sqrt(22.4) = 4.733 cm.

    Examples
    --------
    >>> import pplmle as pl
    >>> x = pl.datasets.heights()
    >>> x.size, float(x.mean())
    (10, 168.0)
    """
    return np.array(_HEIGHTS)
