"""ecgjax: a JAX/Flax trainer for ECG foundation models."""

import os

# etils.epath reaches buckets through gcsfs, not TensorFlow's file system, whether or not
# TensorFlow is installed (ecgjax.storage says why). Set before epath first picks a
# client; a value already in the environment is kept.
os.environ.setdefault("EPATH_USE_TF", "false")
