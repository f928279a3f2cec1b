"""Ids <-> row numbers, in one place, before anything reaches numpy or implicit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Vocab:
    """A sorted set of string ids; row i of every matrix is `ids[i]`. Unknown ids encode to -1."""

    ids: pl.Series

    @classmethod
    def from_ids(cls, ids: pl.Series | list[str]) -> Vocab:
        s = pl.Series("id", ids, dtype=pl.String).drop_nulls().unique().sort()
        return cls(s)

    def __len__(self) -> int:
        return self.ids.len()

    @property
    def frame(self) -> pl.DataFrame:
        """The vocabulary as a frame (id, row) for joins."""
        return pl.DataFrame({"id": self.ids, "row": np.arange(len(self), dtype=np.int64)})

    def encode(self, ids: pl.Series | list[str]) -> np.ndarray:
        """Row numbers of `ids` (int64); -1 where an id is not in the vocabulary."""
        s = pl.Series("id", ids, dtype=pl.String)
        out = pl.DataFrame({"id": s}).join(self.frame, on="id", how="left", maintain_order="left")
        return out["row"].fill_null(-1).to_numpy().astype(np.int64)

    def encode_column(self, frame: pl.DataFrame, column: str, out: str) -> pl.DataFrame:
        """`frame` with a new int64 column `out` = row of `column` (null where unknown)."""
        voc = self.frame.rename({"id": column, "row": out})
        return frame.join(voc, on=column, how="left", maintain_order="left")

    def decode(self, rows: np.ndarray) -> pl.Series:
        """Ids of row numbers (rows must be valid)."""
        return self.ids.gather(np.asarray(rows, dtype=np.int64))
