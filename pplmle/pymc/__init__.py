"""Layer 3, the PyMC layer: from a model to a verified optimum.

* :mod:`~pplmle.pymc.kernel` -- the NumPy numerical kernel: damped Newton, KKT, recession probe.
* :mod:`~pplmle.pymc.engine` -- flattening priors and compiling a model's NLL, once.
* :mod:`~pplmle.pymc.batch` -- the same NLL vectorized over many data sets.
* :mod:`~pplmle.pymc.families` -- :class:`Family`, the abstract base, and the built-in families.
* :mod:`~pplmle.pymc.fitting` -- :func:`mle` and :func:`map_estimate`: find_MAP, then the kernel.
"""
