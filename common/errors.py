"""Named errors. The CLI maps each to an exit code, the API to one HTTP status.

Messages state the rule, the value received and the fix, e.g.
"orders.csv: column 'quantity' must be an integer > 0; got 'two' on row 17".
"""

from __future__ import annotations


class CircleBuyError(Exception):
    """Base of every error circlebuy raises on purpose. Exit code 1 unless a subclass says so."""

    exit_code = 1


class BadInputError(CircleBuyError):
    """The input (a file, a column, an argument) is not what the contract expects. Exit 2."""

    exit_code = 2


class SchemaError(BadInputError):
    """A raw file is missing a required table / column, or a column has the wrong type."""


class UnparseableFileError(BadInputError):
    """A raw file cannot be read at all (corrupt Parquet, broken CSV)."""


class UsageError(BadInputError):
    """A command-line argument is invalid (bad date, unknown model name, ...)."""


class RunLockedError(CircleBuyError):
    """Another nightly run holds the home's lock."""

    exit_code = 1


class StageFailedError(CircleBuyError):
    """A nightly stage failed; the previous snapshot stays live."""

    exit_code = 1


class NotFittedError(CircleBuyError):
    """A model was used before `fit`."""


class InsufficientHistoryError(CircleBuyError, ValueError):
    """The data ends too soon after it starts for a model to learn anything (a ValueError too, as
    callers that predate the error tree catch it so)."""


class SnapshotError(CircleBuyError):
    """A snapshot is missing, incomplete or malformed."""
