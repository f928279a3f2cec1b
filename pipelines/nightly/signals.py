"""A nightly or backfill stopped by SIGTERM (a scheduler, `kill`, systemd) or SIGINT (Ctrl-C) ends as a
failed run that says so, instead of a process that vanishes and leaves its ledger row `running`.

While `terminate_on_signals()` is active the two signals raise `Terminated`, a BaseException (like
KeyboardInterrupt, so that no `except Exception` of a stage can swallow it): the runner records the run
as failed, "terminated by SIGTERM during stage train", `nightly --json` prints the run's object, and the
process exits 128 + the signal's number (143 for SIGTERM, 130 for SIGINT). A second signal while the
run is being wound up is ignored (the ledger write and the JSON finish); the handlers that were there
before are restored when the block ends. A signal the process ignores (SIG_IGN: started under `nohup`, or
SIGINT of a background job) stays ignored. Cheap to import (no heavy module): the CLI installs it first.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGTERM, signal.SIGINT)

_depth = 0                   # nested blocks (the CLI's, run_backfill's, run_nightly's) share one state
_received: int | None = None  # the first signal received inside the outermost block


class Terminated(BaseException):  # noqa: N818 - named for what happened, like KeyboardInterrupt
    """The run was stopped by a signal. `exit_code` is 128 + its number; `summary` is the run's
    object (`nightly --json`) once the runner has recorded it; `where` what a backfill had done."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = int(signum)
        self.exit_code = 128 + self.signum
        self.summary: dict | None = None
        self.where: str | None = None

    @property
    def signal_name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    def __str__(self) -> str:
        return f"terminated by {self.signal_name}"


_deferred = 0  # inside deferred_signals(): a signal is noted, raised when the block ends


def _handler(signum: int, frame: object) -> None:
    global _received
    if _received is not None:  # already stopping: let the ledger write and the JSON finish
        return
    _received = signum
    if _deferred:
        return
    raise Terminated(signum)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """A block no signal cuts in two (publish: the lake's commit, the switch of HOME/current, the
    served list's vintage): a signal received inside it is noted and raised as `Terminated` when the
    block has ended, so the run stops after the switch with everything that goes with it written."""
    global _deferred
    _deferred += 1
    try:
        yield
    finally:
        _deferred -= 1
    if _deferred == 0:
        raise_if_terminated()


@contextlib.contextmanager
def terminate_on_signals(signums: tuple[int, ...] = SIGNALS) -> Iterator[None]:
    """SIGTERM and SIGINT raise `Terminated` inside the block; the previous handlers come back after it.
    Outside the main thread (where Python delivers no signal) it does nothing."""
    global _depth, _received
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, object] = {}
    for signum in signums:
        old = signal.getsignal(signum)
        if old is signal.SIG_IGN:  # nohup, a background job's SIGINT: the caller chose to ignore it
            continue
        previous[signum] = old
        signal.signal(signum, _handler)
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        for signum, old in previous.items():
            signal.signal(signum, signal.SIG_DFL if old is None else old)
        if _depth == 0:
            _received = None


def pending() -> Terminated | None:
    """The termination asked for by a signal received in the block, whether or not its exception got
    through (a library may have swallowed it, or turned it into its own error), else None."""
    return None if _received is None else Terminated(_received)


def raise_if_terminated() -> None:
    """Raise `Terminated` if a signal was received and its exception was swallowed on the way."""
    stop = pending()
    if stop is not None:
        raise stop


def as_termination(exc: BaseException) -> Terminated | None:
    """`exc` as the signal that stopped the run: itself when Terminated, the pending signal when one was
    received (whatever `exc` became on the way), Ctrl-C's KeyboardInterrupt (a handler not ours, e.g.
    Spark's) as SIGINT; None for any other failure."""
    if isinstance(exc, Terminated):
        return exc
    stop = pending()
    if stop is not None:
        return stop
    if isinstance(exc, KeyboardInterrupt):
        return Terminated(signal.SIGINT)
    return None
