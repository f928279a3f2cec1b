"""What an ingest did, per table: read = loaded + duplicates + quarantined, always."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.contract import TABLES

# `ingest --strict`: the exit status of a run that wrote its report but loaded nothing usable
# (IngestReport.nothing_usable), apart from 2 (bad input, nothing written) and 1 (a failure)
NOTHING_USABLE_EXIT = 3


@dataclass
class TableCounts:
    read: int = 0
    loaded: int = 0
    duplicates: int = 0
    quarantined: int = 0
    rules: dict[str, int] = field(default_factory=dict)  # quarantined rows per rule

    def check(self, table: str) -> None:
        """The accounting identity; a violation is a bug in ingestion, never bad input."""
        if self.read != self.loaded + self.duplicates + self.quarantined:
            raise AssertionError(
                f"{table}: read {self.read} != loaded {self.loaded} + duplicates {self.duplicates} "
                f"+ quarantined {self.quarantined}"
            )
        if sum(self.rules.values()) != self.quarantined:
            raise AssertionError(f"{table}: quarantined {self.quarantined} != sum by rule {self.rules}")


@dataclass
class IngestReport:
    """Counts per table (in load order), the files read, warnings, and the time taken; `fatal`: the
    message of the error that stopped the run (then nothing was written)."""

    tables: dict[str, TableCounts] = field(default_factory=dict)
    files: int = 0
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    fatal: str | None = None
    loud: list[str] = field(default_factory=list)  # more alerts, e.g. a required table without rows

    def alerts(self) -> list[str]:
        """Tables of which every row read was quarantined: nothing of them loaded (a wrong file, a
        missing parent table?), and the `loud` warnings (a required table's files hold no rows):
        said loudly in the text, first among the JSON warnings, and on stderr with --json."""
        return [*self.loud] + [
            f"WARNING: {name}: all {c.read:,} rows read were quarantined, none loaded ("
            + ", ".join(f"{rule}: {k:,}" for rule, k in sorted(c.rules.items()))
            + "); see the quarantine table"
            for name, c in self.tables.items()
            if c.read and c.quarantined == c.read
        ]

    def nothing_usable(self) -> list[str]:
        """Why nothing usable went in, for `ingest --strict` (exit NOTHING_USABLE_EXIT, the report still
        written): no file of a contract table read at all, or a required table of which every row read
        was quarantined. Empty when the run loaded something of every required table it read."""
        if self.fatal is not None:
            return []
        if not self.files:
            return ["no file of a contract table was read from RAW (nothing to load)"]
        return [f"{name}: all {c.read:,} rows read were quarantined, none loaded"
                for name, c in self.tables.items()
                if TABLES[name].required and c.read and c.quarantined == c.read]

    def to_json(self) -> dict:
        return {
            "tables": {
                name: {"read": c.read, "loaded": c.loaded, "duplicates": c.duplicates,
                       "quarantined": c.quarantined}
                for name, c in self.tables.items()
            },
            "quarantine_rules": {name: dict(c.rules) for name, c in self.tables.items() if c.rules},
            "files": self.files,
            "warnings": [*self.alerts(), *self.warnings],
            "seconds": round(self.seconds, 3),
            "fatal": self.fatal,
        }

    def render(self) -> str:
        """A text table for the terminal, quarantine counts per rule, the warnings, and last a WARNING
        line per table of which every row was quarantined."""
        head = f"{'table':<12} {'read':>12} {'loaded':>12} {'duplicates':>12} {'quarantined':>12}"
        lines = [head, "-" * len(head)]
        for name, c in self.tables.items():
            lines.append(f"{name:<12} {c.read:>12,} {c.loaded:>12,} {c.duplicates:>12,} {c.quarantined:>12,}")
        quarantined = [(n, r, k) for n, c in self.tables.items() for r, k in sorted(c.rules.items())]
        if quarantined:
            lines += ["", "quarantined by rule:"]
            lines += [f"  {n}.{r}: {k:,}" for n, r, k in quarantined]
        if self.warnings:
            lines += ["", "warnings:"] + [f"  {w}" for w in self.warnings]
        lines += ["", f"{self.files} files in {self.seconds:.1f}s; read = loaded + duplicates + quarantined"]
        alerts = self.alerts()
        return "\n".join(lines + ([""] + alerts if alerts else []))
