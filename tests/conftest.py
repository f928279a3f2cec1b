"""Test-wide settings, applied before any test module imports scikit-learn or implicit."""

import os

# Same as the CLI (pipelines.cli.limit_native_threads): one OpenMP/BLAS thread per library.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
