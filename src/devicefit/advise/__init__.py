"""Advice from predictions: where the CPU stops winning (crossover), which device or instance to use."""
