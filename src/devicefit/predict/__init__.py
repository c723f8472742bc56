"""Prediction: device performance models, calibration, and predicted step times."""
