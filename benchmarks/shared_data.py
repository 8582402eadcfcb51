"""Where the benchmarks find the project's larger real sets by default: the `shared/data`
folder beside the checkout (a flag on each benchmark names another). The package's own
samples (ecgjax.samples) are a subset of these."""

import os

SHARED_DATA = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                            "..", "shared", "data"))
