"""Shared fixtures: where the published benchmarks are (``../shared/benchmarks`` beside the repo)."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO.parent / "shared" / "benchmarks"
EXAMPLES = REPO / "examples"


@pytest.fixture
def benchmarks() -> Path:
    if not BENCHMARKS.is_dir():
        pytest.skip(f"published benchmarks not found at {BENCHMARKS}")
    return BENCHMARKS
