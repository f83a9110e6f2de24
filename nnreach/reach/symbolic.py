"""The ``deeppoly`` reach method: symbolic linear bounds (DeepPoly / CROWN back-substitution) of every
output as an :class:`nnreach.sets.AffineEnvelope` over the input box.

Intermediate bounds of every activation input come from :func:`nnreach.bounds.linear.domain_bounds`;
one more back-substitution from the rows ``+-e_i`` of the output gives a lower and an upper affine
function of the input for each output, which hold at every input of the box (the relaxation lines
bound their activations there and are widened against rounding).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..bounds.linear import InputDomain, backward, domain_bounds
from ..network.graph import Network
from ..sets.box import Box
from ..sets.envelope import AffineEnvelope


def deeppoly(network: Network, box: Box, check: Callable[[], None] | None = None) -> AffineEnvelope:
    """The outputs of ``network`` (simplified, flattened) for inputs in ``box`` as an affine envelope.
    ``check`` is called between nodes (a deadline's, which raises to stop)."""
    dom = InputDomain(box.lo[None], box.hi[None])
    bounds = domain_bounds(network, dom, check=check)[0]
    n = network.output_size
    lb = backward(network, dom, network.output, np.vstack([np.eye(n), -np.eye(n)]), bounds)
    A, c = lb.A[0], lb.c[0]
    return AffineEnvelope(box.lo, box.hi, A[:n], c[:n], -A[n:], -c[n:])
