"""Branch-and-bound with optimised linear bounds (alpha-CROWN, beta-CROWN): ``bab``.

Requirements: a network whose ops have linear relaxations (:mod:`nnreach.bounds`).
Returns: HOLDS when every sub-problem is closed, VIOLATED with a confirmed counterexample, UNKNOWN when
    a sub-problem is left that cannot be split further and is not decided exactly.
Method: configurations of the search core (:mod:`.search`), in stages.
    *Input splits* for networks with at most :data:`LOW_INPUT_DIM` inputs (ACAS Xu has 5), or
    :data:`NONLINEAR_INPUT_DIM` when the network has products or the functions of ``Unary``, where
    halving the box shrinks every neuron's range quickly: intermediate bounds in forward mode (cheap
    for few inputs), the polytope's rows mixed and bounded by alpha-CROWN warm-started from the parent,
    the input with the largest smear halved (:class:`.search.InputSplit`). They get
    :data:`INPUT_SHARE` of the time; neuron splits, which find tiny counterexample regions that input
    splits miss, get the rest.
    *Neuron splits* otherwise: at the root, the rows bounded by alpha-CROWN on plain intermediate
    bounds, and if that leaves a polytope open, every neuron's bounds optimised by alpha-CROWN node
    by node; in every domain, the parent's intermediate bounds with the cuts as priors, and the
    polytope's rows bounded by alpha- and beta-CROWN (the cuts enter through multipliers),
    warm-started from the parent; the neuron to cut chosen among the best-scored ones by bounding
    their children with the parent's parameters (:class:`.search.LookaheadSplit`, filtered smart
    branching); one search per unsafe polytope (each shares the root). A domain of a piecewise-linear network whose
    neurons are all decided is decided exactly by one LP. Networks with sigmoid or tanh get these
    splits for :data:`SMOOTH_SHARE` of the time, then a second search (:data:`WITH_LP`; not with
    max pooling) with the LP of the relaxation, the cuts as constraints, in every open domain, which
    closes more domains, gives a candidate input, and picks the neuron that strays most at its
    optimum: as the cut intervals shrink, the LP converges to the network (measured on a 6x200
    sigmoid net at eps 0.03: a row the splits alone prove in 3.7 s was not proved in 30 s with the LP
    in every domain). A stage that leaves a sub-problem undecided, or runs out of its share of the time,
    hands over to the next one, which searches only the polytopes no stage proved.
Soundness and completeness: sound (every bound holds for every parameter the optimiser may choose;
    ``Settings.proof_margin`` absorbs round-off). Complete for piecewise-linear networks: input
    splits up to float tolerance (a box halved down to ``Settings.min_split_width`` of the root's
    width with neurons still undecided is UNKNOWN), neuron splits exactly (the LP at the leaves, once
    every neuron is decided and every max pooling window has one dominating entry: its entries are
    cut when the activations are all decided). For
    sigmoid and tanh complete up to a tolerance through the relaxation LP (a neuron interval is not cut
    below ``Settings.min_split_width`` of its root width), except in networks with max pooling, which
    has no LP encoding.
Reference: Xu et al., alpha-CROWN, ICLR 2021; Wang et al., Beta-CROWN, NeurIPS 2021; Wang et al.,
    ReluVal, USENIX Security 2018; Bunel et al., Branch and Bound for Piecewise Linear Neural Network
    Verification (BaBSR), JMLR 2020; De Palma et al., Improved Branch and Bound for Neural Network
    Verification via Lagrangian Decomposition (filtered smart branching), 2021; Shi et al., GenBaB, TACAS 2025.
"""

from __future__ import annotations

from ..bounds.optimised import Optimisation
from ..network.graph import Network
from ..network.ops import Activation, Product, Unary
from .deadline import Deadline, Timeout
from .problem import Problem
from .result import Result, Status
from .search import Config, Counters, InputSplit, LinearBounding, LookaheadSplit, NeuronSplit, RelaxationLPBounding, decide
from .settings import Settings

NAME = "bab"
LOW_INPUT_DIM = 16
"""``bab`` splits the input box for inputs of at most this many dimensions, neurons above."""
NONLINEAR_INPUT_DIM = 32
"""The input limit of input splits for networks with products or the functions of ``Unary``: neuron
splits only cut activations, so only input splits shrink those ops' relaxations (VNN-COMP ml4acopf,
22 inputs, 14_ieee prop3: input splits prove it in 0.2 s, neuron splits time out at 60 s)."""
INPUT_SHARE = 0.5
"""With few inputs, the input splits get this share of the time; neuron splits get the rest."""

INPUT_SPLITS = Config(LinearBounding("forward", Optimisation(steps=5)), InputSplit(), batch=1024)
"""Input splits: forward intermediate bounds, a few alpha steps per box."""
NEURON_SPLITS = Config(LinearBounding("backward", Optimisation(steps=5), record=True, root=Optimisation(steps=20),
                                      recompute=0),
                       LookaheadSplit(neurons=6, inputs=0, layer_order=False,
                                      evaluate=LinearBounding("reuse", Optimisation.none())),
                       batch=64, joint=False)
"""Neuron splits: alpha-optimised root, beta-CROWN domains on the parent's intermediate bounds (the
split neuron's fixed; measured on CIFAR conv nets: recomputing the nodes after a split took twice the
time for the same number of domains, and on MNIST-FC 256x4 it saved domains but no time). The neuron
is chosen by filtered smart branching: the children of the six best-scored candidates bounded once
with the parent's parameters, the candidate whose worse child comes closest to closing wins (a tenth
of the domains on CIFAR conv nets, a third on MNIST-FC 256x4)."""


SMOOTH_SHARE = 0.5
"""With smooth activations, the neuron splits without the relaxation LP get this share of the time;
the splits with the LP in every open domain get the rest."""


def input_split_limit(net: Network) -> int:
    """The most inputs for which ``bab`` splits the input box first (:data:`LOW_INPUT_DIM`, or
    :data:`NONLINEAR_INPUT_DIM` with products or the functions of ``Unary``)."""
    nonlinear = any(isinstance(n.op, (Product, Unary)) for n in net.nodes)
    return NONLINEAR_INPUT_DIM if nonlinear else LOW_INPUT_DIM


def smooth(problem: Problem) -> bool:
    """Whether the network has an activation without breakpoints (sigmoid, tanh) and otherwise only
    ops the relaxation LP takes (affine ops and activations: not products, max pooling or the
    functions of ``Unary``), so that neuron splits with the LP apply."""
    net = problem.network
    return not net.piecewise_linear and all(n.op.is_affine or isinstance(n.op, Activation) for n in net.nodes)


WITH_LP = Config(RelaxationLPBounding(NEURON_SPLITS.bounding), NeuronSplit(), batch=NEURON_SPLITS.batch,
                 joint=NEURON_SPLITS.joint)
"""Neuron splits of smooth networks with the relaxation LP in every domain the linear bounds leave
open; the neuron cut is the one that strays most at the LP's optimum."""


def _share(deadline: Deadline, share: float) -> Deadline:
    """A deadline at ``share`` of the time ``deadline`` leaves (the same one when it has no limit)."""
    left = deadline.remaining()
    return Deadline(share * left) if left != float("inf") else deadline


def _stages(problem: Problem, settings: Settings, deadline: Deadline,
            stages: list[tuple[str, Config, float]]) -> Result:
    """Searches in turn, each with its share of the time left (the last with all of it), until one
    decides (one that leaves a sub-problem undecided hands over to the next); counters summed; the
    root's intermediate bounds computed once and the polytopes proved kept (``roots``, see
    :func:`.search.decide`; when the time runs out they go with the :class:`Timeout` as its
    ``proved``); ``stats["splitting"]`` names the stages that ran."""
    counters = Counters()
    roots: dict[int, dict] = {}
    ran = []
    r = Result(Status.UNKNOWN, NAME)
    for k, (name, config, share) in enumerate(stages):
        ran.append(name)
        limit = deadline if k == len(stages) - 1 else _share(deadline, share)
        try:
            r = decide(problem, problem.network, config, settings, limit, NAME, counters, roots)
        except Timeout as e:
            if limit is deadline:
                e.proved = {i: frozenset(shared["proved"]) for i, shared in roots.items() if shared.get("proved")}
                raise
            continue
        if r.status is not Status.UNKNOWN:
            break
    return Result(r.status, NAME, counterexample=r.counterexample, stats={**counters.as_dict(), "splitting": ", then ".join(ran)})


def bab(problem: Problem, settings: Settings, deadline: Deadline) -> Result:
    """Branch-and-bound over every property and unsafe polytope (see the module docstring)."""
    neurons = [("neurons", NEURON_SPLITS, SMOOTH_SHARE if smooth(problem) else 1.0)]
    if smooth(problem):
        neurons.append(("neurons with the relaxation LP", WITH_LP, 1.0))
    if problem.network.input_size > input_split_limit(problem.network):
        return _stages(problem, settings, deadline, neurons)
    return _stages(problem, settings, deadline, [("inputs", INPUT_SPLITS, INPUT_SHARE)] + neurons)
