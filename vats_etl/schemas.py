"""Pandera models of the canonical history frames, and ``validate()``: good rows vs rejected rows.

:class:`CallsModel` and :class:`InternalCallsModel` are the contract of ``calls`` and
``internal_calls`` as they leave parsing: column order and dtypes, which columns are
required, allowed values and ranges. ``validate(kind, parsed, now)`` splits a
:class:`~vats_etl.parse.Parsed` into ``good`` (canonical rows that pass, same dtypes) and
``rejected`` (``row`` index into ``parsed``, the row's ``uid`` when it has one, the ``raw`` row
exactly as received as JSON object text — for JSON every key of the object, also those we do
not model — and every ``reasons`` of that row). Row problems never raise; a schema problem (a
column missing or of the wrong dtype, a required field absent from the whole payload) raises
:class:`~vats_etl.errors.UnknownShape`, because the whole chunk is then unreadable.

Reasons — every failed rule of a row, grouped by column in model order::

    csv: 11 fields, expected 10 (extra 'x')   structural problem found by the parser (first)
    uid: missing                              required, and the raw field was empty too
    direction: unknown 'sideways'             not an allowed value (after normalising); a
                                              status is never one of these: an unexpected
                                              status loads as delivered (lower-cased)
    started_at: cannot parse '2022-13-45T99:00:00Z'
                                              parse loss: the raw value was present but did
                                              not convert (timestamps, numbers, `from@x`);
                                              CSV `type` is reported as "type: cannot parse"
    started_at: 2031-01-01T00:00:00Z is later than now + 0:10:00 (2030-12-31T12:10:00Z)
    duration_s: -5 is negative                below the model's minimum of 0
    rating: 9 is not between 1 and 5

Values in reasons are cut to 60 characters and kept on one line. A duplicated ``uid``
within a chunk is *not* a reason: the warehouse keeps the last row. A required field
absent (missing or null) from every row of a payload of two rows or more — in its field and
in every fallback field (JSON ``direction`` ← ``type``) — is a format change: ``UnknownShape``,
not thousands of quarantined rows.

Why validation is split in two (measured with pandera 0.35 / polars 2.1 on 5,000 rows):
pandera's full ``validate(df, lazy=True)`` collects once per check and builds failure
metadata — 8–12 ms per call whatever the frame size, half the parse+validate budget. So:

1. pandera checks the frame's *schema* — columns, order, dtypes — on an empty LazyFrame of
   that schema; the verdict depends on the schema alone and is memoised per schema;
2. the models' row checks are compiled once into polars expressions (``nullable=False`` →
   "missing", ``isin`` → "unknown", ``ge`` → "is negative"/"is below", ``in_range`` → "is
   not between") and evaluated in one lazy query, together with the two rules a static
   model cannot hold: parse loss (needs the raw row) and "not in the future" (needs ``now``).
   Reason texts are then built only for the rejected rows and only for the rules that fired.

A check the compiler does not know fails at import time, so a model cannot silently
outgrow ``validate()``; ``tests/stages/test_schemas.py`` runs pandera's own full validation on
messy frames and asserts that both flag the same (row, column) pairs.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import pandera.polars as pa
import polars as pl
from pandera.engines import polars_engine
from pandera.errors import SchemaErrors

from vats_etl.errors import UnknownShape
from vats_etl.history import HistoryKind
from vats_etl.parse import Parsed

DIRECTIONS: Final = ("in", "out")
SOURCES: Final = ("api_json", "api_csv", "webhook")
RATING_RANGE: Final = {"min_value": 1, "max_value": 5}
UTC_MICROS: Final = {"time_unit": "us", "time_zone": "UTC"}

REJECTED_SCHEMA: Final[dict[str, pl.DataType]] = {
    "row": pl.Int64(),
    "uid": pl.String(),
    "raw": pl.String(),
    "reasons": pl.List(pl.String()),
}
VALUE_PREVIEW_CHARS: Final = 60
RAW_PREFIX: Final = "raw:"
MIN_ROWS_FOR_ABSENT_FIELD_VERDICT: Final = 2
LATEST_START: Final = "latest_allowed_start"
ISO_UTC: Final = "%Y-%m-%dT%H:%M:%SZ"
UTC_DATETIME: Final = pl.Datetime("us", "UTC")
ClosedInterval = Literal["both", "left", "right", "none"]
# pandera's in_range(include_min, include_max) → polars is_between(closed=...)
CLOSED_INTERVAL: Final[dict[tuple[bool, bool], ClosedInterval]] = {
    (True, True): "both",
    (True, False): "left",
    (False, True): "right",
    (False, False): "none",
}


class CallsModel(pa.DataFrameModel):
    """``calls`` as parsed (external history)."""

    uid: str = pa.Field(nullable=False)
    direction: str = pa.Field(nullable=False, isin=DIRECTIONS)
    # Any status loads (lower-cased as delivered): an unexpected one is no reason to lose a
    # call; sql/data_quality.sql lists the ones outside spellings.EXTERNAL_STATUSES.
    status: str = pa.Field(nullable=False)
    client: str = pa.Field(nullable=True)
    diversion: str = pa.Field(nullable=True)
    destination: str = pa.Field(nullable=True)
    user_login: str = pa.Field(nullable=True)
    user_name: str = pa.Field(nullable=True)
    group_name: str = pa.Field(nullable=True)
    started_at: polars_engine.DateTime = pa.Field(nullable=False, dtype_kwargs=UTC_MICROS)
    # null wait/duration = unknown, allowed; store as delivered (its meaning is disputed)
    wait_s: pl.Int32 = pa.Field(nullable=True, ge=0)
    duration_s: pl.Int32 = pa.Field(nullable=True, ge=0)
    record_url: str = pa.Field(nullable=True)
    rating: pl.Int8 = pa.Field(nullable=True, in_range=RATING_RANGE)  # null = not rated
    # the PBX's own verdict, as delivered: a second opinion, never a reason to reject a call
    pbx_missed_status: pl.Int16 = pa.Field(nullable=True)
    source: str = pa.Field(nullable=False, isin=SOURCES)

    class Config:
        strict = True
        ordered = True
        coerce = False


class InternalCallsModel(pa.DataFrameModel):
    """``internal_calls`` as parsed (calls between employees)."""

    uid: str = pa.Field(nullable=False)
    status: str = pa.Field(nullable=False)  # any status loads, as for external calls
    from_login: str = pa.Field(nullable=True)
    to_login: str = pa.Field(nullable=True)
    from_name: str = pa.Field(nullable=True)
    to_name: str = pa.Field(nullable=True)
    started_at: polars_engine.DateTime = pa.Field(nullable=False, dtype_kwargs=UTC_MICROS)
    wait_s: pl.Int32 = pa.Field(nullable=True, ge=0)
    duration_s: pl.Int32 = pa.Field(nullable=True, ge=0)
    record_url: str = pa.Field(nullable=True)

    class Config:
        strict = True
        ordered = True
        coerce = False


@dataclass(frozen=True)
class Validated:
    """``good``: canonical rows that passed; ``rejected``: ``row``, ``uid``, ``raw`` (as
    received), ``reasons``."""

    good: pl.DataFrame
    rejected: pl.DataFrame


@dataclass(frozen=True)
class Rule:
    """One row rule: ``violated`` is a boolean expression, ``message`` the reason text."""

    violated: pl.Expr
    message: pl.Expr


def validate(
    kind: HistoryKind,
    parsed: Parsed,
    now: datetime,
    future_tolerance: timedelta = timedelta(minutes=10),
) -> Validated:
    """Split ``parsed`` into good rows and rejected rows with every reason.

    ``now`` must be timezone-aware; rows starting later than ``now + future_tolerance`` are
    rejected (clock skew between the PBX and us is what the tolerance is for).
    """
    if now.tzinfo is None:
        raise ValueError("validate(now=...) needs a timezone-aware datetime")
    if kind not in ("external", "internal"):
        raise ValueError(f"unknown history kind {kind!r}: expected 'external' or 'internal'")
    model = CallsModel if kind == "external" else InternalCallsModel
    _check_schema(kind, parsed, model)
    _check_required_fields_present(kind, parsed, model)
    lossy_sources = tuple((c, f) for c, f in parsed.sources.items() if c in parsed.lossy)
    rules = _row_rules(model, lossy_sources, future_tolerance)
    return _apply_rules(parsed, rules, latest_start=now + future_tolerance)


# --- schema level: raises ----------------------------------------------------------------


def _check_schema(kind: HistoryKind, parsed: Parsed, model: type[pa.DataFrameModel]) -> None:
    """Columns, their order and dtypes. On a LazyFrame pandera checks only the schema."""
    if parsed.raw.height != parsed.frame.height:
        raise UnknownShape(
            f"{kind} history ({parsed.shape}): {parsed.frame.height} parsed rows"
            f" but {parsed.raw.height} raw rows"
        )
    problems = _schema_problems(model, tuple(parsed.frame.schema.items()))
    if problems:
        raise UnknownShape(
            f"{kind} history ({parsed.shape}) does not match {model.__name__}: "
            + "; ".join(problems)
        )


@functools.lru_cache(maxsize=64)
def _schema_problems(
    model: type[pa.DataFrameModel], schema: tuple[tuple[str, pl.DataType], ...]
) -> tuple[str, ...]:
    """pandera's verdict on a frame schema. It depends on the schema alone and parsing yields
    a handful of schemas, so it is memoised: pandera runs once per schema per process."""
    try:
        model.validate(pl.LazyFrame(schema=dict(schema)), lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases.iter_rows(named=True)
        return tuple(dict.fromkeys(_schema_problem(case) for case in cases))
    return ()


def _schema_problem(case: Mapping[str, Any]) -> str:
    check, column, value = str(case["check"]), case["column"], case["failure_case"]
    if check == "column_in_dataframe":
        return f"column '{value}' is missing"
    if check == "column_in_schema":
        return f"unexpected column '{value}'"
    if check.startswith("dtype("):
        return f"column '{column}' is {value}, expected {check.removeprefix('dtype')}"
    return f"{column}: {check} failed for {value}"


def _check_required_fields_present(
    kind: HistoryKind, parsed: Parsed, model: type[pa.DataFrameModel]
) -> None:
    """A required field that no row carries means the payload's format changed: fail the
    chunk loudly instead of quarantining every row. One row alone cannot tell a format
    change from one bad row, so single-row payloads are left to the row rules."""
    rows = parsed.raw.height
    if rows < MIN_ROWS_FOR_ABSENT_FIELD_VERDICT:
        return
    for column in _required_columns(model):
        field = parsed.sources.get(column)
        if field is None:
            continue
        fields = (field, *parsed.fallbacks.get(column, ()))
        if all(parsed.raw[name].null_count() == rows for name in fields):
            named = " or ".join(f"'{name}'" for name in fields)
            raise UnknownShape(
                f"{kind} history ({parsed.shape}): required field {named} (for {column})"
                f" is absent from all {rows} rows"
            )


# --- row level: compiled rules -----------------------------------------------------------


@dataclass(frozen=True)
class ColumnContract:
    """What a model says about one column: may it be null, and its checks as
    (pandera check name, statistics) pairs."""

    name: str
    nullable: bool
    checks: tuple[tuple[str, Mapping[str, Any]], ...]


@functools.cache
def column_contracts(model: type[pa.DataFrameModel]) -> tuple[ColumnContract, ...]:
    """The model's columns, in order; fails for a check ``validate()`` cannot compile."""
    contracts = []
    for name, column in model.to_schema().columns.items():
        checks = tuple((check.name, dict(check.statistics)) for check in column.checks)
        for check_name, _ in checks:
            if check_name not in _CHECK_COMPILERS:
                raise TypeError(
                    f"validate() cannot compile pandera check {check_name!r} on"
                    f" {model.__name__}.{name}; teach schemas._CHECK_COMPILERS"
                )
        contracts.append(ColumnContract(name, bool(column.nullable), checks))
    return tuple(contracts)


def _required_columns(model: type[pa.DataFrameModel]) -> list[str]:
    return [contract.name for contract in column_contracts(model) if not contract.nullable]


@functools.lru_cache(maxsize=64)
def _row_rules(
    model: type[pa.DataFrameModel],
    lossy_sources: tuple[tuple[str, str], ...],
    future_tolerance: timedelta,
) -> tuple[Rule, ...]:
    """Every row rule, grouped by column in model order so that reasons read in that order:
    missing, parse loss, the model's checks, and for ``started_at`` the future check.
    ``lossy_sources``: (column, raw field) of the columns whose conversion can fail.
    Memoised (building expressions costs Python time): ``now`` enters as a column."""
    sources = dict(lossy_sources)
    loss_rules = _parse_loss_rules(sources)
    rules = []
    for contract in column_contracts(model):
        if not contract.nullable:
            rules.append(_missing_rule(contract.name, sources.get(contract.name)))
        rules.extend(loss_rules.pop(contract.name, []))
        rules.extend(
            _CHECK_COMPILERS[check_name](contract.name, statistics)
            for check_name, statistics in contract.checks
        )
        if contract.name == "started_at":
            rules.append(_future_rule(future_tolerance))
    return tuple(rules)


def _missing_rule(column: str, lossy_source: str | None) -> Rule:
    violated = pl.col(column).is_null()
    if lossy_source is not None:
        # A raw value that was there but did not convert is reported as parse loss instead.
        violated = violated & ~_present(_raw(lossy_source))
    return Rule(violated, pl.lit(f"{column}: missing"))


def _isin_rule(column: str, statistics: Mapping[str, Any]) -> Rule:
    allowed = list(statistics["allowed_values"])
    return Rule(
        ~pl.col(column).is_in(allowed),
        pl.format(f"{column}: unknown '{{}}'", _shortened(pl.col(column))),
    )


def _ge_rule(column: str, statistics: Mapping[str, Any]) -> Rule:
    minimum = statistics["min_value"]
    text = "is negative" if minimum == 0 else f"is below {minimum}"
    return Rule(pl.col(column) < minimum, pl.format(f"{column}: {{}} {text}", pl.col(column)))


def _in_range_rule(column: str, statistics: Mapping[str, Any]) -> Rule:
    low, high = statistics["min_value"], statistics["max_value"]
    closed = CLOSED_INTERVAL[
        (bool(statistics.get("include_min", True)), bool(statistics.get("include_max", True)))
    ]
    return Rule(
        ~pl.col(column).is_between(low, high, closed=closed),
        pl.format(f"{column}: {{}} is not between {low} and {high}", pl.col(column)),
    )


_CHECK_COMPILERS: Final = {
    "isin": _isin_rule,
    "greater_than_or_equal_to": _ge_rule,
    "in_range": _in_range_rule,
}


def _parse_loss_rules(sources: Mapping[str, str]) -> dict[str, list[Rule]]:
    """Raw fields present but converted to null, keyed by the first column each feeds.
    One rule per raw field: CSV ``type`` feeds direction and status, one bad value is one
    reason (labelled ``type``)."""
    fed: dict[str, list[str]] = {}
    for column, field in sources.items():
        fed.setdefault(field, []).append(column)
    rules: dict[str, list[Rule]] = {}
    for field, columns in fed.items():
        label = columns[0] if len(columns) == 1 else field
        rule = Rule(
            _present(_raw(field)) & pl.any_horizontal(pl.col(c).is_null() for c in columns),
            pl.format(f"{label}: cannot parse '{{}}'", _shortened(_raw(field))),
        )
        rules.setdefault(columns[0], []).append(rule)
    return rules


def _future_rule(tolerance: timedelta) -> Rule:
    latest = pl.col(LATEST_START)
    return Rule(
        pl.col("started_at") > latest,
        pl.format(
            f"started_at: {{}} is later than now + {tolerance} ({{}})",
            pl.col("started_at").dt.to_string(ISO_UTC),
            latest.dt.to_string(ISO_UTC),
        ),
    )


def _apply_rules(parsed: Parsed, rules: tuple[Rule, ...], latest_start: datetime) -> Validated:
    frame, raw = parsed.frame, parsed.raw
    flags = [f"rule_{i}" for i in range(len(rules))]
    # Pass 1, every row: one boolean per rule. A null outcome (a check on a null value) is
    # "not violated", as in pandera, where checks ignore nulls.
    checked = (
        pl.concat([frame, raw.rename(lambda name: RAW_PREFIX + name)], how="horizontal")
        .lazy()
        .with_columns(pl.lit(latest_start.astimezone(UTC), dtype=UTC_DATETIME).alias(LATEST_START))
        .with_columns(
            rule.violated.fill_null(False).alias(flag)
            for rule, flag in zip(rules, flags, strict=True)
        )
        .with_row_index("row")
        .with_columns(
            (
                pl.any_horizontal(flags) | pl.col("row").is_in(parsed.row_problems["row"].implode())
            ).alias("bad")
        )
        .collect()
    )
    bad = checked["bad"]
    if not bad.any():
        return Validated(frame, pl.DataFrame(schema=REJECTED_SCHEMA))
    # Pass 2, rejected rows only, and only the rules that fired: building a message costs
    # polars ≈0.1 ms of planning even for a handful of rows.
    # rechunk: polars 2.1 panics ("i < self.len()") formatting a multi-chunk column inside
    # when/then; the frame is small here (rejected rows only), so the copy is cheap.
    rejected_rows = checked.filter(bad).rechunk()
    fired = [
        (rule, flag)
        for rule, flag, count in zip(
            rules, flags, rejected_rows.select(pl.col(flags).sum()).row(0), strict=True
        )
        if count
    ]
    rejected = rejected_rows.select(
        pl.col("row").cast(pl.Int64),
        pl.col("uid"),
        pl.concat_list(
            [pl.lit([], dtype=pl.List(pl.String))]
            + [pl.when(pl.col(flag)).then(rule.message) for rule, flag in fired]
        )
        .list.drop_nulls()
        .alias("reasons"),
    )
    if parsed.row_problems.height:
        rejected = _with_row_problems(rejected, parsed.row_problems)
    # The rows as received (every key of a JSON object, not only the fields we read): only
    # now, for the rejected rows, is the body read again.
    received = pl.Series("raw", parsed.received(rejected["row"].to_list()), dtype=pl.String)
    rejected = rejected.insert_column(2, received)
    return Validated(frame.filter(~bad), rejected)


def _with_row_problems(rejected: pl.DataFrame, row_problems: pl.DataFrame) -> pl.DataFrame:
    """The parser's structural reasons go first: they explain the rule reasons that follow."""
    by_row = row_problems.group_by("row").agg(pl.col("reason").alias("structural"))
    return rejected.join(by_row, on="row", how="left", maintain_order="left").select(
        "row",
        "uid",
        pl.concat_list(
            pl.col("structural").fill_null(pl.lit([], pl.List(pl.String))), "reasons"
        ).alias("reasons"),
    )


# --- expression helpers ------------------------------------------------------------------


def _raw(field: str) -> pl.Expr:
    return pl.col(RAW_PREFIX + field)


def _present(value: pl.Expr) -> pl.Expr:
    """The raw field holds something other than whitespace (False for a missing field)."""
    return (value.str.strip_chars().str.len_bytes() > 0).fill_null(False)


def _shortened(value: pl.Expr) -> pl.Expr:
    """One line, at most VALUE_PREVIEW_CHARS characters, for a reason text."""
    text = (
        value.cast(pl.String)
        .str.replace_all("\r", "\\r", literal=True)
        .str.replace_all("\n", "\\n", literal=True)
    )
    return (
        pl.when(text.str.len_chars() > VALUE_PREVIEW_CHARS)
        .then(text.str.slice(0, VALUE_PREVIEW_CHARS - 1) + "…")
        .otherwise(text)
    )


# Fail at import, not on the first chunk, if a model grows a check we cannot compile.
column_contracts(CallsModel)
column_contracts(InternalCallsModel)
