"""Cross-entropy losses as NLLs (front door): the public name of :mod:`pplmle.reference.losses`."""

from pplmle.reference.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    log_softmax,
    nll_loss,
    softmax,
)

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "log_softmax",
    "nll_loss",
    "softmax",
]
