"""Pure analysis of measurements and models."""
