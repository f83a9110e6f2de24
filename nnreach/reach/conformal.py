"""Probabilistic output sets calibrated by split conformal inference (no proof: a statistical guarantee).

Inputs are drawn uniformly from a union of boxes and run through the model (any callable on batches),
in three independent samples:

1. *fit*: a linear surrogate ``y ~ W x + b`` and orthonormal directions ``U`` (m, m) for the residuals
   ``r = y - W x - b``. Kinds: ``"box"`` (``W = 0``, ``b`` the mean output, ``U = I``), ``"pca"``
   (``W = 0``, ``U`` the principal directions of the outputs) and ``"linear"`` (``W, b`` by least
   squares, ``U`` the principal directions of the residuals; it needs more samples than inputs).
2. *scale*: per direction ``i``, the range of the projections ``p_i = U_i . r``, giving a center ``c_i``
   and a half-width ``s_i``; the nonconformity score of a sample is ``max_i |p_i - c_i| / s_i``.
3. *calibrate*: ``n`` scores; the threshold ``q`` is their ``k``-th smallest.

The output set is ``{W x + b + U (c + diag(q s) t) : x in the boxes' hull, t in [-1, 1]^m}``, a
:class:`Zonotope` (a :class:`Box` for ``"box"``), which contains every output whose score is at most
``q``.

Guarantee. The scores of the ``n`` calibration samples and of a fresh input ``x`` drawn uniformly from
the union are independent and identically distributed given the fit and scale samples. Let ``F`` be
their distribution function and ``eps = 1 - coverage``, ``delta = 1 - confidence``. The coverage of
the set, ``C = P(score(x) <= q)``, satisfies ``C >= F(S_(k))``, and ``F(S_(k))`` is stochastically at
least the ``k``-th smallest of ``n`` uniform variables, so::

    P(C < 1 - eps) <= P(at least k of n uniforms are below 1 - eps)
                    = P(Binomial(n, 1 - eps) >= k) = P(Binomial(n, eps) <= n - k).

So coverage >= 1 - eps holds with confidence >= 1 - delta when ``binom.cdf(n - k, n, eps) <= delta``
(an equality of the bound for continuous scores). :func:`calibration_size` takes the smallest ``n``
for which some rank works, ``(1 - eps)^n <= delta`` (then ``k = n``: the largest score), and
:func:`rank` the smallest valid ``k`` for a given ``n``. It concerns a random input, not every input;
the set may miss outputs of inputs of small probability (adversarial examples among them).

Sampling: boxes are weighted by their volume and a drawn point is kept with probability one over the
number of boxes containing it, so points are uniform on the union even where boxes overlap. A box of
zero width in some coordinates has zero volume; volumes are measured in the largest number ``D`` of
coordinates of positive width among the boxes (the ``D``-dimensional measure of the union): boxes
with fewer positive widths have probability zero and are never drawn (if every box is a point, they
are equally likely). Batches have :data:`BATCH` inputs, each drawn from its own seeded generator, so
the samples do not depend on how many worker processes evaluate them; memory stays bounded by a
batch plus the surrogate's sums (``(n_in + 1)^2`` numbers for ``"linear"``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import progress
from ..errors import InputError
from ..sets.box import Box
from ..sets.zonotope import Zonotope

KINDS = ("box", "pca", "linear")
"""Surrogate kinds (see the module docstring)."""
BATCH = 256
"""Inputs drawn and evaluated together."""
SCALE_FLOOR = 1e-9
"""A direction's half-width is at least this fraction of the largest one (directions in which the
fit sample does not vary would otherwise divide by zero)."""

Evaluate = Callable[[np.ndarray], np.ndarray]
"""The model on a batch: inputs (batch, n_in) -> outputs (batch, m)."""
Visit = Callable[[np.ndarray, np.ndarray, np.ndarray], bool]
"""``visit(which, x, y)`` sees every evaluated batch: the index of the box each input was drawn
from (batch,), the inputs (batch, n_in) and outputs (batch, m); it returns True to stop sampling."""


def check_probability(name: str, value: float) -> None:
    """InputError unless ``0 < value < 1``."""
    if not 0.0 < value < 1.0:
        raise InputError(f"{name} must lie strictly between 0 and 1, got {value}")


def rank(n: int, coverage: float, confidence: float) -> int | None:
    """The smallest ``k`` such that the ``k``-th smallest of ``n`` calibration scores gives coverage
    at least ``coverage`` with confidence at least ``confidence``: ``binom.cdf(n - k, n, 1 - coverage)
    <= 1 - confidence``; None if even ``k = n`` does not suffice."""
    from scipy.stats import binom

    cdf = binom.cdf(np.arange(n + 1), n, 1.0 - coverage)      # cdf[j] = P(Binomial(n, eps) <= j)
    ok = np.flatnonzero(cdf <= 1.0 - confidence)
    return None if ok.size == 0 else n - int(ok[-1])


def calibration_size(coverage: float, confidence: float) -> tuple[int, int]:
    """``(n, k)``: the fewest calibration samples ``n`` for which a rank exists, ``(coverage)^n <= 1 -
    confidence``, and that rank (``k = n``)."""
    check_probability("coverage", coverage)
    check_probability("confidence", confidence)
    n = max(1, math.ceil(math.log(1.0 - confidence) / math.log(coverage)))
    while rank(n, coverage, confidence) is None:   # the logarithms may round n down by one
        n += 1
    while n > 1 and rank(n - 1, coverage, confidence) is not None:
        n -= 1
    return n, rank(n, coverage, confidence)


class UnionSampler:
    """Uniform points of a union of boxes (see the module docstring for zero-volume boxes).

    Attributes:
        boxes: the boxes, all of dimension n_in.
        lo, hi: their corners stacked, (len(boxes), n_in) each.
        weights: probability of drawing from each box before the overlap correction, shape (len(boxes),).
        hull: the smallest box containing them all.
    """

    def __init__(self, boxes: list[Box]):
        if not boxes:
            raise InputError("no input box to sample")
        self.boxes = boxes
        self.lo, self.hi = np.array([b.lo for b in boxes]), np.array([b.hi for b in boxes])
        widths = self.hi - self.lo
        positive = (widths > 0).sum(axis=1)
        full = positive == positive.max()
        log_volume = np.where(full, np.log(np.where(widths > 0, widths, 1.0)).sum(axis=1), -np.inf)
        volume = np.exp(log_volume - log_volume.max())       # in logarithms: 3072 widths of 1/255 underflow
        self.weights = volume / volume.sum()
        self.hull = Box(self.lo.min(axis=0), self.hi.max(axis=0))

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(which, x)``: ``n`` uniform points x (n, n_in) of the union and the box each was drawn from (n,)."""
        which_parts, x_parts, got = [], [], 0
        drawable = np.flatnonzero(self.weights > 0)
        while got < n:
            which = rng.choice(len(self.boxes), size=n, p=self.weights)
            lo, hi = self.lo[which], self.hi[which]
            x = lo + rng.random(lo.shape) * (hi - lo)
            if len(self.boxes) > 1:
                count = sum(np.all((self.lo[k] <= x) & (x <= self.hi[k]), axis=1) for k in drawable)
                keep = rng.random(n) * count < 1.0
                which, x = which[keep], x[keep]
            which_parts.append(which)
            x_parts.append(x)
            got += len(x)
        return np.concatenate(which_parts)[:n], np.vstack(x_parts)[:n]


@dataclass(frozen=True, slots=True)
class Surrogate:
    """The linear surrogate and scaled residual directions of a fit (see the module docstring).

    Attributes:
        W: (m, n_in) input weights (zero unless kind ``"linear"``).
        b: (m,) offset.
        U: (m, m) orthonormal residual directions, one per column.
        center: (m,) center ``c`` of the projections on the directions.
        scale: (m,) half-widths ``s`` of the projections, positive.
    """

    W: np.ndarray
    b: np.ndarray
    U: np.ndarray
    center: np.ndarray
    scale: np.ndarray

    def projections(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Residual projections ``U^T (y - W x - b)``: x (batch, n_in), y (batch, m) -> (batch, m)."""
        return (y - x @ self.W.T - self.b) @ self.U

    def scores(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Nonconformity scores ``max_i |p_i - c_i| / s_i``, shape (batch,)."""
        return np.max(np.abs(self.projections(x, y) - self.center) / self.scale, axis=1)

    def output_set(self, q: float, hull: Box) -> Box | Zonotope:
        """The outputs of score at most ``q`` for inputs in ``hull``: a Zonotope (a Box when ``W = 0``
        and ``U = I``)."""
        half = q * self.scale
        center = self.b + self.W @ hull.center + self.U @ self.center
        if not self.W.any() and np.array_equal(self.U, np.eye(len(self.b))):
            return Box(center - half, center + half)
        gens = [self.W * hull.radius, self.U * half]
        G = np.hstack(gens)
        return Zonotope(center, G[:, np.any(G != 0, axis=0)])


class _Sums:
    """Running sums for the least-squares fit of ``y`` on features ``z`` (``[x, 1]`` or ``[1]``)."""

    def __init__(self):
        self.ZZ = self.ZY = self.YY = None

    def add(self, z: np.ndarray, y: np.ndarray) -> None:
        parts = (z.T @ z, z.T @ y, y.T @ y)
        if self.ZZ is None:
            self.ZZ, self.ZY, self.YY = parts
        else:
            self.ZZ, self.ZY, self.YY = self.ZZ + parts[0], self.ZY + parts[1], self.YY + parts[2]

    def solve(self) -> tuple[np.ndarray, np.ndarray]:
        """``(B, R)``: coefficients (features, m) and the residuals' second moments (m, m)."""
        ridge = 1e-10 * max(np.trace(self.ZZ) / len(self.ZZ), 1e-300)
        B = np.linalg.solve(self.ZZ + ridge * np.eye(len(self.ZZ)), self.ZY)
        R = self.YY - B.T @ self.ZY - self.ZY.T @ B + B.T @ self.ZZ @ B
        return B, (R + R.T) / 2


def _features(kind: str, x: np.ndarray) -> np.ndarray:
    ones = np.ones((len(x), 1))
    return np.hstack([x, ones]) if kind == "linear" else ones


@dataclass(frozen=True, slots=True)
class Calibration:
    """A calibrated output set and what its guarantee rests on.

    Attributes:
        set: the output set (Box or Zonotope, dimension m).
        kind: the surrogate kind.
        coverage, confidence: the guarantee's levels.
        calibration: calibration samples ``n``.
        rank: ``k``, the rank of the threshold among the calibration scores.
        threshold: ``q``, the ``k``-th smallest calibration score.
        samples: inputs evaluated in all (fit, scale and calibration).
        seconds: wall time.
        surrogate: the fitted surrogate whose scores were calibrated.
    """

    set: Box | Zonotope
    kind: str
    coverage: float
    confidence: float
    calibration: int
    rank: int
    threshold: float
    samples: int
    seconds: float
    surrogate: Surrogate

    def covers(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether the score of each pair is at most the threshold (then ``y`` lies in :attr:`set`):
        x (batch, n_in), y (batch, m) -> bool (batch,). The guarantee is about this event."""
        return self.surrogate.scores(x, y) <= self.threshold

    def guarantee(self) -> str:
        """The guarantee in one sentence."""
        return (f"with confidence at least {self.confidence:g} (over the {self.calibration} calibration "
                f"samples, threshold rank {self.rank}), the output of one random input drawn uniformly from "
                f"the input set lies in the set with probability at least {self.coverage:g}; this is not a "
                f"proof and says nothing of every input (adversarial inputs may lie outside)")

    def stats(self) -> dict:
        """Counters for a verification result."""
        return {"samples": self.samples, "calibration": self.calibration, "rank": self.rank,
                "threshold": self.threshold, "coverage": self.coverage, "confidence": self.confidence,
                "set": self.kind, "guarantee": self.guarantee()}


class _Stop(Exception):
    """Raised inside :func:`calibrate` when ``visit`` asks to stop."""


def _batch(state: tuple, item: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw and evaluate batch ``(stage, index, size)`` of ``state = (sampler, evaluate, seed)``."""
    sampler, evaluate, seed = state
    stage, index, size = item
    which, x = sampler.draw(size, np.random.default_rng([seed, stage, index]))
    return which, x, np.asarray(evaluate(x), dtype=np.float64).reshape(size, -1)


def _in_order(pairs):
    """The results of ``(index, result)`` pairs that arrive in any order, in index order (so the fit's
    sums, and the set, do not depend on which worker finished first)."""
    waiting, due = {}, 0
    for i, r in pairs:
        waiting[i] = r
        while due in waiting:
            yield waiting.pop(due)
            due += 1


def calibrate(boxes: list[Box], evaluate: Evaluate, *, coverage: float = 0.99, confidence: float = 0.999,
              kind: str = "pca", seed: int = 0, jobs: int = 1, deadline=None,
              visit: Visit | None = None) -> Calibration | None:
    """A calibrated output set of ``evaluate`` for inputs drawn uniformly from the union of ``boxes``.

    Args:
        boxes: input boxes (n_in,).
        evaluate: the model on batches, see :data:`Evaluate` (a module-level callable or closure; with
            ``jobs > 1`` it runs in forked worker processes).
        coverage, confidence: in (0, 1); see the module docstring.
        kind: one of :data:`KINDS`.
        seed: seed of the samples.
        jobs: worker processes that evaluate batches.
        deadline: a :class:`nnreach.verify.deadline.Deadline` checked between batches, or None.
        visit: sees every batch, see :data:`Visit`.
    Returns:
        The :class:`Calibration`, or None when ``visit`` stopped the sampling.
    """
    if kind not in KINDS:
        raise InputError(f"unknown conformal set {kind!r}; choose one of {', '.join(KINDS)}")
    n, k = calibration_size(coverage, confidence)
    start = time.monotonic()
    sampler = UnionSampler(boxes)
    n_in = sampler.hull.dim
    fit_size = max(n, 2 * (n_in + 1)) if kind == "linear" else n
    state = (sampler, evaluate, seed)

    def run(stage: int, name: str, size: int):
        """The stage's batches ``(x, y)``, ``size`` inputs in all; raises _Stop when ``visit`` says so."""
        items = [(stage, i, min(BATCH, size - i * BATCH)) for i in range(math.ceil(size / BATCH))]
        if jobs > 1 and len(items) > 1:
            from ..parallel.pools import fork_map
            results = _in_order(fork_map(_batch, state, items, min(jobs, len(items))))
        else:
            results = (_batch(state, item) for item in items)
        done = 0
        for which, x, y in results:
            if deadline is not None:
                deadline.check()
            if visit is not None and visit(which, x, y):
                raise _Stop
            done += len(x)
            progress.note(samples=f"{name} {done}/{size}")
            yield x, y

    try:
        sums = _Sums()
        for x, y in run(0, "fit", fit_size):
            sums.add(_features(kind, x), y)
        B, R = sums.solve()
        m = B.shape[1]
        W = B[:-1].T if kind == "linear" else np.zeros((m, n_in))
        U = np.eye(m) if kind == "box" else np.linalg.eigh(R)[1][:, ::-1]
        base = Surrogate(W, B[-1], U, np.zeros(m), np.ones(m))
        lo, hi = np.full(m, np.inf), np.full(m, -np.inf)
        for x, y in run(1, "scale", n):
            p = base.projections(x, y)
            lo, hi = np.minimum(lo, p.min(axis=0)), np.maximum(hi, p.max(axis=0))
        half = (hi - lo) / 2
        floor = SCALE_FLOOR * half.max() if half.max() > 0 else 1.0
        surrogate = Surrogate(W, B[-1], U, (lo + hi) / 2, np.maximum(half, floor))
        scores = np.concatenate([surrogate.scores(x, y) for x, y in run(2, "calibrate", n)])
    except _Stop:
        return None
    q = float(np.sort(scores)[k - 1])
    return Calibration(surrogate.output_set(q, sampler.hull), kind, coverage, confidence, n, k, q,
                       fit_size + 2 * n, time.monotonic() - start, surrogate)
