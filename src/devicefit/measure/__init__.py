"""Measurement: the timer, benchmark cases, and running them into stored runs."""
