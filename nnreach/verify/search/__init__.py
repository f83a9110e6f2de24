"""One branch-and-bound core: sub-problems in batches (:mod:`.domain`), bounding strategies
(:mod:`.bounding`), branching strategies (:mod:`.branching`), the oracle (:mod:`.oracle`) and the
driver (:mod:`.driver`). Methods are configurations of it."""

from .bounding import LinearBounding, RegionLPBounding, RelaxationLPBounding
from .branching import InputSplit, LookaheadSplit, NeuronSplit
from .domain import Bounded, Counters, Domains, Target
from .driver import Config, decide, search
from .oracle import Oracle

__all__ = ["Bounded", "Config", "Counters", "Domains", "InputSplit", "LinearBounding", "LookaheadSplit", "NeuronSplit",
           "Oracle", "RegionLPBounding", "RelaxationLPBounding", "Target", "decide", "search"]
