"""Rendering: terminal tables, units, and JSON/CSV views."""
