"""Check raw input frames against the data contract (docs/input-contract.md): the structure first, then every row.

A structural problem (a missing column, a type that cannot become the contract's) raises
ContractError before any row is looked at; a bad row goes to rejects with a readable reason and is
never dropped silently. Pure: raw frames, the config and the moment of ingest in; frames out.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import polars as pl
import polars.selectors as cs

from configs import Config
from configs.schema import SourceConfig, SurveyConfig
from features.contract import TABLES, UTC_TS, ColumnSpec, ContractError, TableSpec

REJECTS_SCHEMA = pl.Schema({"table_name": pl.String, "reason": pl.String, "row": pl.String, "ingested_at": UTC_TS})

# What each contract type accepts from a source, and how messages name it.
_ACCEPTS = {
    "text": ("text", "integer"),
    "timestamp": ("timestamp", "date", "text"),
    "number": ("integer", "float", "text"),
    "integer": ("integer", "float", "text"),
    "boolean": ("boolean", "integer", "text"),
}
_TRUE, _FALSE = ("true", "t", "yes", "y", "1"), ("false", "f", "no", "n", "0")
# Timestamps outside years 1-9999 (PostgreSQL's 'infinity', garbage from a corrupt file) are rejected
# rows: polars cannot convert or print them, and nothing real happened then.
_SECONDS = tuple((moment - datetime(1970, 1, 1)) // timedelta(seconds=1) for moment in (datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59)))
_PER_SECOND = {"ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_INT64 = (-(2**63), 2**63 - 1)
_ISO = "%Y-%m-%dT%H:%M:%S%.f"
_RAW = "raw:"  # prefix of a contract column's value as read, kept beside the parsed value
_FLAG = "failed:"  # prefix of one boolean column per row check


@dataclass(frozen=True)
class ValidatedTable:
    accepted: pl.DataFrame  # contract names and types (customers: plus their attributes)
    rejects: pl.DataFrame  # REJECTS_SCHEMA
    reasons: dict[str, int]  # reason (without the offending value) -> rejected rows that carry it


@dataclass(frozen=True)
class _Layout:
    """Where one raw frame keeps each contract column."""

    spec: TableSpec
    sources: dict[str, str]  # contract column -> source column, for those the source has
    dtypes: dict[str, pl.DataType]  # contract column -> its type in the source
    extras: tuple[tuple[str, str], ...]  # (source column, output name) kept as they are


@dataclass(frozen=True)
class _Check:
    reason: str  # value-free, for counting: "null customer_id"
    failed: pl.Expr
    message: pl.Expr | None = None  # the reason with the offending value; default: `reason`

    @property
    def text(self) -> pl.Expr:
        return self.message if self.message is not None else pl.lit(self.reason)


def validate_tables(
    raws: dict[str, pl.DataFrame], config: Config, ingested_at: datetime, typed: Collection[str] = ()
) -> dict[str, ValidatedTable]:
    """Validate whole tables in memory; all structural problems are raised together, before any row work."""
    validators = table_validators({table: raw.schema for table, raw in raws.items()}, config, ingested_at, typed)
    return {table: validator.validate(raws[table]) for table, validator in validators.items()}


def table_validators(
    schemas: dict[str, pl.Schema], config: Config, ingested_at: datetime, typed: Collection[str] = ()
) -> dict[str, TableValidator]:
    """One validator per table read, in contract order (referenced tables, customers, first); every
    structural problem of every table is raised together, before any row is looked at. ``typed``
    names the tables read from a typed source (all but CSV), where text is not parsed into numbers or times.

    Rows must be validated in that order: a table's references are checked against the keys its
    referenced table accepted, and a reference to a table not read is not checked."""
    problems, validators = [], {}
    known_keys: dict[str, TableValidator] = {}
    for table in [t for t in TABLES if t in schemas] + [t for t in schemas if t not in TABLES]:
        try:
            validators[table] = TableValidator(schemas[table], table, config, ingested_at, known_keys, typed=table in typed)
        except ContractError as exc:
            problems.append(str(exc))
    if problems:
        raise ContractError("\n".join(problems))
    known_keys.update((table, v) for table, v in validators.items() if v.spec.unique)
    return validators


def validate_table(
    raw: pl.DataFrame,
    table: str,
    config: Config,
    ingested_at: datetime,
    known_keys: dict[str, pl.Series] | None = None,
) -> ValidatedTable:
    """Split one raw table into accepted rows (contract names and types) and rejects with reasons.

    ``known_keys`` holds the accepted keys of referenced tables (customers -> customer ids); a
    reference to a table not in it is not checked.
    """
    return TableValidator(raw.schema, table, config, ingested_at, known_keys).validate(raw)


class TableValidator:
    """Validates one table batch by batch, in source order: the structure once, when it is made; each
    batch's rows as they come. Duplicate keys are found across batches (the first occurrence in
    source order stays) and the running totals add up every batch."""

    def __init__(
        self,
        schema: pl.Schema,
        table: str,
        config: Config,
        ingested_at: datetime,
        known_keys: dict[str, pl.Series | TableValidator] | None = None,
        *,
        typed: bool = False,
    ) -> None:
        self.spec = _spec(table)
        self.accepted = self.rejected = 0
        self.reasons: dict[str, int] = {}  # reason (without the offending value) -> rejected rows that carry it
        self._source, self._survey = config.source, config.survey
        self._ingested_at = _as_utc(ingested_at)
        self._layout = _layout(_without_pii(schema, table, config.source), self.spec, config.source, typed)
        self._known_keys = known_keys if known_keys is not None else {}
        self._known: dict[str, pl.Series] | None = None  # referenced keys, sorted, fixed at the first batch
        self._seen = pl.Series(self.spec.unique or "", dtype=pl.String)  # unique-key values of earlier batches, rejected rows' included
        self._seen_hashes = pl.Series(self.spec.unique or "", dtype=pl.UInt64)  # and their hashes
        self._accepted_keys: list[pl.Series] = []

    @property
    def accepted_keys(self) -> pl.Series:
        """The unique key of every row accepted so far (what references to this table are checked against)."""
        return pl.concat(self._accepted_keys) if self._accepted_keys else pl.Series(self.spec.unique, [], pl.String)

    def _earlier(self, keys: pl.Series) -> pl.Series:
        """This batch's keys that an earlier batch already had. Hashes find the candidates (a set of
        integers, cheap to build); the values confirm them, so a hash collision never rejects a row."""
        if self._seen.is_empty():
            return self._seen
        candidates = keys.filter(keys.hash(seed=0).is_in(self._seen_hashes.implode()))
        if candidates.is_empty():
            return candidates
        return self._seen.filter(self._seen.is_in(candidates.implode())).unique()

    def validate(self, raw: pl.DataFrame) -> ValidatedTable:
        """Accepted rows and rejects of one batch (its rows follow the previous batch's in source order)."""
        layout, table = self._layout, self.spec.name
        raw = raw.drop(self._source.pii.get(table, []), strict=False)
        if self._known is None:  # referenced tables are complete before this one's first batch (contract order)
            self._known = {
                t: (keys if isinstance(keys, pl.Series) else keys.accepted_keys).drop_nulls().sort() for t, keys in self._known_keys.items()
            }
        converted = _shift_gaps(raw.select(_columns(layout, self._source.timezone)), layout, self._source.timezone)
        keys = converted[self.spec.unique].drop_nulls() if self.spec.unique in layout.sources else None
        earlier = self._earlier(keys) if keys is not None else None
        checks = _checks(layout, self._survey, self._ingested_at, self._known, earlier)
        flagged = converted.with_columns(c.failed.fill_null(False).alias(f"{_FLAG}{i}") for i, c in enumerate(checks))
        rejected = flagged.select(pl.any_horizontal(cs.starts_with(_FLAG))).to_series()
        # Rejected rows are few: rechunk them. Filtering a frame made of several chunks with a mask
        # leaves empty chunks behind, and polars 2.1's pl.format panics on a column whose first chunk
        # is empty (binview/mod.rs: `i < self.len()`); CSV batches arrive in several chunks.
        bad = flagged.filter(rejected).rechunk()
        reasons = pl.concat_str(
            [pl.when(pl.col(f"{_FLAG}{i}")).then(c.text) for i, c in enumerate(checks)], separator="; ", ignore_nulls=True
        )
        rejects = _row_json(raw.filter(rejected).rechunk()).with_columns(
            table_name=pl.lit(table), reason=bad.select(reasons).to_series(), ingested_at=pl.lit(self._ingested_at, dtype=UTC_TS)
        )
        accepted = flagged.filter(~rejected).select(*layout.spec.column_names, *(name for _, name in layout.extras))
        if keys is not None:
            self._seen.append(keys)
            self._seen_hashes.append(keys.hash(seed=0))
        if self.spec.unique:
            self._accepted_keys.append(accepted[self.spec.unique])
        counts = _count_reasons(bad, checks)
        for reason, rows in counts.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + rows
        self.accepted += accepted.height
        self.rejected += rejects.height
        return ValidatedTable(accepted, rejects.select(REJECTS_SCHEMA.names()), counts)


def _count_reasons(bad: pl.DataFrame, checks: list[_Check]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for check, rows in zip(checks, bad.select(cs.starts_with(_FLAG).sum()).row(0), strict=True):
        if rows:
            counts[check.reason] = counts.get(check.reason, 0) + rows
    return counts


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECTS_SCHEMA)


# --- structure ------------------------------------------------------------------------------


def _spec(table: str) -> TableSpec:
    if table not in TABLES:
        raise ContractError(f"{table!r} is not a contract table (expected one of: {', '.join(TABLES)})")
    return TABLES[table]


def _without_pii(schema: pl.Schema, table: str, source: SourceConfig) -> pl.Schema:
    # sources already leave PII out; dropping again keeps validation safe on its own
    pii = set(source.pii.get(table, []))
    return pl.Schema({name: dtype for name, dtype in schema.items() if name not in pii})


def _kind(dtype: pl.DataType) -> str:
    """The contract type in words."""
    if dtype == pl.String:
        return "text"
    if dtype == pl.Float64:
        return "number"
    if dtype == pl.Int64:
        return "integer"
    if dtype == pl.Boolean:
        return "boolean"
    return "timestamp"


def _family(dtype: pl.DataType) -> str:
    """What a source type is, as far as conversion to a contract type goes."""
    if dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "text"
    if dtype.is_integer():
        return "integer"
    if dtype.is_float() or dtype.is_decimal():
        return "float"
    if isinstance(dtype, pl.Datetime):
        return "timestamp"
    if dtype == pl.Date:
        return "date"
    if dtype == pl.Boolean:
        return "boolean"
    if dtype == pl.Null:  # an all-null column becomes any type
        return "null"
    return "other"


def _layout(schema: pl.Schema, spec: TableSpec, source: SourceConfig, typed: bool = False) -> _Layout:
    mapping = source.columns.get(spec.name, {})
    problems = [
        f"source.columns.{spec.name}.{name}: {name!r} is not a column of the {spec.name} contract "
        f"(its columns: {', '.join(spec.column_names)})"
        for name in mapping
        if name not in spec.column_names and not spec.extra_columns_allowed
    ]
    sources, dtypes = {}, {}
    for column in spec.columns:
        source_name = mapping.get(column.name, column.name)
        if source_name not in schema:
            if column.required or column.name in mapping:
                problems.append(_missing_column(spec.name, column, source_name, schema, source))
            continue
        found = schema[source_name]
        kind = _kind(column.dtype)
        # a typed source's text is not parsed into numbers or times: that would reject every row one by one
        accepts = tuple(f for f in _ACCEPTS[kind] if not (typed and kind != "text" and f == "text"))
        if _family(found) not in (*accepts, "null"):
            cast = " (a typed source's text is not parsed: cast it in the source, e.g. a view)" if _family(found) == "text" else ""
            problems.append(
                f"{spec.name}.{column.name}: expected {kind} ({column.dtype}; from {' or '.join(accepts)}), "
                f"found {found} in source column {source_name!r}{cast}; config key source.columns.{spec.name}.{column.name}"
            )
            continue
        sources[column.name], dtypes[column.name] = source_name, found
    extras: tuple[tuple[str, str], ...] = ()
    if spec.extra_columns_allowed:  # attributes, renamed where the mapping names them
        renamed = {src: name for name, src in mapping.items() if name not in spec.column_names}
        problems += [
            f"source.columns.{spec.name}.{name}: no source column {src!r} (the source has: {', '.join(schema)})"
            for src, name in renamed.items()
            if src not in schema
        ]
        used = set(sources.values())
        # an unmapped column named like a contract column is shadowed by the mapped one
        extras = tuple(
            (src, renamed.get(src, src))
            for src in schema
            if src not in used and renamed.get(src, src) not in spec.column_names
        )
    if problems:
        raise ContractError("\n".join(problems))
    return _Layout(spec, sources, dtypes, extras)


def _missing_column(table: str, column: ColumnSpec, source_name: str, schema: pl.Schema, source: SourceConfig) -> str:
    what = "required column missing" if column.required else "mapped column missing"
    dropped = f"; it is listed in source.pii.{table}, which drops it" if source_name in source.pii.get(table, []) else ""
    return (
        f"{table}.{column.name}: {what}: expected {_kind(column.dtype)} ({column.dtype}) in source column "
        f"{source_name!r}, found no such column (the source has: {', '.join(schema) or 'no columns'}){dropped}; "
        f"config key source.columns.{table}.{column.name}"
    )


# --- conversion -----------------------------------------------------------------------------


def _columns(layout: _Layout, tz: str) -> list[pl.Expr]:
    """Each contract column as read (raw:<name>) and converted (<name>), plus the kept extras."""
    exprs = []
    for column in layout.spec.columns:
        if column.name in layout.sources:
            raw, found = pl.col(layout.sources[column.name]), layout.dtypes[column.name]
            converted = _convert(raw, column.dtype, found, tz, is_id=column.name in layout.spec.id_columns)
            exprs += [raw.alias(_RAW + column.name), converted.alias(column.name)]
        else:  # an optional column the source lacks: present, typed, empty
            exprs.append(pl.lit(None, dtype=column.dtype).alias(column.name))
    return exprs + [pl.col(src).alias(name) for src, name in layout.extras]


def _convert(raw: pl.Expr, target: pl.DataType, found: pl.DataType, tz: str, *, is_id: bool = False) -> pl.Expr:
    """The value in the contract type; null where it cannot be converted (the unparseable and
    out-of-range checks; DST gaps are filled after: _shift_gaps). Ids lose surrounding whitespace
    ('C1 ' is C1); their case is kept."""
    kind, family = _kind(target), _family(found)
    if kind == "text" and is_id and family != "null":
        trimmed = raw.cast(target).str.strip_chars()
        return pl.when(trimmed != "").then(trimmed)
    if family == "null" or kind == "text":
        return raw.cast(target)
    if kind == "timestamp":
        return _to_utc(raw, found, tz)
    if kind == "boolean":
        if family == "boolean":
            return raw
        if family == "integer":
            return pl.when(raw == 1).then(True).when(raw == 0).then(False)
        words = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}
        return raw.str.strip_chars().str.to_lowercase().replace_strict(words, default=None, return_dtype=pl.Boolean)
    if kind == "integer" and family == "integer":
        return raw.cast(pl.Int64, strict=False)
    number = raw.str.strip_chars().cast(pl.Float64, strict=False) if family == "text" else raw.cast(pl.Float64)
    number = pl.when(number.is_finite()).then(number)  # NaN is missing, inf unusable
    if kind == "number":
        return number
    return pl.when(number == number.floor()).then(number.cast(pl.Int64, strict=False))


def _to_utc(raw: pl.Expr, found: pl.DataType, tz: str) -> pl.Expr:
    """The instant in UTC; null where unparseable, out of range or in a DST gap. Naive values are
    wall-clock time in the source's time zone; aware ones are converted."""
    if isinstance(found, pl.Datetime) and found.time_zone is not None:
        return _within_range(raw, found).dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    local = _localize(_naive(raw, found), tz)
    if _family(found) != "text":
        return local
    aware = _iso_text(raw).str.to_datetime(_ISO + "%#z", strict=False, time_unit="us", time_zone="UTC")  # Z, +02, +0200, +02:00
    return pl.coalesce(aware, local)


def _naive(raw: pl.Expr, found: pl.DataType) -> pl.Expr:
    """Wall-clock time as the source holds it (a naive timestamp, a date, ISO text without offset)."""
    if isinstance(found, pl.Datetime):
        return _within_range(raw, found).dt.cast_time_unit("us")
    if found == pl.Date:
        return _within_range(raw, found).cast(pl.Datetime("us"))
    return _iso_text(raw).str.to_datetime(_ISO, strict=False, time_unit="us")


def _iso_text(raw: pl.Expr) -> pl.Expr:
    """ISO 8601 text in one shape, YYYY-MM-DDTHH:MM:SS[.f][offset], by cheap string ops, not regexes."""
    text = raw.str.strip_chars().str.replace(" ", "T", literal=True, n=1)
    at = text.str.slice
    no_seconds = (at(10, 1) == "T") & (at(13, 1) == ":") & at(16, 1).is_in(["", "+", "-", "Z"])  # 2025-01-02T03:04[offset]
    return (
        pl.when(text.str.len_bytes() == 10)
        .then(text + "T00:00:00")  # a date: midnight
        .when(no_seconds)
        .then(text.str.slice(0, 16) + ":00" + text.str.slice(16))
        .otherwise(text)
    )


def _physical_range(found: pl.DataType) -> tuple[int, int]:
    """Years 1-9999 in the physical unit of a Datetime (an integer count) or Date (days) column."""
    if found == pl.Date:
        return _SECONDS[0] // 86_400, _SECONDS[1] // 86_400
    per_second = _PER_SECOND[found.time_unit]
    return max(_SECONDS[0] * per_second, _INT64[0]), min((_SECONDS[1] + 1) * per_second - 1, _INT64[1])


def in_time_range(raw: pl.Expr, found: pl.DataType) -> pl.Expr:
    """The Datetime or Date value lies in years 1-9999 (polars panics converting or printing one that does not)."""
    low, high = _physical_range(found)
    return raw.to_physical().is_between(low, high)


def _within_range(raw: pl.Expr, found: pl.DataType) -> pl.Expr:
    """The value, null where out of range. Clipped first, so that no slot, not even a null one, holds
    a value polars' time arithmetic panics on."""
    low, high = _physical_range(found)
    return pl.when(in_time_range(raw, found)).then(raw.to_physical().clip(low, high)).cast(found)


def _localize(naive: pl.Expr, tz: str) -> pl.Expr:
    """Wall-clock time in ``tz`` as UTC; a repeated hour (the fall-back overlap) takes its earliest
    instant, a skipped one (the spring-forward gap) is null here and shifted by _shift_gaps."""
    if tz == "UTC":
        return naive.dt.replace_time_zone("UTC")
    return naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")


def _shift_gaps(converted: pl.DataFrame, layout: _Layout, tz: str) -> pl.DataFrame:
    """Wall-clock times that a daylight-saving gap skipped (02:46 in New York on 2025-03-09) read with
    the offset in force just before the gap, i.e. shifted forward by the gap (03:46 EDT), as PostgreSQL
    does (docs/input-contract.md, 'Time zones'). polars can only null them. They are rare: only the
    rows left null with a value read (gaps, and text that is no timestamp) are parsed again."""
    if tz == "UTC":
        return converted
    naive_times = [
        name
        for name, found in layout.dtypes.items()
        if layout.spec.column(name).is_time and _family(found) in ("text", "date", "timestamp") and getattr(found, "time_zone", None) is None
    ]
    return converted.with_columns(_shifted(converted, name, layout.dtypes[name], tz) for name in naive_times)


def _shifted(converted: pl.DataFrame, name: str, found: pl.DataType, tz: str) -> pl.Series:
    rows = (converted[name].is_null() & converted[_RAW + name].is_not_null()).arg_true()
    if rows.is_empty():
        return converted[name]
    naive = pl.select(_naive(pl.lit(converted[_RAW + name].gather(rows)), found)).to_series()
    return converted[name].scatter(rows, pl.select(_before_the_gap(pl.lit(naive), tz)).to_series())


def _before_the_gap(naive: pl.Expr, tz: str) -> pl.Expr:
    day_before = naive - pl.duration(days=1)  # a day back lies before the gap (Samoa skipped a whole day)
    offset = day_before - _localize(day_before, tz).dt.replace_time_zone(None)  # the UTC offset then
    return (naive - offset).dt.replace_time_zone("UTC")


# --- row checks -----------------------------------------------------------------------------


def _checks(
    layout: _Layout, survey: SurveyConfig, ingested_at: datetime, known_keys: dict[str, pl.Series], earlier: pl.Series | None
) -> list[_Check]:
    checks = []
    for column in layout.spec.columns:
        if column.name in layout.sources:
            checks += _column_checks(column, layout.dtypes[column.name], survey, ingested_at)
    return checks + _table_checks(layout, known_keys, earlier)


def _present(raw: pl.Expr, found: pl.DataType) -> pl.Expr:
    """The source holds a value: not null, not blank text, not NaN."""
    if _family(found) == "text":
        return raw.is_not_null() & (raw.cast(pl.String).str.strip_chars() != "")
    if found.is_float():
        return raw.is_not_null() & raw.is_not_nan()
    return raw.is_not_null()


def _has_value(name: str, layout: _Layout) -> pl.Expr:
    return _present(pl.col(_RAW + name), layout.dtypes[name]) if name in layout.sources else pl.lit(False)


def _column_checks(column: ColumnSpec, found: pl.DataType, survey: SurveyConfig, ingested_at: datetime) -> list[_Check]:
    name, kind, value = column.name, _kind(column.dtype), pl.col(column.name)
    present = _present(pl.col(_RAW + name), found)
    checks = [_Check(f"null {name}", ~present)] if "key" in column.rules else []
    if isinstance(found, pl.Datetime) or found == pl.Date:  # typed times convert unless out of range
        checks.append(_Check(f"out-of-range timestamp in {name}", present & ~in_time_range(pl.col(_RAW + name), found)))
    else:
        checks.append(
            _Check(
                f"unparseable {kind} in {name}",
                present & value.is_null(),
                pl.format(f"unparseable {kind} in {name}: '{{}}'", pl.col(_RAW + name).cast(pl.String)),
            )
        )
    if "event_time" in column.rules:
        checks.append(
            _Check(
                f"{name} after ingest",
                value > pl.lit(ingested_at, dtype=UTC_TS),
                pl.format(f"{name} {{}} is after ingest", value.dt.to_string(_ISO + "Z")),
            )
        )
    if "non_negative" in column.rules:
        checks.append(_Check(f"negative {name}", value < 0))
    if "score" in column.rules:
        low, high = survey.score_range
        scale = f"{survey.scale} scale {low:g}–{high:g}"
        outside = (value < low) | (value > high)
        checks.append(_Check(f"{name} outside {scale}", outside, pl.format(f"{name} {{}} outside {scale}", _number_text(value))))
    return checks


def _table_checks(layout: _Layout, known_keys: dict[str, pl.Series], earlier: pl.Series | None) -> list[_Check]:
    """Checks across rows and tables; ``earlier`` holds the unique keys that earlier batches already had."""
    spec, has = layout.spec, layout.sources
    checks = [
        _Check(f"{end} before {start}", pl.col(end) < pl.col(start)) for start, end in spec.ordered if start in has and end in has
    ]
    for a, b in spec.paired:
        checks += [
            _Check(f"{one} without {other}", _has_value(one, layout) & ~_has_value(other, layout))
            for one, other in ((a, b), (b, a))
            if one in has
        ]
    if spec.unique in has:  # the first occurrence in source order stays
        key = pl.col(spec.unique)
        repeated = ~key.is_first_distinct()
        if earlier is not None and not earlier.is_empty():
            repeated = repeated | key.is_in(earlier.implode())
        checks.append(_Check(f"duplicate {spec.unique}", key.is_not_null() & repeated))
    for column, table in spec.references:
        if column in has and table in known_keys:
            value = pl.col(column)
            checks.append(_Check(f"unknown {column}", value.is_not_null() & ~_among(value, known_keys[table])))
    return checks


def _among(value: pl.Expr, sorted_keys: pl.Series) -> pl.Expr:
    """The value is one of the (sorted) keys: a binary search per row. ``is_in`` would hash all the
    keys again for every batch, which for a million customers costs more than the rest of validation."""
    if sorted_keys.is_empty():
        return pl.lit(False)
    at = pl.lit(sorted_keys).search_sorted(value).clip(upper_bound=sorted_keys.len() - 1)
    return pl.lit(sorted_keys).gather(at) == value


def _number_text(value: pl.Expr) -> pl.Expr:
    """11.0 -> '11', 7.5 -> '7.5'."""
    whole = pl.when(value == value.round()).then(value.cast(pl.Int64, strict=False).cast(pl.String))
    return pl.coalesce(whole, value.cast(pl.String))


# --- rejects --------------------------------------------------------------------------------


def _row_json(rows: pl.DataFrame) -> pl.DataFrame:
    """Each row as JSON text with its source column names; timestamps as ISO 8601 strings, and one
    out of range as its raw count ('out of range: -9223372036854775807 us since 1970-01-01')."""
    readable = rows.with_columns(
        _time_text(name, dtype) for name, dtype in rows.schema.items() if isinstance(dtype, pl.Datetime) or dtype == pl.Date
    ).with_columns(
        cs.decimal().cast(pl.Float64),
        (cs.categorical() | cs.enum() | cs.time() | cs.duration()).cast(pl.String),
        cs.binary().bin.encode("hex"),
    )
    return readable.select(row=pl.struct(pl.all()).struct.json_encode())


def _time_text(name: str, found: pl.DataType) -> pl.Expr:
    raw = pl.col(name)
    value = _within_range(raw, found)
    if found == pl.Date:
        text, unit = value.dt.to_string("%Y-%m-%d"), "days"
    elif found.time_zone is None:
        text, unit = value.dt.to_string(_ISO), found.time_unit
    else:
        text, unit = value.dt.convert_time_zone("UTC").dt.to_string(_ISO + "Z"), found.time_unit
    out_of_range = pl.format(f"out of range: {{}} {unit} since 1970-01-01", raw.to_physical())
    return pl.when(in_time_range(raw, found)).then(text).otherwise(out_of_range).alias(name)


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"the moment of ingest must be timezone-aware, got {moment!r}")
    return moment.astimezone(timezone.utc)
