"""Train implicit's ALS on the same group x product matrix on CPU and GPU; report fit times.

Run on the device machine (`device` tool) with the wheels of implicit 0.7.3, rmm-cu13 26.2,
librmm-cu13 26.2 and rapids-logger 0.2 carried (see BENCHMARKS.md). It needs no project venv.
The matrix imitates the M world's group x product confidence matrix:
20,000 groups x 6,000 products, ~2.2M non-zeros, popularity-skewed.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits


def matrix(groups: int = 20_000, products: int = 6_000, nnz: int = 2_500_000, seed: int = 7):
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, products + 1) ** 0.8
    pop = rng.permutation(pop / pop.sum())
    rows = rng.integers(0, groups, nnz)
    cols = rng.choice(products, size=nnz, p=pop)
    vals = rng.gamma(1.0, 2.0, nnz).astype(np.float32)
    m = sp.csr_matrix((vals, (rows, cols)), shape=(groups, products))
    m.sum_duplicates()
    return m


def load_rmm() -> None:
    """implicit's CUDA extension needs librmm loaded first (wheels: librmm-cu13 26.2, rmm-cu13 26.2)."""
    try:
        import librmm
        import rapids_logger

        rapids_logger.load_library()
        librmm.load_library()
    except ImportError:
        print("RMM wheels not installed: implicit runs on the CPU only")


def main() -> None:
    load_rmm()
    import implicit
    import implicit.gpu

    m = matrix()
    print(f"implicit {implicit.__version__}; HAS_CUDA={implicit.gpu.HAS_CUDA}; "
          f"matrix {m.shape}, nnz={m.nnz:,}")
    results = {}
    for factors in (64, 128):
        for use_gpu in (False, True):
            if use_gpu and not implicit.gpu.HAS_CUDA:
                continue
            times = []
            for rep in range(3):
                model = implicit.als.AlternatingLeastSquares(
                    factors=factors, iterations=15, regularization=0.05, use_gpu=use_gpu,
                    random_state=rep, **({} if use_gpu else {"num_threads": 2}))  # 2 cores, like ours
                with threadpool_limits(1, "blas"):
                    t0 = time.perf_counter()
                    model.fit(m, show_progress=False)
                    times.append(time.perf_counter() - t0)
            med = statistics.median(times)
            results[(factors, use_gpu)] = med
            print(f"factors={factors:4d} {'GPU' if use_gpu else 'CPU'}: fit median {med:7.2f}s "
                  f"(runs {', '.join(f'{t:.2f}' for t in times)})", flush=True)
        if (factors, True) in results:
            ratio = results[(factors, False)] / results[(factors, True)]
            print(f"  speed-up GPU/CPU at {factors} factors: {ratio:.1f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
