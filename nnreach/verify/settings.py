"""Settings shared by the verification methods (a frozen dataclass; presets are classmethods)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Settings:
    """Knobs of the verification methods.

    Attributes:
        seed: seed of every random choice (sampling, attack restarts), so runs are repeatable.
        samples: random inputs tried per property by falsification (corners and center included).
        pgd_restarts: parallel starts of the gradient attack, per unsafe polytope.
        pgd_steps: steps of the gradient attack per start.
        proof_margin: a bound only proves ``a.y > b`` when it exceeds ``b`` by this much (absorbs
            floating-point error of the bound computation).
    """

    seed: int = 0
    samples: int = 2048
    pgd_restarts: int = 16
    pgd_steps: int = 60
    proof_margin: float = 1e-9

    def __post_init__(self):
        for name in ("samples", "pgd_restarts", "pgd_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"Settings.{name} must be >= 0")

    @classmethod
    def quick(cls) -> "Settings":
        """Small attack budgets, for tests and as the first rung of ``auto``."""
        return cls(samples=256, pgd_restarts=4, pgd_steps=20)
