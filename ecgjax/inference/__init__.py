"""Using a trained model: reading any file into its input contract, scoring in
windows, explanations and export. jax/numpy/ecg/models only: a serving host has no
TensorFlow."""
