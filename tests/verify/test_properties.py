"""Properties held as arrays (:class:`Properties`, :class:`PropertyBlock`), the batched ``deeppoly``
over them, and ``auto`` handing the properties one stage leaves open to the next."""

from __future__ import annotations

import numpy as np
import pytest

from nnreach.network import Network, ops
from nnreach.sets import Box, HPolytope
from nnreach.verify.api import verify
from nnreach.verify.deadline import Deadline
from nnreach.verify.problem import Problem, Properties, Property, PropertyBlock, halfspace_property
from nnreach.verify.result import Status
from nnreach.verify.settings import Settings
from nnreach.verify.symbolic import excluded, unproved

from ..properties import assert_same_properties
from ..soundness import networks


def _mixed(rng, k: int, n: int = 3, m: int = 2) -> list[Property]:
    """``k`` properties of two row structures, interleaved: one polytope ``y_0 <= c``, or two
    polytopes ``y_1 - y_0 <= c`` and ``y_0 >= c'``."""
    props = []
    for i in range(k):
        lo = rng.uniform(-1, 1, n)
        box = Box(lo, lo + rng.uniform(0, 0.5, n))
        if i % 3:
            props.append(Property(box, (HPolytope([[1.0, 0.0]], [rng.normal()]),)))
        else:
            props.append(Property(box, (HPolytope([[-1.0, 1.0]], [rng.normal()]), HPolytope([[-1.0, 0.0]], [rng.normal()]))))
    return props


def test_properties_group_by_rows_and_give_back_each_property():
    props = _mixed(np.random.default_rng(0), 10)
    held = Properties.of(props)
    assert len(held.blocks) == 2 and len(held) == 10
    assert [len(b) for b in held.blocks] == [4, 6]          # in order of first appearance: i = 0 has two polytopes
    assert_same_properties(held, props)
    assert_same_properties(held[2:7], props[2:7])
    assert_same_properties(held.take([9, 0, 4]), [props[9], props[0], props[4]])
    seen = np.concatenate([where for _, _, where in held.take([9, 0, 4]).batches()])
    assert sorted(seen.tolist()) == [0, 1, 2]


def test_a_block_checks_its_shapes():
    with pytest.raises(ValueError, match="disagree"):
        PropertyBlock(np.zeros((2, 3)), np.ones((2, 3)), np.zeros((2, 1)), np.zeros((3, 2)), (2,))
    with pytest.raises(ValueError, match="lo > hi"):
        PropertyBlock(np.ones((1, 1)), np.zeros((1, 1)), np.zeros((1, 1)), np.zeros((1, 1)), (1,))


def test_a_problem_keeps_properties_and_restricts_them():
    net = networks.dense(np.random.default_rng(1), ops.Relu(), depth=2, width=6, n_in=3, n_out=2)
    props = _mixed(np.random.default_rng(2), 7)
    problem = Problem(net, props)
    assert isinstance(problem.properties, Properties)
    assert_same_properties(problem.restricted([5, 1]).properties, [props[5], props[1]])


@pytest.mark.parametrize("activation", [ops.Relu(), ops.Sigmoid()], ids=["relu", "sigmoid"])
def test_batched_deeppoly_proves_what_it_proves_box_by_box_and_nothing_that_fails(activation):
    """The properties :func:`unproved` leaves out are those :func:`excluded` excludes box by box, and
    no sampled input of them reaches an unsafe polytope; thresholds near the sampled outputs leave
    some open."""
    rng = np.random.default_rng(3)
    net = networks.dense(rng, activation, depth=3, width=8, n_in=3, n_out=2)
    props = []
    for i in range(300):
        lo = rng.uniform(-1, 1, 3)
        box = Box(lo, lo + rng.uniform(0, 0.3, 3))
        y = net.forward(rng.uniform(box.lo, box.hi, (64, 3)))
        props.append(Property(box, (HPolytope([[-1.0, 0.0]], [-y[:, 0].max() - rng.uniform(-0.1, 0.5)]),
                                    HPolytope([[1.0, 0.0], [0.0, 1.0]], [y[:, 0].min() - 0.2, rng.normal()]))))
    problem = Problem(net, props)
    left = unproved(problem, Settings(), Deadline(None))
    one_by_one = [i for i, p in enumerate(props) if not all(excluded(net, p.input_box.lo, p.input_box.hi, p.unsafe,
                                                                     Settings().proof_margin))]
    assert left.tolist() == one_by_one
    assert 0 < left.size < len(props)
    for i in sorted(set(range(len(props))) - set(left.tolist())):
        box = props[i].input_box
        x = np.vstack([rng.uniform(box.lo, box.hi, (500, 3)), box.lo, box.hi])
        assert not props[i].is_unsafe(net.forward(x)).any(), f"property {i} proved but violated"


def _line() -> Network:
    """y = relu(x) on one input."""
    return Network.sequential((1,), [ops.Relu()])


def test_auto_hands_the_properties_deeppoly_leaves_open_to_the_next_stage(monkeypatch):
    """Of three properties deeppoly proves two; the third, violated, goes alone to the complete
    method (the attacks are switched off), whose counterexample names its place in the whole problem."""
    from nnreach.verify import api
    from nnreach.verify.result import Result

    seen = []

    def exact_star(problem, settings, deadline):
        seen.append(len(problem.properties))
        return api.exact_star(problem, settings, deadline)

    monkeypatch.setattr(api, "falsify", lambda problem, settings, deadline: Result(Status.UNKNOWN, "falsify"))
    monkeypatch.setattr(api, "complete_methods", lambda net: [("exact-star", exact_star, 1.0)])
    far = halfspace_property(Box([-1.0], [1.0]), [[-1.0]], [-5.0])           # unsafe: y >= 5, out of reach
    near = halfspace_property(Box([-1.0], [1.0]), [[-1.0]], [-0.5])          # unsafe: y >= 0.5, reached
    deep = verify(Problem(_line(), [far, far, near]), "deeppoly")
    assert deep.status is Status.UNKNOWN and deep.stats["unproved_properties"] == 1 and deep.undecided == (2,)
    r = verify(Problem(_line(), [far, near, far]), "auto")
    assert r.status is Status.VIOLATED and r.method == "auto/exact-star" and seen == [1]
    assert r.counterexample.property_index == 1 and r.counterexample.y[0] >= 0.5


def test_deeppoly_leaves_open_a_property_whose_unsafe_set_is_every_output():
    """A polytope without rows is all of the outputs: nothing excludes it, in a block of its own or
    beside others."""
    box = Box([-1.0], [1.0])
    everything = Property(box, (HPolytope(np.zeros((0, 1)), np.zeros(0)),))
    far = halfspace_property(box, [[-1.0]], [-5.0])
    left = unproved(Problem(_line(), [far, everything, far]), Settings(), Deadline(None))
    assert left.tolist() == [1]


def test_a_problem_without_proved_polytopes_keeps_the_rest():
    """Proved polytopes leave their property; a property left with none goes, and with every property
    gone nothing is left to check."""
    net = networks.dense(np.random.default_rng(1), ops.Relu(), depth=2, width=6, n_in=3, n_out=2)
    props = _mixed(np.random.default_rng(2), 4)            # properties 0 and 3 have two polytopes
    problem = Problem(net, props)
    narrowed, kept = problem.without({0: frozenset({1}), 1: frozenset({0})})
    assert kept.tolist() == [0, 2, 3]
    assert_same_properties(narrowed.properties, [Property(props[0].input_box, props[0].unsafe[:1]), props[2], props[3]])
    same, kept = problem.without({})
    assert same is problem and kept.tolist() == [0, 1, 2, 3]
    every = {i: frozenset(range(len(p.unsafe))) for i, p in enumerate(props)}
    none, kept = problem.without(every)
    assert none is None and kept.size == 0


@pytest.mark.parametrize("violated", [False, True])
def test_auto_leaves_out_the_polytopes_a_cut_stage_proved(monkeypatch, violated):
    """A complete method cut at its share of the time after it proved one of two polytopes: the next
    stage gets the property with the other one only, and its counterexample names the property's
    place in the whole problem."""
    from nnreach.verify import api
    from nnreach.verify.deadline import Timeout
    from nnreach.verify.result import Result

    seen = []

    def cut(problem, settings, deadline):
        e = Timeout()
        e.proved = {1: frozenset({0})}      # the second property's first polytope
        raise e

    def complete(problem, settings, deadline):
        seen.append([len(p.unsafe) for p in problem.properties])
        return api.exact_star(problem, settings, deadline)

    far = HPolytope([[-1.0]], [-5.0])                        # y >= 5: out of reach on [-1, 1]
    near = HPolytope([[-1.0]], [-0.5])                       # y >= 0.5: reached
    box = Box([-1.0], [1.0])
    props = [Property(box, (far,)), Property(box, (far, near if violated else far))]
    monkeypatch.setattr(api, "ladder", lambda problem, settings: [("first", cut, settings, 0.1, 1.0),
                                                                   ("second", complete, settings, 1.0, api.NO_LIMIT)])
    r = verify(Problem(_line(), props), "auto")
    assert seen == [[1, 1]] and r.stats["first.polytopes_proved"] == 1
    if violated:
        assert r.status is Status.VIOLATED and r.counterexample.property_index == 1
    else:
        assert r.status is Status.HOLDS
