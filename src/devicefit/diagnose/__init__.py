"""Diagnoses: doctor (does each framework use the GPU, and the fix when not) and watch (is a job using it)."""
