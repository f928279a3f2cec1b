"""The published snapshot: validate a snapshot folder and load it into the shape that serves fastest.

A snapshot folder (HOME/snapshots/<run_id>/) is accepted only when `manifest.json` is present and
every file it needs is listed in the manifest's `files` with a matching SHA-256 and row count,
has the columns below and its ids refer to rows that exist. Anything else raises SnapshotError
naming the file and what was expected; the caller keeps serving the snapshot it had.

Serving shape: the picks response body per (locale, date, group) is prepared once as bytes, with
each pick's reason rendered in that locale from its `reason_code` and `reason_args` (columns a
snapshot published before reasons were data lacks: it serves its `reason` as it is); the demand
rows are partitioned per supplier and serialized per (supplier, as_of, format) on first use,
then held in memory for the life of the snapshot (a download streams those bytes, no copy).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import polars as pl

from api.clock import platform_day_expr
from api.i18n import DEFAULT_LOCALE, LOCALES, messages, parse_args
from common.clock import PLATFORM_TZ
from common.errors import SnapshotError
from common.snapshot_format import MANIFEST, read_manifest, sha256_of  # noqa: F401  (re-exported)

PICKS_COLUMNS = (
    "group_id",
    "for_date",
    "rank",
    "product_id",
    "campaign_id",
    "score",
    "slot",
    "reason",
    "model_version",
)
DEMAND_COLUMNS = (
    "as_of",
    "campaign_id",
    "product_id",
    "supplier_id",
    "warehouse_id",
    "delivery_on",
    "ordered_qty",
    "groups_ordering",
    "forecast_p10",
    "forecast_p50",
    "forecast_p90",
    "suggested_qty",
    "method",
    "model_version",
)
# optional picks columns: the reason as data (code + its numbers as JSON object text)
REASON_COLUMNS = ("reason_code", "reason_args")
# what a campaign's rows share, so its per-warehouse rows leave them out
PER_CAMPAIGN_FACTS = ("campaign_id", "product_id", "supplier_id")
REQUIRED_FILES: dict[str, tuple[str, ...]] = {
    "picks.parquet": PICKS_COLUMNS,
    "demand.parquet": DEMAND_COLUMNS,
    "groups.parquet": ("group_id", "shopkeeper_id", "city", "warehouse_id"),
    "products.parquet": ("product_id", "supplier_id", "name", "category", "price"),
    "campaigns.parquet": (
        "campaign_id",
        "product_id",
        "supplier_id",
        "opens_at",
        "closes_at",
        "warehouse_id",
        "max_qty",
    ),
}
OPTIONAL_FILES: dict[str, tuple[str, ...]] = {
    "booking_curves.parquet": ("campaign_id", "warehouse_id", "at", "cum_qty"),
    "suppliers.parquet": ("supplier_id", "name"),  # the suppliers' names, for their page
}
# optional columns of required files: groups.parquet `name` (what the shopkeeper calls the group)
FORMATS = ("json", "csv", "parquet")
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
ISO_FORMAT = "%Y-%m-%dT%H:%M:%S%:z"


@dataclass(frozen=True)
class Download:
    """One prepared download: the bytes, their ETag and the file name to offer."""

    body: bytes
    etag: str
    filename: str
    media_type: str


@dataclass
class Snapshot:
    """One loaded snapshot, immutable once built (apart from the lazily filled download cache)."""

    path: Path
    run_id: str
    date: str
    model_version: str
    created_at: str
    last_modified: str  # HTTP date of created_at, for Last-Modified
    manifest: dict[str, Any]
    group_owner: dict[str, str]  # group_id -> shopkeeper_id
    groups_of: dict[str, list[str]]  # shopkeeper_id -> group_ids
    product_supplier: dict[str, str]
    campaign_supplier: dict[str, str]
    suppliers: frozenset[str]
    picks_dates: tuple[str, ...]  # ISO dates with picks, ascending
    default_picks_date: str
    picks_bodies: dict[str, dict[str, dict[str, bytes]]]  # locale -> date -> group_id -> JSON body
    campaign_bodies: dict[str, bytes]
    demand_by_supplier: dict[str, pl.DataFrame]
    demand_empty: pl.DataFrame  # the demand schema with no rows, for suppliers without rows
    products: pl.DataFrame
    groups: pl.DataFrame
    campaigns: pl.DataFrame
    booking_curves: pl.DataFrame | None
    product_names: dict[str, str] = field(default_factory=dict)  # product_id -> name
    group_names: dict[str, str] = field(default_factory=dict)  # group_id -> name, where the data has one
    supplier_names: dict[str, str] = field(default_factory=dict)  # supplier_id -> name
    group_cities: dict[str, str] = field(default_factory=dict)  # group_id -> city
    warehouse_city: dict[str, str] = field(default_factory=dict)  # warehouse_id -> the city of its groups
    pick_products: dict[str, dict[str, frozenset[str]]] = field(default_factory=dict)  # date -> group -> ids
    _downloads: dict[tuple[str, str | None, str], Download] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def picks_body(self, group_id: str, day: str | None, locale: str = DEFAULT_LOCALE) -> bytes | None:
        """The prepared picks body for a known group in `locale` (api.i18n.LOCALES), or None when the
        snapshot has no such date."""
        asked = day
        day = day or self.default_picks_date
        by_group = self.picks_bodies.get(locale, {}).get(day)
        if by_group is None:
            if asked is not None:
                return None
            by_group = {}  # a snapshot without any picks: today's list is empty, not missing
        body = by_group.get(group_id)
        if body is None:  # a known group without picks that day: an empty list, not an error
            body = _picks_envelope(group_id, day, self.model_version, "")
        return body

    def picked(self, group_id: str, day: str | None) -> frozenset[str]:
        """The product ids on a group's published list for `day` (default: the latest date)."""
        return self.pick_products.get(day or self.default_picks_date, {}).get(group_id, frozenset())

    def groups_city(self, group_id: str) -> str | None:
        return self.group_cities.get(group_id)

    def group_title(self, group_id: str) -> str | None:
        """What the shopkeeper calls the group; None when the data gives it no name."""
        return self.group_names.get(group_id)

    def supplier_as_ofs(self, supplier_id: str) -> list[str]:
        """The as-of days (platform's zone, ISO) of the supplier's demand rows, ascending."""
        frame = self.demand_by_supplier.get(supplier_id)
        if frame is None or frame.height == 0:
            return []
        return sorted(frame.select(_as_of_day(frame)).to_series().drop_nulls().unique().to_list())

    def download(self, supplier_id: str, as_of: str | None, fmt: str) -> Download | None:
        """Bytes for one supplier's demand rows in `fmt`, built once per snapshot; None if no such as_of."""
        key = (supplier_id, as_of, fmt)
        cached = self._downloads.get(key)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._downloads.get(key)
            if cached is None:
                cached = self._build_download(supplier_id, as_of, fmt)
                if cached is not None:
                    self._downloads[key] = cached
        return cached

    def _build_download(self, supplier_id: str, as_of: str | None, fmt: str) -> Download | None:
        frame = self.demand_by_supplier.get(supplier_id)
        if frame is None:
            frame = self.demand_empty
        if as_of is not None:
            if as_of not in self.supplier_as_ofs(supplier_id):
                return None
            frame = frame.filter(_as_of_day(frame) == as_of)
        names = self.products.select("product_id", pl.col("name").alias("product_name"))
        frame = frame.join(names, on="product_id", how="left", maintain_order="left")
        held = self.supplier_as_ofs(supplier_id) if frame.height else []
        # unfiltered rows of a single as-of day say which day they are, as a filtered download does
        shown = as_of or (held[0] if len(held) == 1 else None)
        body = serialize_demand(frame, fmt, supplier_id, shown, self.run_id)
        day = as_of or (max(held) if held else self.date)
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        filename = f"demand_{_safe(supplier_id)}_{day}.{fmt}"
        return Download(body, etag, filename, MEDIA_TYPES[fmt])


def _as_of_day(frame: pl.DataFrame) -> pl.Expr:
    """A demand frame's as_of as the platform's day, ISO text (never the UTC date of a zoned stamp)."""
    return platform_day_expr("as_of", frame.schema["as_of"]).cast(pl.String).alias("as_of_day")


LOW_SHARE = 0.5  # a suggestion under this share of the P50 gets a note ...
LOW_MIN_P50 = 4.0  # ... where the P50 is at least this many units


def with_suggestion_note(demand: pl.DataFrame) -> pl.DataFrame:
    """Add `suggestion_note`: why a row suggests preparing 0 although its P50 is at least 1, or less
    than half its P50 (LOW_SHARE) where the P50 is at least LOW_MIN_P50 units (else null).

    The suggestion is the forecast's quantile at the critical ratio (margin / price); a thin margin
    puts it at a low quantile, which can be 0, or a small part of the median, on a campaign whose
    total is uncertain (not open yet). The note says so, with the ratio, the expected fill rate and
    the forecast method, so a supplier reading the CSV or the page is not left guessing.
    """
    ratio = (
        pl.col("critical_ratio").cast(pl.Float64)
        if "critical_ratio" in demand.columns
        else pl.lit(None, pl.Float64)
    )
    pct = (ratio * 100).round(0).cast(pl.Int64).cast(pl.String)
    p50 = pl.col("forecast_p50").round(1).cast(pl.String)
    p10 = pl.col("forecast_p10").round(1).cast(pl.String)
    method = pl.col("method").fill_null("unknown")
    capped = pl.col("max_qty") == 0 if "max_qty" in demand.columns else pl.lit(False)
    note = (
        pl.when(capped)
        .then(pl.format("suggests 0 because the campaign's max_qty is 0 (P50 {}; method {})", p50, method))
        .when(ratio.is_not_null())
        .then(
            pl.format(
                "suggests 0 although P50 is {}: critical ratio {} (margin / price) means preparing the "
                "forecast's {}% quantile, which is under one unit (P10 {}); method {}",
                p50, ratio.round(2).cast(pl.String), pct, p10, method,
            )
        )
        .otherwise(
            pl.format(
                "suggests 0 although P50 is {}: below the service level's quantile the forecast is under "
                "one unit (P10 {}); no critical ratio in this snapshot; method {}",
                p50, p10, method,
            )
        )
    )
    rate = pl.col("expected_fill_rate").cast(pl.Float64) if "expected_fill_rate" in demand.columns else None
    fill = (
        pl.format("; expected fill rate {}%", (rate * 100).round(0).cast(pl.Int64)).fill_null("")
        if rate is not None
        else pl.lit("")
    )
    low_note = pl.format(
        "suggests {} against a P50 of {}: critical ratio {} (margin / price) means preparing the "
        "forecast's {}% quantile (P10 {}): with this margin an unsold unit costs more than a missed sale "
        "earns{}; method {}",
        pl.col("suggested_qty").cast(pl.String), p50, ratio.round(2).cast(pl.String), pct, p10, fill, method,
    )
    zero = (pl.col("suggested_qty") == 0) & (pl.col("forecast_p50") >= 1)
    low = (
        (pl.col("suggested_qty") >= 1)
        & (pl.col("forecast_p50") >= LOW_MIN_P50)
        & (pl.col("suggested_qty") < LOW_SHARE * pl.col("forecast_p50"))
        & ratio.is_not_null()
    )
    return demand.with_columns(
        pl.when(zero).then(note).when(low).then(low_note).otherwise(None).cast(pl.String)
        .alias("suggestion_note")
    )


def _safe(text: str) -> str:
    return "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "_" for c in text) or "supplier"


def _strings_for_json(frame: pl.DataFrame) -> pl.DataFrame:
    """Temporal columns as ISO text (datetimes with their offset), everything else as is."""
    exprs = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            exprs.append(pl.col(name).dt.to_string(ISO_FORMAT))
        elif dtype == pl.Date:
            exprs.append(pl.col(name).dt.to_string("%Y-%m-%d"))
        else:
            exprs.append(pl.col(name))
    return frame.select(exprs)


# CSV only (what a person opens in a spreadsheet): floats rounded, ratios to 3 decimals and every other
# float (quantities: forecasts, suggestion, leftover) to 2; JSON and Parquet keep full precision
CSV_RATIO_DECIMALS, CSV_QUANTITY_DECIMALS = 3, 2
CSV_RATIOS = ("critical_ratio", "expected_fill_rate", "window_elapsed")


def _rounded_for_csv(frame: pl.DataFrame) -> pl.DataFrame:
    """Float columns rounded for a spreadsheet: ratios (CSV_RATIOS, *_ratio, *_rate, *_share) to 3 decimals,
    the rest to 2. Integers and text are left as they are."""
    def decimals(name: str) -> int:
        ratio = name in CSV_RATIOS or name.endswith(("_ratio", "_rate", "_share", "_pct"))
        return CSV_RATIO_DECIMALS if ratio else CSV_QUANTITY_DECIMALS

    return frame.with_columns(
        pl.col(name).round(decimals(name)) for name, dtype in frame.schema.items() if dtype.is_float()
    )


FORMULA_START = r"^[=+\-@\t\r]"  # what a spreadsheet reads as the start of a formula


def _neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """CSV only: a text cell that a spreadsheet would run as a formula gets a leading `'` (OWASP).

    Cells starting with = + - @ tab or CR open as formulas in Excel / WPS (a product name such as
    `=HYPERLINK(...)` would run on the supplier's machine). Only String columns are touched: a
    negative number is data. JSON and Parquet keep the text exactly as it is.
    """
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(FORMULA_START))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name, dtype in frame.schema.items()
        if dtype == pl.String
    )


def serialize_demand(
    frame: pl.DataFrame, fmt: str, supplier_id: str, as_of: str | None, run_id: str
) -> bytes:
    """One supplier's demand rows as JSON ({"supplier_id", "as_of", "snapshot", "rows"}), CSV or Parquet;
    CSV rounds its floats for a spreadsheet (`_rounded_for_csv`), JSON and Parquet keep them whole."""
    if fmt == "parquet":
        buf = io.BytesIO()
        frame.write_parquet(buf, compression="zstd", statistics=True)
        return buf.getvalue()
    if fmt == "csv":
        text = _strings_for_json(_neutralise_formulas(_rounded_for_csv(frame))).write_csv(include_bom=False)
        return "\ufeff".encode() + text.encode("utf-8")
    if fmt == "json":
        rows = _strings_for_json(frame).select(pl.struct(pl.all()).struct.json_encode().alias("j"))
        head = json.dumps(
            {"supplier_id": supplier_id, "as_of": as_of, "snapshot": run_id}, ensure_ascii=False
        )[:-1]
        return (head + ', "rows": [' + ",".join(rows.get_column("j").to_list()) + "]}").encode("utf-8")
    raise SnapshotError(f"unknown download format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _picks_envelope(group_id: str, day: str, model_version: str, joined: str) -> bytes:
    gid = json.dumps(group_id, ensure_ascii=False)
    version = json.dumps(model_version, ensure_ascii=False)
    return f'{{"group_id":{gid},"date":"{day}","model_version":{version},"picks":[{joined}]}}'.encode()


def _expected_rows(manifest: dict[str, Any], name: str, folder: Path) -> int:
    counts = manifest["row_counts"]
    value = counts.get(name, counts.get(name.removesuffix(".parquet")))
    if not isinstance(value, int) or isinstance(value, bool):
        raise SnapshotError(f"{folder / MANIFEST}: row_counts has no integer for {name!r}; got {value!r}")
    return value


def _read_checked(
    folder: Path, manifest: dict[str, Any], name: str, columns: tuple[str, ...]
) -> pl.DataFrame:
    path = folder / name
    if not path.exists():
        raise SnapshotError(f"{path}: missing; the snapshot needs {name}")
    expected_sha = manifest["files"].get(name)
    if not isinstance(expected_sha, str):
        raise SnapshotError(f"{folder / MANIFEST}: files has no sha256 for {name!r}")
    actual_sha = sha256_of(path)
    if actual_sha != expected_sha.lower():
        raise SnapshotError(
            f"{path}: sha256 {actual_sha[:12]}… does not match the manifest's "
            f"{expected_sha[:12]}… (half-written or changed after publishing)"
        )
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:  # corrupt parquet of any kind
        raise SnapshotError(f"{path}: not readable as Parquet ({type(exc).__name__}: {exc})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SnapshotError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(columns)}")
    expected_rows = _expected_rows(manifest, name, folder)
    if frame.height != expected_rows:
        raise SnapshotError(f"{path}: {frame.height} rows but the manifest's row_counts says {expected_rows}")
    return frame


def _check_refs(frame: pl.DataFrame, column: str, target: pl.DataFrame, target_col: str, where: str) -> None:
    values = frame.select(pl.col(column).drop_nulls().unique())
    unknown = values.join(target.select(pl.col(target_col).alias(column)), on=column, how="anti")
    if unknown.height:
        sample = ", ".join(map(str, unknown.get_column(column).head(3).to_list()))
        raise SnapshotError(
            f"{where}: {unknown.height} {column} value(s) not in the snapshot's "
            f"{target_col.removesuffix('_id')}s table (e.g. {sample})"
        )


def _normalize_temporals(frame: pl.DataFrame) -> pl.DataFrame:
    """Datetimes shown in the platform's zone (naive ones are taken to be in it already)."""
    exprs = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            col = pl.col(name)
            col = (
                col.dt.convert_time_zone(PLATFORM_TZ)
                if dtype.time_zone
                else col.dt.replace_time_zone(PLATFORM_TZ)
            )
            exprs.append(col)
        else:
            exprs.append(pl.col(name))
    return frame.select(exprs)


def _http_date(created_at: str, folder: Path) -> str:
    try:
        stamp = datetime.fromisoformat(str(created_at))
    except ValueError:
        raise SnapshotError(f"{folder / MANIFEST}: created_at must be ISO-8601; got {created_at!r}") from None
    if stamp.tzinfo is None:
        stamp = stamp.astimezone()  # a naive created_at is the writer's local time
    return format_datetime(stamp.astimezone(UTC), usegmt=True)


def _reasons_per_locale(picks: pl.DataFrame, where: str) -> pl.DataFrame:
    """Per distinct (reason_code, reason_args, reason): the args as canonical JSON (`args_json`) and the
    sentence in each locale (`reason_<locale>`); SnapshotError when a reason_args cell is not an object."""
    keys = picks.select("reason_code", "reason_args", "reason").unique()
    args_json, texts = [], {locale: [] for locale in LOCALES}
    for code, args_text, fallback in keys.iter_rows():
        try:
            args = parse_args(args_text)
        except ValueError as exc:
            raise SnapshotError(
                f"{where}: reason_args must be a JSON object or null; got {str(args_text)[:60]!r} ({exc})"
            ) from None
        canonical = None if args is None else json.dumps(args, ensure_ascii=False, separators=(",", ":"))
        args_json.append(canonical)
        for locale in LOCALES:
            texts[locale].append(messages(locale).reason(code, args, fallback or ""))
    return keys.with_columns(
        pl.Series("args_json", args_json, dtype=pl.String),
        *(pl.Series(f"reason_{locale}", texts[locale], dtype=pl.String) for locale in LOCALES),
    )


def _campaign_price(campaigns: pl.DataFrame) -> pl.Expr:
    """The campaign's price as `_campaign_price` (null for a snapshot published before campaigns.parquet
    carried it: its picks keep the list price)."""
    if "price" in campaigns.columns:
        return pl.col("price").cast(pl.Float64).alias("_campaign_price")
    return pl.lit(None, pl.Float64).alias("_campaign_price")


def _build_picks(
    picks: pl.DataFrame, products: pl.DataFrame, campaigns: pl.DataFrame, where: str = "picks.parquet"
) -> dict[str, dict[str, dict[str, bytes]]]:
    """locale -> date -> group -> JSON body of the picks route, joined with product and campaign facts,
    the reason and the category's name rendered in that locale."""
    if picks.height == 0:
        return {}
    for c in REASON_COLUMNS:
        if picks.schema.get(c, pl.String) not in (pl.String, pl.Null):
            raise SnapshotError(f"{where}: column {c} must be text; got {picks.schema[c]}")
    picks = picks.with_columns(
        (pl.col(c) if c in picks.columns else pl.lit(None)).cast(pl.String).alias(c) for c in REASON_COLUMNS
    )
    enriched = (
        picks.with_columns(
            platform_day_expr("for_date", picks.schema["for_date"]).cast(pl.String).alias("for_date")
        )
        .join(
            products.select("product_id", "name", "category", pl.col("price").cast(pl.Float64)),
            on="product_id",
            how="left",
        )
        .join(
            campaigns.select("campaign_id", pl.col("closes_at").dt.to_string(ISO_FORMAT),
                             _campaign_price(campaigns)),
            on="campaign_id",
            how="left",
        )
        # what members pay: the campaign's group-buy price where the pick has one, beside the list price
        .with_columns(pl.col("price").alias("list_price"))
        .with_columns(pl.coalesce("_campaign_price", "list_price").alias("price"))
        .join(
            _reasons_per_locale(picks, where),
            on=["reason_code", "reason_args", "reason"],
            how="left",
            nulls_equal=True,
        )
        .with_columns(pl.col("rank").cast(pl.Int64), pl.col("score").cast(pl.Float64))
    )
    categories = enriched.get_column("category").drop_nulls().unique().to_list()
    out: dict[str, dict[str, dict[str, bytes]]] = {}
    for locale in LOCALES:
        names = {c: messages(locale).term("category", c) for c in categories}
        head = pl.struct(
            "rank",
            "product_id",
            "name",
            "category",
            pl.col("category").replace_strict(names, default=None, return_dtype=pl.String).alias(
                "category_name"
            ),
            "price",
            "list_price",
            "campaign_id",
            "closes_at",
            "slot",
            pl.col(f"reason_{locale}").alias("reason"),
            "reason_code",
        ).struct.json_encode()
        tail = pl.struct("score").struct.json_encode()
        rows = enriched.select(
            "group_id",
            "for_date",
            "rank",
            "model_version",
            # reason_args is spliced in as the JSON object it is (canonical text from _reasons_per_locale)
            pl.concat_str(
                head.str.head(-1),
                pl.lit(',"reason_args":'),
                pl.col("args_json").fill_null("null"),
                pl.lit(","),
                tail.str.tail(-1),
            ).alias("j"),
        )
        per_group = rows.group_by("for_date", "group_id").agg(
            pl.col("j").sort_by("rank").str.join(","), pl.col("model_version").first()
        )
        by_day: dict[str, dict[str, bytes]] = out.setdefault(locale, {})
        for day, group_id, joined, model_version in per_group.iter_rows():
            by_day.setdefault(day, {})[group_id] = _picks_envelope(group_id, day, model_version or "", joined)
    return out


# the totals of several warehouses add each one's figures: right for orders, P50 and what to prepare,
# but the sum of the P90s is not the P90 of the sum (the warehouses rarely all sell high together)
TOTALS_NOTE = ("totals add the warehouses' figures; forecast_p10 and forecast_p90 there are the sums of each "
               "warehouse's bounds (enough to meet each warehouse's P90), wider than an 80% range of the "
               "campaign's total unless the warehouses sell high or low together")


def _build_campaigns(
    demand: pl.DataFrame, campaigns: pl.DataFrame, products: pl.DataFrame, run_id: str
) -> dict[str, bytes]:
    """campaign_id -> JSON body of the campaign route: facts plus pooled orders and forecast per warehouse,
    for the campaigns that have demand rows (only those)."""
    facts = campaigns.join(products.select("product_id", "name"), on="product_id", how="left")
    facts = _strings_for_json(facts)
    per_wh = _strings_for_json(
        demand.filter(pl.col("campaign_id").is_not_null())
        .select("campaign_id", *(c for c in DEMAND_COLUMNS if c not in PER_CAMPAIGN_FACTS))
        .sort("campaign_id", "warehouse_id", "delivery_on")
    )
    rows_by_campaign: dict[str, list[dict]] = {}
    for row in per_wh.iter_rows(named=True):
        rows_by_campaign.setdefault(row.pop("campaign_id"), []).append(row)
    out: dict[str, bytes] = {}
    for c in facts.iter_rows(named=True):
        whs = rows_by_campaign.get(c["campaign_id"])
        if not whs:  # no demand row is about it: the route answers 404 no_demand, not zeros
            continue
        body = {
            "campaign_id": c["campaign_id"],
            "product_id": c["product_id"],
            "name": c.get("name"),
            "supplier_id": c["supplier_id"],
            "opens_at": c["opens_at"],
            "closes_at": c["closes_at"],
            "snapshot": run_id,
            "as_of": max((w["as_of"] for w in whs if w["as_of"] is not None), default=None),
            "totals": {
                k: sum((w[k] or 0) for w in whs)
                for k in ("ordered_qty", "forecast_p10", "forecast_p50", "forecast_p90", "suggested_qty")
            },
            "totals_note": TOTALS_NOTE if len(whs) > 1 else None,
            "warehouses": whs,
        }
        out[c["campaign_id"]] = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return out


def load_snapshot(folder: Path) -> Snapshot:
    """Validate and load one snapshot folder; SnapshotError (naming file and rule) when it is not whole."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    frames = {name: _read_checked(folder, manifest, name, cols) for name, cols in REQUIRED_FILES.items()}
    for name in manifest["files"]:
        if name not in frames and name not in OPTIONAL_FILES:
            path = folder / name
            if not path.exists() or sha256_of(path) != str(manifest["files"][name]).lower():
                raise SnapshotError(f"{path}: missing or its sha256 does not match the manifest")
    optional = {
        name: _read_checked(folder, manifest, name, cols)
        for name, cols in OPTIONAL_FILES.items()
        if name in manifest["files"]
    }
    curves = optional.get("booking_curves.parquet")
    curves = None if curves is None else _normalize_temporals(curves)
    supplier_names = _names(optional.get("suppliers.parquet"), "supplier_id")
    picks = frames["picks.parquet"]
    demand = with_suggestion_note(_normalize_temporals(frames["demand.parquet"]))
    groups = frames["groups.parquet"].with_columns(pl.col("group_id", "shopkeeper_id").cast(pl.String))
    products = frames["products.parquet"].with_columns(pl.col("product_id", "supplier_id").cast(pl.String))
    campaigns = _normalize_temporals(frames["campaigns.parquet"])
    _check_refs(picks, "group_id", groups, "group_id", str(folder / "picks.parquet"))
    _check_refs(picks, "product_id", products, "product_id", str(folder / "picks.parquet"))
    _check_refs(picks, "campaign_id", campaigns, "campaign_id", str(folder / "picks.parquet"))
    _check_refs(demand, "product_id", products, "product_id", str(folder / "demand.parquet"))
    _check_refs(demand, "campaign_id", campaigns, "campaign_id", str(folder / "demand.parquet"))

    group_owner = dict(groups.select("group_id", "shopkeeper_id").iter_rows())
    groups_of: dict[str, list[str]] = {}
    for gid, owner in sorted(group_owner.items()):
        groups_of.setdefault(owner, []).append(gid)
    product_supplier = dict(products.select("product_id", "supplier_id").iter_rows())
    campaign_supplier = {c: s for c, s in campaigns.select("campaign_id", "supplier_id").iter_rows()}
    demand_by_supplier = (
        {
            key[0]: part
            for key, part in demand.partition_by("supplier_id", as_dict=True, maintain_order=True).items()
        }
        if demand.height
        else {}
    )
    group_names = _names(groups, "group_id") if "name" in groups.columns else {}
    picks_bodies = _build_picks(picks, products, campaigns, str(folder / "picks.parquet"))
    dates = tuple(sorted(picks_bodies.get(DEFAULT_LOCALE, {})))
    return Snapshot(
        path=folder.resolve(),
        run_id=str(manifest["run_id"]),
        date=str(manifest["date"]),
        model_version=str(manifest["model_version"]),
        created_at=str(manifest["created_at"]),
        last_modified=_http_date(manifest["created_at"], folder),
        manifest=manifest,
        group_owner=group_owner,
        groups_of=groups_of,
        product_supplier=product_supplier,
        campaign_supplier=campaign_supplier,
        suppliers=frozenset(product_supplier.values()) | frozenset(demand_by_supplier),
        picks_dates=dates,
        default_picks_date=dates[-1] if dates else str(manifest["date"]),
        picks_bodies=picks_bodies,
        campaign_bodies=_build_campaigns(demand, campaigns, products, str(manifest["run_id"])),
        demand_by_supplier=demand_by_supplier,
        demand_empty=demand.clear(),
        products=products,
        groups=groups,
        campaigns=campaigns,
        booking_curves=curves,
        product_names=_names(products, "product_id"),
        group_names=group_names,
        supplier_names=supplier_names,
        group_cities=dict(
            groups.select("group_id", pl.col("city").cast(pl.String)).drop_nulls().iter_rows()
        ),
        warehouse_city=_warehouse_cities(groups),
        pick_products=_pick_products(picks),
    )


def _names(frame: pl.DataFrame | None, key: str) -> dict[str, str]:
    """id -> name of the rows with a non-blank name (an optional file or column may be absent)."""
    if frame is None or "name" not in frame.columns or frame.height == 0:
        return {}
    named = frame.select(pl.col(key).cast(pl.String), pl.col("name").cast(pl.String).str.strip_chars())
    return dict(named.filter(pl.col("name").str.len_chars() > 0).drop_nulls().iter_rows())


def _warehouse_cities(groups: pl.DataFrame) -> dict[str, str]:
    """warehouse_id -> the city most of its groups are in (ties: the first by name), for the pages."""
    rows = (
        groups.select(pl.col("warehouse_id").cast(pl.String), pl.col("city").cast(pl.String))
        .drop_nulls()
        .group_by("warehouse_id", "city")
        .len()
        .sort(["warehouse_id", "len", "city"], descending=[False, True, False])
        .unique("warehouse_id", keep="first", maintain_order=True)
    )
    return dict(rows.select("warehouse_id", "city").iter_rows())


def _pick_products(picks: pl.DataFrame) -> dict[str, dict[str, frozenset[str]]]:
    """date -> group -> the product ids on its published list (what read-time exclusions look at)."""
    if picks.height == 0:
        return {}
    per_group = picks.group_by(
        platform_day_expr("for_date", picks.schema["for_date"]).cast(pl.String).alias("day"), "group_id"
    ).agg(pl.col("product_id").cast(pl.String))
    out: dict[str, dict[str, frozenset[str]]] = {}
    for day, group_id, products in per_group.iter_rows():
        out.setdefault(day, {})[group_id] = frozenset(products)
    return out


def snapshot_signature(home_current: Path) -> tuple[str, int | None] | None:
    """(resolved target, manifest mtime) of HOME/current, or None when the link is missing/dangling."""
    try:
        target = os.path.realpath(home_current, strict=True)
    except (OSError, RuntimeError):
        return None
    try:
        mtime = os.stat(os.path.join(target, MANIFEST)).st_mtime_ns
    except OSError:
        mtime = None
    return (target, mtime)
