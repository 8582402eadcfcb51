"""Which synthetic ECGs this code generates, apart from the generator that makes them.

A run on a synthetic_ecg dataset reads it at this version (data.embedded), and a fresh
stream checks the built splits against it, without importing the generator: that
(scipy.signal among it) costs a command ~1 s that only generating needs.
"""

# What the code here generates; the synthetic_ecg builder's version. A change that alters
# any generated ECG raises it (the builder's RELEASE_NOTES say what changed).
VERSION = "1.7.0"
