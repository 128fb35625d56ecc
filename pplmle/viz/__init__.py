"""Layer 5, drawing: matplotlib figures of what the lower layers computed (``pl.plots``).

Nothing here computes a likelihood: every function draws values it is given, or asks a lower
layer for them.  Matplotlib is imported when a function is called, never on ``import pplmle``.
"""
