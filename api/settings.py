"""Service settings: one frozen object built at the edge (server, tests) and passed down as values."""

from __future__ import annotations

import os
from dataclasses import dataclass

from common.errors import UsageError


@dataclass(frozen=True)
class Settings:
    """How the service behaves; the defaults suit `circlebuy serve` on one machine."""

    watch_interval_s: float = 1.0  # how often HOME/current and keys.json are checked for changes
    cookie_name: str = "circlebuy_key"
    cookie_secure: bool = True  # False only to serve plain HTTP for local use (CIRCLEBUY_COOKIE_SECURE=0)
    cookie_max_age_s: int = 30 * 24 * 3600
    access_log: bool = True  # one JSON line per request on the "circlebuy.api.access" logger
    download_chunk_bytes: int = 64 * 1024
    chart_campaigns: int = 12  # booking-curve charts drawn on the supplier page
    max_body_bytes: int = 4096  # a feedback body or the sign-in form is ~100 bytes; more is 413
    max_headers: int = 100  # header fields per request; more is 431
    max_header_bytes: int = 16 * 1024  # names and values of all header fields; more is 431
    trusted_origins: frozenset[str] = frozenset()  # other origins whose pages may post here
    # read-time exclusions (api.served): a "not interested" hides the product from the group's lists for
    # this many days (as the nightly's PicksConfig.not_interested_days); a "skip" hides it from that
    # day's list only when hide_skipped (CIRCLEBUY_HIDE_SKIPPED=1); by default a skip is only marked
    hide_skipped: bool = False
    not_interested_days: int = 30

    def __post_init__(self) -> None:
        if self.watch_interval_s <= 0:
            raise UsageError(f"watch_interval_s must be > 0; got {self.watch_interval_s!r}")
        for name in ("max_body_bytes", "max_headers", "max_header_bytes", "not_interested_days"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be >= 1; got {getattr(self, name)!r}")
        if self.download_chunk_bytes < 1024:
            raise UsageError(f"download_chunk_bytes must be >= 1024; got {self.download_chunk_bytes!r}")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read CIRCLEBUY_WATCH_INTERVAL_S, CIRCLEBUY_COOKIE_SECURE, CIRCLEBUY_ACCESS_LOG,
        CIRCLEBUY_HIDE_SKIPPED."""
        env = os.environ if environ is None else environ
        kwargs: dict[str, object] = {}
        if "CIRCLEBUY_WATCH_INTERVAL_S" in env:
            raw = env["CIRCLEBUY_WATCH_INTERVAL_S"]
            try:
                kwargs["watch_interval_s"] = float(raw)
            except ValueError:
                raise UsageError(
                    f"CIRCLEBUY_WATCH_INTERVAL_S: expected seconds as a number; got {raw!r}"
                ) from None
        for name, field in (
            ("CIRCLEBUY_COOKIE_SECURE", "cookie_secure"),
            ("CIRCLEBUY_ACCESS_LOG", "access_log"),
            ("CIRCLEBUY_HIDE_SKIPPED", "hide_skipped"),
        ):
            if name in env:
                kwargs[field] = _flag(name, env[name])
        return cls(**kwargs)  # type: ignore[arg-type]


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise UsageError(f"{name}: expected 1/0/true/false; got {raw!r}")
