"""Sub-problems of a branch-and-bound search, in batches, and what a search works on.

A *domain* is a part of one property's input box where unsafe polytopes ``A_p y <= b_p`` must be
shown empty: a box of the input (input splits shrink it) together with *cuts*, constraints ``lo <=
z_j <= hi`` on the inputs ``z`` of relaxed nodes (neuron splits add them). A search takes on one or
all of a property's polytopes at once; a domain is closed when each of them is excluded on it. Domains travel in batches
(:class:`Domains`, arrays with a leading axis of B domains) so that every strategy works on all of
them at once; a batch also carries what a domain inherits from its parent: bounds known to hold
(the parent's intermediate bounds and margin) and the optimised parameters (alpha, beta, the rows'
weights) to warm-start from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields

import numpy as np

from ... import progress
from ...bounds.linear import Bounds
from ...bounds.optimised import Mixture, Parameters
from ...network.graph import Network
from ...sets.box import Box
from ...sets.polytope import HPolytope
from ..deadline import Deadline
from ..problem import Problem
from ..settings import Settings


@dataclass(slots=True)
class Counters:
    """What a search did (summed over workers); reported in a result's ``stats``.

    Attributes:
        domains: domains bounded; closed: domains shown safe (or empty) by a bound;
        splits: domains split; leaves: domains decided without a split (exact LP or none left);
        lps: linear programs solved; confirm_calls: candidates replayed for confirmation;
        attacks: candidate inputs executed; optimised: domains whose bound was optimised;
        lookahead: candidate children bounded to choose a split; walk_lps: LPs of walks over linear
        regions; box_lps: LPs that shrink boxes to their constraints.
    """

    domains: int = 0
    closed: int = 0
    splits: int = 0
    leaves: int = 0
    lps: int = 0
    confirm_calls: int = 0
    attacks: int = 0
    optimised: int = 0
    lookahead: int = 0
    walk_lps: int = 0
    box_lps: int = 0

    def merge(self, other: "Counters") -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class Target:
    """One search: a problem's property ``index`` and some of its unsafe polytopes (each with at
    least one row), on the network that is searched (the problem's, simplified).

    Attributes:
        polys: the P polytopes to exclude.
        cache: what strategies build once per search (a relaxation LP, the root's bounds and neuron
            widths).
        shared: what they build once per property, for the searches of each of its polytopes (the
            root's intermediate bounds).
        unknown: a leaf was left undecided.
    """

    problem: Problem
    index: int
    polys: tuple[HPolytope, ...]
    net: Network
    settings: Settings
    deadline: Deadline
    counters: Counters = field(default_factory=Counters)
    cache: dict = field(default_factory=dict)
    shared: dict = field(default_factory=dict)
    unknown: bool = False

    @property
    def box(self) -> Box:
        return self.problem.properties[self.index].input_box

    @property
    def objective(self) -> Mixture:
        """Every polytope's rows as one mixture: its bound on a domain is a margin (> 0 excludes)."""
        if "objective" not in self.cache:
            self.cache["objective"] = Mixture(np.vstack([p.A for p in self.polys]), np.concatenate([p.b for p in self.polys]),
                                              np.concatenate([np.full(p.A.shape[0], k) for k, p in enumerate(self.polys)]),
                                              len(self.polys))
        return self.cache["objective"]

    def unsafe(self, y: np.ndarray) -> np.ndarray:
        """Which outputs (k, n_out) lie in some polytope."""
        return np.any([np.all(y @ p.A.T <= p.b, axis=1) for p in self.polys], axis=0)


@dataclass(slots=True)
class Domains:
    """A batch of B domains of one search.

    Attributes:
        lo, hi: (B, n_in) the input boxes.
        cuts: per relaxed node's input name, constraints (lo, hi) (B, n) of the splits, infinite
            where a neuron is not split (every such node has an entry).
        margin: (B, P) a lower bound of each polytope's largest excess ``max_r (A_p y - b_p)_r`` known
            to hold on each domain (from its parent; -inf at the root).
        bounds: the parent's bounds of every relaxed node's input (B, n), which hold on the
            children too, or None.
        params: the parent's optimised parameters, or None.
        since: (B,) the position (in the network's nodes) of the first node whose value's bounds may
            differ from the parent's: a neuron split changes nothing before the split node.
        rows, rhs: (B, r, n_in), (B, r) linear constraints ``rows x <= rhs`` that every input of the
            domain meeting its cuts satisfies (the cuts through the linear functions bounding the
            split neurons: exact where everything before a split neuron is fixed), or None; rows of
            zeros pad batches of domains with fewer.
        witnesses: (B, 2, n_in, n_in) per domain, per side (lower, upper) and input, a point of the
            domain's box and constraints where that input is at that side (NaN: unknown), or None;
            a box side whose witness meets a new constraint needs no LP to stay tight.
    """

    lo: np.ndarray
    hi: np.ndarray
    cuts: Bounds
    margin: np.ndarray
    bounds: Bounds | None = None
    params: Parameters | None = None
    since: np.ndarray | None = None
    rows: np.ndarray | None = None
    rhs: np.ndarray | None = None
    witnesses: np.ndarray | None = None

    @property
    def size(self) -> int:
        return self.lo.shape[0]

    @classmethod
    def root(cls, lo: np.ndarray, hi: np.ndarray, sizes: dict[str, int], polytopes: int) -> "Domains":
        """The one domain of a box (n_in,) with no cuts on nodes of the given sizes."""
        cuts = {name: (np.full((1, n), -np.inf), np.full((1, n), np.inf)) for name, n in sizes.items()}
        return cls(lo[None].copy(), hi[None].copy(), cuts, np.full((1, polytopes), -np.inf))

    def take(self, index: np.ndarray) -> "Domains":
        """The domains ``index`` (an index or mask array into B; repeats allowed)."""
        pick = lambda d: None if d is None else {k: (lo[index], hi[index]) for k, (lo, hi) in d.items()}
        return Domains(self.lo[index], self.hi[index], pick(self.cuts), self.margin[index], pick(self.bounds),
                       None if self.params is None else self.params.take(np.arange(self.size)[index]),
                       None if self.since is None else self.since[index],
                       None if self.rows is None else self.rows[index], None if self.rhs is None else self.rhs[index],
                       None if self.witnesses is None else self.witnesses[index])

    @staticmethod
    def concatenate(parts: list["Domains"]) -> "Domains":
        """One batch of several (whose bounds and params are all given or all missing)."""
        if len(parts) == 1:
            return parts[0]
        cat = lambda key: None if getattr(parts[0], key) is None else {
            name: tuple(np.concatenate([getattr(p, key)[name][s] for p in parts]) for s in (0, 1))
            for name in getattr(parts[0], key)}
        params = None if parts[0].params is None else Parameters.concatenate([p.params for p in parts], [p.size for p in parts])
        since = None if any(p.since is None for p in parts) else np.concatenate([p.since for p in parts])
        rows = rhs = None
        if any(p.rows is not None for p in parts):
            r = max(0 if p.rows is None else p.rows.shape[1] for p in parts)
            m = parts[0].lo.shape[1]
            rows = np.concatenate([np.concatenate([np.zeros((p.size, 0, m)) if p.rows is None else p.rows,
                                                   np.zeros((p.size, r - (0 if p.rows is None else p.rows.shape[1]), m))], axis=1)
                                   for p in parts])
            rhs = np.concatenate([np.concatenate([np.zeros((p.size, 0)) if p.rhs is None else p.rhs,
                                                  np.zeros((p.size, r - (0 if p.rhs is None else p.rhs.shape[1])))], axis=1)
                                  for p in parts])
        witnesses = None
        if any(p.witnesses is not None for p in parts):
            m = parts[0].lo.shape[1]
            witnesses = np.concatenate([np.full((p.size, 2, m, m), np.nan) if p.witnesses is None else p.witnesses
                                        for p in parts])
        return Domains(np.concatenate([p.lo for p in parts]), np.concatenate([p.hi for p in parts]), cat("cuts"),
                       np.concatenate([p.margin for p in parts]), cat("bounds"), params, since, rows, rhs, witnesses)


@dataclass(slots=True)
class Bounded:
    """What a bounding strategy found about a batch of B domains.

    Attributes:
        margin: (B, P) a lower bound of each polytope's excess ``max_r (A_p y - b_p)_r`` on each
            domain (> proof margin: excluded).
        empty: (B,) domains whose cuts no input of the box meets.
        bounds: bounds of every relaxed node's input (B, n) on each domain.
        A, c: (B, P, n_in), (B, P) linear lower bounds ``A x + c`` of the excesses.
        coefficients: per activation and max pooling node, the coefficients (B, P, n) that reached its output in
            those bounds (for neuron-split scores), where recorded.
        params: the optimised parameters of the bound, for the children, or None.
        points: (B, n_in) a candidate input per domain (an LP's optimum), NaN where there is none.
        strays: per activation node, how far each neuron's output strays from the activation at the
            LP's optimum (B, n), or None.
        functions: the linear functions of the input bounding every relaxed node's input (forward
            mode: :data:`nnreach.bounds.forward.Functions`), or None.
        rows: per-row linear lower bounds ``(A (B, R, n_in), c (B, R))`` of every polytope row's excess
            ``a_r . y - b_r``, or None.
    """

    margin: np.ndarray
    empty: np.ndarray
    bounds: Bounds
    A: np.ndarray
    c: np.ndarray
    coefficients: dict[str, np.ndarray] = field(default_factory=dict)
    params: Parameters | None = None
    points: np.ndarray | None = None
    strays: dict[str, np.ndarray] | None = None
    functions: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
    rows: tuple[np.ndarray, np.ndarray] | None = None

    def take(self, index: np.ndarray) -> "Bounded":
        pick = lambda d: None if d is None else {k: v[index] for k, v in d.items()}
        pairs = lambda d: None if d is None else {k: (l[index], u[index]) for k, (l, u) in d.items()}
        return Bounded(self.margin[index], self.empty[index], pairs(self.bounds), self.A[index], self.c[index],
                       pick(self.coefficients),
                       None if self.params is None else self.params.take(np.arange(len(self.margin))[index]),
                       None if self.points is None else self.points[index], pick(self.strays), pairs(self.functions),
                       None if self.rows is None else (self.rows[0][index], self.rows[1][index]))

    @staticmethod
    def concatenate(parts: list["Bounded"]) -> "Bounded":
        """The results of several batches, one after the other (computed alike)."""
        if len(parts) == 1:
            return parts[0]
        cat = lambda get: None if get(parts[0]) is None else np.concatenate([get(p) for p in parts])
        dicts = lambda get: None if get(parts[0]) is None else {k: np.concatenate([get(p)[k] for p in parts]) for k in get(parts[0])}
        pairs = lambda get: None if get(parts[0]) is None else {
            k: tuple(np.concatenate([get(p)[k][s] for p in parts]) for s in (0, 1)) for k in get(parts[0])}
        params = None if parts[0].params is None else Parameters.concatenate([p.params for p in parts],
                                                                             [len(p.margin) for p in parts])
        rows = None if parts[0].rows is None else tuple(np.concatenate([p.rows[s] for p in parts]) for s in (0, 1))
        return Bounded(cat(lambda p: p.margin), cat(lambda p: p.empty), pairs(lambda p: p.bounds), cat(lambda p: p.A),
                       cat(lambda p: p.c), dicts(lambda p: p.coefficients), params, cat(lambda p: p.points),
                       dicts(lambda p: p.strays), pairs(lambda p: p.functions), rows)

    def open(self, proof_margin: float) -> np.ndarray:
        """(B, P): the polytopes not excluded yet on each domain."""
        return self.margin <= proof_margin

    def guide(self, proof_margin: float) -> np.ndarray:
        """(B,) per domain, the open polytope closest to being excluded (the one a split should
        help most), or the best one when none is open."""
        return np.argmax(np.where(self.open(proof_margin), self.margin, -np.inf), axis=1) \
            if self.margin.shape[1] > 1 else np.zeros(len(self.margin), dtype=np.int64)


def note_progress(entries: Iterable[tuple[Domains, object]], counters: Counters,
                  out: Iterable[tuple[int, float]] = (), **extra) -> None:
    """The figures of a search for :mod:`nnreach.progress`, when a listener wants them: the domains
    of the stack ``entries`` still open, their worst margin, the domains closed so far, and ``extra``
    fields. ``out``: ``(open domains, worst margin)`` of each chunk out with a worker (see
    :func:`summary`), counted as handed out. ``entries`` is only gone through when the figures are
    wanted (a generator costs nothing otherwise)."""
    if not progress.due():
        return
    parts = [summary(list(entries)), *out]
    worst = min((w for n, w in parts if n), default=-np.inf)
    figures = dict(open=sum(n for n, _ in parts), closed=counters.closed, **extra)
    if np.isfinite(worst):
        figures["margin"] = worst
    progress.note(**figures)


def summary(entries: list[tuple[Domains, object]]) -> tuple[int, float]:
    """How many domains ``entries`` hold, and their worst margin (inf when none)."""
    return sum(d.size for d, _ in entries), min((float(d.margin.min()) for d, _ in entries if d.size), default=np.inf)
