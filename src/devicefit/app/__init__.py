"""Orchestration: the one place that strings the stages together, for the CLI, ``benchmarks/`` and the API.

Each function takes plain arguments (and a store where results are kept), runs the stages in order
and returns a record from ``devicefit.records``; none prints.
"""
