"""Using a trained model: its card, reading files into its input contract, scoring
in windows, explanations and export. jax/numpy/ecg only: a serving host has no
TensorFlow (DESIGN.md)."""
