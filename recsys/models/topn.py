"""Top-n per group, in one order everywhere: score descending, then the more popular item, then the
lower item row. Three ways to get it, the same answer from each:

- `dense_top_n`: a dense group x catalogue block (factor models; any mask);
- `sparse_top_n`: a sparse group x item score matrix whose unstored entries are 0 (repeat,
  neighbourhood and blend models): the stored positive scores of each row, then zero-score items in
  popularity order. Its cost follows the stored scores, not the catalogue;
- `profile_top_n`: groups that share one score vector (platform or city popularity): one top-n per
  vector, copied to its groups.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

Parts = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # group row, item, rank, score


def popularity_order(pop: np.ndarray) -> np.ndarray:
    """Item rows, the more popular first (ties: the lower row)."""
    return np.lexsort((np.arange(len(pop)), -pop))


def popularity_ranks(pop: np.ndarray, order: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(the popularity order, each item's place in it)."""
    perm = popularity_order(pop) if order is None else order
    rank_of = np.empty(len(perm), dtype=np.int64)
    rank_of[perm] = np.arange(len(perm))
    return perm, rank_of


def empty_parts() -> Parts:
    empty = np.empty(0, dtype=np.int64)
    return empty, empty, empty, np.empty(0, dtype=np.float32)


def dense_top_n(block: np.ndarray, pop: np.ndarray, n: int, offset: int, order: np.ndarray | None = None
                ) -> Parts:
    """Per row, the n best finite scores (see the module docstring for the order).

    The n-th best score per row is found by a partition (linear in the catalogue, not n log n);
    only the entries at or above it (about n per row, more where scores tie) are sorted, by score
    and then by place in the popularity order.
    """
    n_rows, n_items = block.shape
    n = min(n, n_items)
    if n == 0 or n_rows == 0:
        return empty_parts()
    _, rank_of = popularity_ranks(pop, order)
    key = np.where(np.isfinite(block), block, -np.inf)
    kth = np.partition(key, n_items - n, axis=1)[:, n_items - n][:, None]
    rows, cols = np.nonzero(key >= kth)
    scores = key[rows, cols]
    best = np.lexsort((rank_of[cols], -scores, rows))
    rows, cols, scores = rows[best], cols[best], scores[best]
    first = np.searchsorted(rows, np.arange(n_rows))
    ranks = np.arange(rows.size) - first[rows] + 1
    keep = (ranks <= n) & np.isfinite(scores)
    return rows[keep] + offset, cols[keep], ranks[keep], scores[keep].astype(np.float32)


def sparse_top_n(scores: sp.csr_matrix, pop: np.ndarray, n: int, offset: int,
                 allowed: np.ndarray | None = None, order: np.ndarray | None = None) -> Parts:
    """dense_top_n of scores.toarray() (masked by the 1-d `allowed`), without making it dense.

    Every stored score must be >= 0 (an unstored entry is a score of 0)."""
    scores = sp.csr_matrix(scores)
    n_rows, n_items = scores.shape
    n = min(n, n_items)
    if n == 0 or n_rows == 0:
        return empty_parts()
    perm, rank_of = popularity_ranks(pop, order)
    fill = perm if allowed is None else perm[allowed[perm]]  # zero-score items, best first
    out_rows, out_items, out_scores = [], [], []
    indptr, indices, data = scores.indptr, scores.indices, scores.data
    for r in range(n_rows):
        cols, vals = indices[indptr[r]:indptr[r + 1]], data[indptr[r]:indptr[r + 1]]
        pos = vals > 0
        if allowed is not None:
            pos &= allowed[cols]
        cols, vals = cols[pos], vals[pos]
        if cols.size > n:  # keep the n best, ties at the n-th by popularity
            kth = np.partition(vals, cols.size - n)[cols.size - n]
            keep = vals >= kth
            cols, vals = cols[keep], vals[keep]
        best = np.lexsort((rank_of[cols], -vals))[:n]
        cols, vals = cols[best], vals[best]
        need = n - cols.size
        if need > 0 and fill.size:
            extra = fill[: need + cols.size]
            extra = extra[~np.isin(extra, cols)][:need]
            cols = np.concatenate([cols, extra])
            vals = np.concatenate([vals, np.zeros(extra.size, dtype=vals.dtype)])
        out_rows.append(np.full(cols.size, r + offset, dtype=np.int64))
        out_items.append(cols.astype(np.int64))
        out_scores.append(vals.astype(np.float32))
    rows, items = np.concatenate(out_rows), np.concatenate(out_items)
    ranks = np.concatenate([np.arange(1, c.size + 1) for c in out_items])
    return rows, items, ranks, np.concatenate(out_scores)


def profile_top_n(profiles: np.ndarray, profile_of_row: np.ndarray, pop: np.ndarray, n: int, offset: int,
                  allowed: np.ndarray | None = None, order: np.ndarray | None = None) -> Parts:
    """dense_top_n of profiles[profile_of_row] (masked by the 1-d `allowed`): each profile once."""
    if profile_of_row.size == 0 or n == 0:
        return empty_parts()
    used, inverse = np.unique(profile_of_row, return_inverse=True)
    block = profiles[used]
    if allowed is not None:
        block = np.where(allowed, block, -np.inf)
    p_rows, items, ranks, scores = dense_top_n(block, pop, n, 0, order)
    starts = np.searchsorted(p_rows, np.arange(used.size + 1))
    parts = [(np.full(starts[p + 1] - starts[p], r + offset, dtype=np.int64),
              slice(starts[p], starts[p + 1])) for r, p in enumerate(inverse)]
    if not parts:
        return empty_parts()
    return (np.concatenate([rows for rows, _ in parts]), np.concatenate([items[s] for _, s in parts]),
            np.concatenate([ranks[s] for _, s in parts]), np.concatenate([scores[s] for _, s in parts]))
