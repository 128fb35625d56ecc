"""Layer 1, the core: what a fit *is*, in NumPy, SciPy and pandas only (no PyMC, no PyTensor).

* :mod:`~pplmle.core.errors` -- the warning classes and ``strict=True``.
* :mod:`~pplmle.core.messages` -- every user-facing diagnostic sentence, in one place.
* :mod:`~pplmle.core.diagnostics` -- the typed diagnosis of a fit (:class:`Diagnostic`).
* :mod:`~pplmle.core.validate` -- input checks where data enters.
* :mod:`~pplmle.core.values` -- what makes a result a value (equality, pickling).
* :mod:`~pplmle.core.likelihood` -- the protocol a fitted likelihood offers to the results.
* :mod:`~pplmle.core.result` -- :class:`MLEResult`; :mod:`~pplmle.core.display` draws its text.
* :mod:`~pplmle.core.profiles` -- profile likelihoods and intervals, through the protocol.
* :mod:`~pplmle.core.datasets` -- the small teaching data sets.

Nothing here imports a higher layer (``reference``, ``pymc``, ``workflows``, ``viz``).
"""
