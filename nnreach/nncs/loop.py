"""Closed loops: a plant under a network controller with zero-order hold, and their flowpipes.

Every ``period`` seconds the controller reads ``z = W_in x + b_in`` (an affine map of the state),
computes ``y = N(z)`` and the plant input ``u = W_out y + b_out`` is held until the next sample.

A mode-switching controller (:class:`Modes`) instead selects one of K modes by the largest of its K
outputs, and the mode sets the plant input.

Reachability (:func:`reach`) keeps one zonotope over the state. At each sample the controller input set
goes through the network with nnreach's zonotope rules (DeepZ), whose output zonotope shares the
generators of its input, so ``u`` stays correlated with ``x``: the joint set of ``(x, u, w)`` is the
zonotope with those shared generators (``w``, the disturbance, adds its own). The plant then moves the
joint set over the period, in ``substeps`` steps of :func:`.flow.flow_step` (continuous time) or one
linearised map (discrete time), and the state part is the next sample's set. The generators of X0
come first in every set and are never merged by order reduction (see :mod:`.zono`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import InputError
from ..network.graph import Network
from ..network.simplify import simplify
from ..reach.propagate import iter_reach
from ..sets.box import Box
from ..sets.zonotope import Zonotope
from ..verify.deadline import Deadline
from . import zono
from .flow import Expansion, FlowError, flow_step, remainder
from .plant import Plant

NET_ROUND_REL = 1e-9
"""Relative margin added to the controller's output zonotope for the rounding of the network rules."""
MAX_HALVINGS = 4
"""A flow step whose remainder does not close is retried as two half steps, this many times deep."""


@dataclass(frozen=True)
class Modes:
    """A controller whose network outputs are the scores of K modes: the mode is the largest score's
    (the first on ties, as ``argmax``), and it selects the plant input, held over the period (one-hot
    inputs select among the plant's dynamics: ``x' = u0 f0(x) + u1 f1(x)``), and, with ``networks``,
    the network that reads the next period's state (VCAS's advisories).

    Attributes:
        inputs: (K, m) the plant input of each mode.
        networks: () for the loop's one network; else K networks, one per mode (each with K outputs):
            a period's network is that of the mode chosen the period before.
        initial: the mode before the first period (whose network reads X0).
    """

    inputs: np.ndarray
    networks: tuple[Network, ...] = ()
    initial: int = 0

    def possible(self, scores: Zonotope) -> list[int]:
        """The modes some point of the score set may select: ``k`` is ruled out only when another
        score exceeds it everywhere on the set (``max (s_k - s_j) < 0``)."""
        K = self.inputs.shape[0]
        D = np.eye(K)[:, None, :] - np.eye(K)[None, :, :]               # (K, K, K): rows e_k - e_j
        top = D @ scores.center + np.abs(D @ scores.generators).sum(axis=-1)
        return [k for k in range(K) if np.all(np.delete(top[k], k) >= 0)]


@dataclass(frozen=True)
class ClosedLoop:
    """A plant, a controller and the maps between them.

    Attributes:
        plant: the plant (n states, m inputs).
        controller: the network, k inputs and p outputs (with modes that have networks: the initial
            mode's).
        period: the sampling period in seconds (also the time of one discrete plant step).
        in_W, in_b: controller input ``W_in x + b_in``, shapes (k, n) and (k,).
        out_W, out_b: plant input ``W_out y + b_out``, shapes (m, p) and (m,) (unused with modes).
        modes: None, or the modes the network's p outputs select (:class:`Modes`, p modes), whose
            inputs are then the plant's.
    """

    plant: Plant
    controller: Network
    period: float
    in_W: np.ndarray
    in_b: np.ndarray
    out_W: np.ndarray
    out_b: np.ndarray
    modes: Modes | None = None
    _nets: tuple[Network, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        n, m = self.plant.n, self.plant.m
        k, p = self.controller.input_size, self.controller.output_size
        if self.in_W.shape != (k, n) or self.in_b.shape != (k,):
            raise InputError(f"controller input map must be ({k}, {n}) and ({k},) for a network with {k} "
                             f"inputs and {n} states, got {self.in_W.shape} and {self.in_b.shape}")
        if self.out_W.shape != (m, p) or self.out_b.shape != (m,):
            raise InputError(f"controller output map must be ({m}, {p}) and ({m},) for {m} plant inputs and "
                             f"{p} network outputs, got {self.out_W.shape} and {self.out_b.shape}")
        if not self.period > 0:
            raise InputError(f"the period must be positive, got {self.period}")
        nets = self.networks
        if self.modes is not None:
            if self.modes.inputs.shape != (p, m):
                raise InputError(f"modes: expected one input vector of {m} numbers per network output ({p}), got "
                                 f"an array of shape {self.modes.inputs.shape}")
            if not 0 <= self.modes.initial < p:
                raise InputError(f"modes: the initial mode must be one of 0..{p - 1}, got {self.modes.initial}")
            if self.modes.networks:
                sizes = sorted({(net.input_size, net.output_size) for net in nets})
                if len(nets) != p or sizes != [(k, p)]:
                    raise InputError(f"modes: expected {p} networks, one per mode, each with {k} inputs and {p} "
                                     f"outputs, got {len(nets)} with (inputs, outputs) {sizes}")
        object.__setattr__(self, "_nets", tuple(simplify(net) for net in nets))

    def control(self, x: np.ndarray, mode: np.ndarray | None = None) -> np.ndarray:
        """Plant inputs (K, m) for states ``x`` (K, n), by the network's float64 forward pass; ``mode``
        as for :meth:`decide`."""
        return self.decide(x, mode)[0]

    def decide(self, x: np.ndarray, mode: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Plant inputs (K, m) for states ``x`` (K, n) and, with modes, the mode (K,) each selects
        (else None). ``mode``: the modes of the period before (default: the initial one), which choose
        the network when the modes have networks."""
        z = x @ self.in_W.T + self.in_b
        if self.modes is None:
            return self.controller.forward(z).reshape(x.shape[0], -1) @ self.out_W.T + self.out_b, None
        mode = np.full(x.shape[0], self.modes.initial) if mode is None else np.asarray(mode)
        y = np.empty((x.shape[0], self.modes.inputs.shape[0]))
        for k in np.unique(mode):
            rows = mode == k
            y[rows] = self.networks[self._slot(int(k))].forward(z[rows]).reshape(int(rows.sum()), -1)
        chosen = np.argmax(y, axis=1)
        return self.modes.inputs[chosen], chosen

    @property
    def networks(self) -> tuple[Network, ...]:
        """The controller's networks: the one network, or with :class:`Modes` that have networks,
        one per mode."""
        return self.modes.networks if self.modes is not None and self.modes.networks else (self.controller,)

    def _slot(self, mode: int | None) -> int:
        """Which of :attr:`networks` reads the state after a period in ``mode`` (None: before any)."""
        if len(self._nets) == 1:
            return 0
        return self.modes.initial if mode is None else mode

    @property
    def simplified(self) -> Network:
        """The network that reads X0, simplified for reachability (:func:`nnreach.network.simplify.simplify`)."""
        return self._nets[self._slot(None)]

    def control_set(self, X: Zonotope, method: str = "zono") -> Zonotope:
        """A zonotope containing the plant inputs for every state in ``X``; its first
        ``X.generators.shape[1]`` generators are those of ``X`` (the same factors). Not for a
        mode-switching controller (see :meth:`control_sets`)."""
        return zono.pad(self._output_set(X, None, method).affine_map(self.out_W, self.out_b), X.generators.shape[1])

    def control_sets(self, X: Zonotope, mode: int | None = None) -> list[tuple[Zonotope, int | None]]:
        """Zonotopes whose union contains the plant inputs for every state in ``X`` (generators as in
        :meth:`control_set`), each with the mode it belongs to: one (mode None), or with :class:`Modes`
        the input of each mode some state of ``X`` may select (a point each), read by the network of
        ``mode``, the mode of the period before (None: the initial mode)."""
        if self.modes is None:
            return [(self.control_set(X), None)]
        m = X.generators.shape[1]
        return [(zono.pad(Zonotope(self.modes.inputs[k], np.zeros((self.plant.m, 0))), m), k)
                for k in self.modes.possible(self._output_set(X, mode))]

    def _output_set(self, X: Zonotope, mode: int | None, method: str = "zono") -> Zonotope:
        """A zonotope containing the outputs of the network of ``mode`` for every state in ``X``."""
        y = next(iter_reach(self._nets[self._slot(mode)], X.affine_map(self.in_W, self.in_b), method))
        return zono.add_box(y, NET_ROUND_REL * zono.magnitude(y) + zono.ROUND_ABS)


@dataclass(frozen=True)
class ReachOptions:
    """Attributes:
        substeps: flow steps per control period (continuous plants).
        order: zonotope order kept after each step (generators per dimension, X0's not counted).
    """

    substeps: int = 10
    order: float = 20.0


@dataclass(frozen=True)
class FlowSet:
    """A zonotope over the state containing every state reached at every time in ``[t0, t1]``."""

    t0: float
    t1: float
    set: Zonotope


@dataclass
class Flowpipe:
    """The result of :func:`reach`.

    Attributes:
        sets: time-interval sets, and the time-point sets (``t0 == t1``) at every step boundary, in time order.
        samples: the state sets at the sample times ``k * period``, k = 0, 1, ... (as far as reached),
            in the order they were computed (with modes: along each mode sequence in turn).
        failure: None when all steps were computed; otherwise why the computation stopped.
        direction: when a ``check`` stopped it, the direction (n,) it returned.
    """

    sets: list[FlowSet] = field(default_factory=list)
    samples: list[Zonotope] = field(default_factory=list)
    failure: str | None = None
    direction: np.ndarray | None = None


Check = Callable[[FlowSet], "np.ndarray | None"]
"""Called on each new set; returns None to go on, or a direction (n,) to stop (a constraint not proved)."""


def _joint(X: Zonotope, U: Zonotope, plant: Plant) -> Zonotope:
    """The zonotope of ``(x, u, w)``: X (n, m gens), U (m_u, m + f gens, the first m shared with X)."""
    n, mx = X.generators.shape
    mu, mt = U.generators.shape
    q = len(plant.disturbances)
    G = np.zeros((n + mu + q, mt + q))
    G[:n, :mx] = X.generators
    G[n:n + mu, :mt] = U.generators
    G[n + mu:, mt:] = np.diag((plant.w_hi - plant.w_lo) / 2)
    c = np.concatenate([X.center, U.center, (plant.w_lo + plant.w_hi) / 2])
    return Zonotope(c, G)


def _discrete_map(field_, Y: Zonotope) -> Zonotope:
    """A zonotope containing ``{g(y) : y in Y}``, by linearisation at the center with the Taylor remainder."""
    ex = Expansion.at(field_, Y.center)
    with np.errstate(over="ignore", invalid="ignore"):
        rem = remainder(field_, ex, Y)
    n = field_.n
    lo, hi = rem.lo[:n], rem.hi[:n]
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise FlowError("the Lagrange remainder of the map is unbounded on the set")
    mid = (lo + hi) / 2
    out = Zonotope(ex.f.mid + mid, ex.J.mid @ Y.generators)
    return zono.with_rounding(zono.add_box(out, np.maximum(hi - mid, mid - lo)))


MAX_MODE_BRANCHES = 1000
"""The most extra mode sequences one flowpipe follows (each ambiguous mode choice adds branches) before
it stops, so that the search splits X0 instead."""


def reach(loop: ClosedLoop, X0: Box, steps: int, options: ReachOptions = ReachOptions(), *,
          check: Check | None = None, deadline: Deadline | None = None) -> Flowpipe:
    """The flowpipe of ``loop`` from every state in ``X0`` over ``steps`` control periods.

    With a mode-switching controller (:class:`Modes`) a period whose state set may select several modes
    is continued once per mode, the whole set with that mode's input (sound: each state continues in
    the mode it selects, among others); the flowpipe then holds the sets of every mode sequence, in
    time order along each.

    Stops early (``failure`` set) when ``check`` returns a direction, a flow step cannot be closed or
    more than :data:`MAX_MODE_BRANCHES` extra mode sequences open.
    Raises :class:`nnreach.verify.deadline.Timeout` when ``deadline`` passes.
    """
    plant = loop.plant
    n = plant.n
    if X0.dim != n:
        raise InputError(f"the initial set has {X0.dim} dimensions but the plant has {n} states")
    X = zono.box_zonotope(X0.lo, X0.hi)
    pipe = Flowpipe()

    def emit(fs: FlowSet) -> bool:
        pipe.sets.append(fs)
        d = None if check is None else check(fs)
        if d is not None:
            pipe.failure, pipe.direction = f"not proved at t in [{fs.t0:.4g}, {fs.t1:.4g}]", d
            return False
        return True

    pipe.samples.append(X)
    if not emit(FlowSet(0.0, 0.0, X)):
        return pipe
    stack, branches = [(X, 0, None)], 0      # state set, period, mode of the period before
    while stack:
        X, k, mode = stack.pop()
        if k == steps:
            continue
        if deadline is not None:
            deadline.check()
        inputs = loop.control_sets(X, mode)
        branches += len(inputs) - 1
        if branches > MAX_MODE_BRANCHES:
            pipe.failure = f"more than {MAX_MODE_BRANCHES} mode sequences at t = {k * loop.period:.4g}"
            return pipe
        for U, chosen in inputs:
            X_next = _period(loop, _joint(X, U, plant), k, options, pipe, emit)
            if X_next is None:
                return pipe
            pipe.samples.append(X_next)
            if not emit(FlowSet((k + 1) * loop.period, (k + 1) * loop.period, X_next)):
                return pipe
            stack.append((X_next, k + 1, chosen))
    return pipe


def _period(loop: ClosedLoop, Y: Zonotope, k: int, options: ReachOptions, pipe: Flowpipe,
            emit: Callable[[FlowSet], bool]) -> Zonotope | None:
    """The state set at the end of period ``k`` from the joint set ``Y`` of ``(x, u, w)``, the sets
    between handed to ``emit``; None when it stopped (``pipe.failure`` says why)."""
    plant, n = loop.plant, loop.plant.n
    t = k * loop.period
    if plant.discrete:
        try:
            return zono.reduce(_discrete_map(plant.field, Y), options.order, n)
        except FlowError as e:
            pipe.failure = f"map at t = {t:.4g}: {e}"
            return None
    todo = [(loop.period / options.substeps, 0)] * options.substeps   # (step, halvings), in time order
    guess = None
    while todo:
        dt, depth = todo.pop(0)
        try:
            s = flow_step(plant.field, Y, dt, guess)
        except FlowError as e:
            if depth >= MAX_HALVINGS:
                pipe.failure = f"flow at t = {t:.4g}: {e}"
                return None
            todo[:0] = [(dt / 2, depth + 1)] * 2
            guess = None
            continue
        guess = s.remainder
        Y = zono.reduce(s.point, options.order, n)
        if not emit(FlowSet(t, t + dt, zono.project(s.interval, n))):
            return None
        t += dt
        if todo and not emit(FlowSet(t, t, zono.project(Y, n))):
            return None
    return zono.project(Y, n)
