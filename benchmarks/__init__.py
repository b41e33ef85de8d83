"""Benchmarks (`make bench`): speed and memory of Overlap against the floor, side by side."""
