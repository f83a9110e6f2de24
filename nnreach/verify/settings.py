"""Settings shared by the verification methods (a frozen dataclass; presets are classmethods)."""

from __future__ import annotations

from dataclasses import dataclass

from ..reach.conformal import KINDS, check_probability


@dataclass(frozen=True, slots=True)
class Settings:
    """Knobs of the verification methods.

    Attributes:
        seed: seed of every random choice (sampling, attack restarts), so runs are repeatable.
        samples: random inputs tried per property by falsification (corners and center included), at
            most (see :func:`nnreach.verify.falsify.budgets`: large networks get fewer).
        pgd_restarts: parallel starts of the gradient attack, per unsafe polytope, at most.
        pgd_steps: steps of the gradient attack per start.
        polish: the attack polishes its best end points by walks over linear regions (chain networks;
            an LP per region, the costly part of the attack on image-sized networks).
        proof_margin: a bound only proves ``a.y > b`` when it exceeds ``b`` by this much (absorbs
            floating-point error of the bound computation).
        batch: how many sub-problems branch-and-bound bounds in one vectorised pass.
        star_box_lp: exact-star tightens the box of every new region by LP (two per side that the new
            constraint cuts off), which sharpens the bounds of its descendants.
        jobs: worker processes a single search may use (exact-star on chain networks); 1 searches in
            the calling process only.
        ray: address of a Ray cluster (``"local"`` starts one here) whose CPUs share a single search
            instead of local worker processes (see :mod:`nnreach.parallel.ray_tasks`), or None.
        min_split_width: branch-and-bound gives up on a box (UNKNOWN) once all its sides are below this
            fraction of the original box's sides.
        coverage: ``conformal``: the probability, at least, that the output of a random input lies in
            the calibrated set, in (0, 1).
        confidence: ``conformal``: the probability, at least, over the calibration sample, that the
            coverage holds, in (0, 1).
        conformal_set: ``conformal``: the kind of set, ``"box"``, ``"pca"`` or ``"linear"`` (see
            :mod:`nnreach.reach.conformal`).
    """

    seed: int = 0
    samples: int = 20000
    pgd_restarts: int = 512
    pgd_steps: int = 100
    polish: bool = True
    proof_margin: float = 1e-9
    batch: int = 1024
    star_box_lp: bool = True
    jobs: int = 1
    ray: str | None = None
    min_split_width: float = 1e-9
    coverage: float = 0.99
    confidence: float = 0.999
    conformal_set: str = "pca"

    def __post_init__(self):
        for name in ("samples", "pgd_restarts", "pgd_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"Settings.{name} must be >= 0")
        if self.batch < 1:
            raise ValueError("Settings.batch must be >= 1")
        if self.jobs < 1:
            raise ValueError("Settings.jobs must be >= 1")
        check_probability("coverage", self.coverage)
        check_probability("confidence", self.confidence)
        if self.conformal_set not in KINDS:
            raise ValueError(f"Settings.conformal_set must be one of {', '.join(KINDS)}")

    @classmethod
    def quick(cls) -> "Settings":
        """Small attack budgets, for tests."""
        return cls(samples=256, pgd_restarts=4, pgd_steps=20)
