"""Benchmarks on every node of a Ray cluster: the Ray plumbing, and the nodes slower than the fleet."""
