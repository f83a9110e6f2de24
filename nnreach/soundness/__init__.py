"""Soundness benchmarks: networks with planted counterexamples and their provably safe twins."""
