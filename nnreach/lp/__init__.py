"""Linear programming over HiGHS: one incremental, warm-started LP wrapper."""

from .highs import LinearProgram, LPResult, LPStatus

__all__ = ["LinearProgram", "LPResult", "LPStatus"]
