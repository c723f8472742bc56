"""devicefit: measure, analyze and predict deep-learning work on CPUs and GPUs."""

__version__ = "0.1.0"
