"""Raw history responses (bytes) → canonical polars frames. Pure: no I/O, no clock.

``parse_history(kind, fmt, body)`` is ``normalise([read_history(kind, fmt, body)])[0]``:
``read_history`` reads a body into raw text columns (:class:`RawPage`: its shape is known
and its rows counted), ``normalise`` turns pages already read into canonical frames, several
pages per polars query (the pipeline reads each page as it arrives and normalises a whole
day at once). A :class:`Parsed` has

* ``frame`` — canonical columns and dtypes exactly as in ``docs/architecture.md``
  (:data:`CALL_SCHEMA` for ``external``, :data:`INTERNAL_SCHEMA` for ``internal``);
* ``raw`` — the same rows as received, every field as ``Utf8`` (``None`` when missing), in
  the same order; quarantine stores it and validation compares it with ``frame`` to find
  values that were present but could not be converted (parse loss);
* ``shape`` — which layout was recognised: ``json``, ``csv8``, ``csv9-account``,
  ``csv9-rating``, ``csv10`` (external) or ``json``, ``inner-csv8`` (internal);
* ``sources`` — canonical column → the raw field it is derived from;
* ``lossy`` — the canonical columns whose conversion can turn a present raw value into null
  (timestamps, numbers, CSV ``type``, ``login@domain``); validation reports those as parse
  loss, naming the raw value;
* ``row_problems`` — structural problems of single rows (``row`` Int64, ``reason`` Utf8),
  e.g. a CSV record with more fields than the layout. Validation turns them into reasons.

Normalisation (vectorised polars expressions, one ``select`` per payload)::

    every text field   stripped; "" and whitespace-only → null
    status, direction,
    destination        lower-cased ("Success", "SUCCESS" → "success")
    user_login         `user`, or `account` when `user` is empty
    from/to (internal) the part before "@" ("admin@domain" → "admin"), JSON and CSV alike,
                       so that both formats of one call agree
    start → started_at "2022-01-20T08:59:22Z" or "20220120T085922Z" → Datetime(us, UTC);
                       anything else → null (reported as parse loss)
    wait, duration     whole numbers, also as strings ("13", "13.0", "1e3") → Int32;
                       fractions, text, out-of-range → null (parse loss)
    rating             same rule → Int8
    source             "api_json" / "api_csv" (external only)

External CSV ``type`` → canonical ``direction``/``status``::

    type     direction  status
    in       in         success     (inbound, answered)
    missed   in         missed      (inbound, not answered)
    out      out        success when duration > 0, else missed (also when duration is empty)
    other    null       null        (reported as "type: cannot parse '…'")

CSV carries no ``destination``, ``user_name`` or ``group_name``; those are null.

Internal ``status`` of ``in`` or ``out`` (as in the spec's internal CSV example, section 4.3)
names who called, not how the call ended: it becomes ``success`` when the duration is
positive, else ``noanswer``. Other values are lower-cased as usual.

Shapes. JSON must be a bare array of objects (keys we do not know are ignored). CSV has no
header; the *first record* fixes the column count: 8, 9 or 10 for external (9 is split into
``csv9-account`` and ``csv9-rating`` by whether column 6 or column 5 holds the timestamps),
8 for internal. Records with fewer fields are padded with empty fields (a truncated record
then fails a required field); records with more fields become ``row_problems``. Records
without any data (blank lines) are skipped. Anything else — an object or an HTML page where
an array should be, broken JSON, an unknown column count, bytes that are not UTF-8 —
raises :class:`~vats_etl.errors.UnknownShape` naming what was seen. Empty CSV bodies and
empty JSON arrays give empty frames; an empty JSON body is an unknown shape (a JSON
endpoint always answers at least ``[]``).
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

import orjson
import polars as pl

from vats_etl.errors import UnknownShape

Kind = Literal["external", "internal"]
Fmt = Literal["json", "csv"]

UTC_MICROS: Final = pl.Datetime("us", "UTC")

CALL_SCHEMA: Final[dict[str, pl.DataType]] = {
    "uid": pl.String(),
    "direction": pl.String(),
    "status": pl.String(),
    "client": pl.String(),
    "diversion": pl.String(),
    "destination": pl.String(),
    "user_login": pl.String(),
    "user_name": pl.String(),
    "group_name": pl.String(),
    "started_at": UTC_MICROS,
    "wait_s": pl.Int32(),
    "duration_s": pl.Int32(),
    "record_url": pl.String(),
    "rating": pl.Int8(),
    "source": pl.String(),
}

INTERNAL_SCHEMA: Final[dict[str, pl.DataType]] = {
    "uid": pl.String(),
    "status": pl.String(),
    "from_login": pl.String(),
    "to_login": pl.String(),
    "from_name": pl.String(),
    "to_name": pl.String(),
    "started_at": UTC_MICROS,
    "wait_s": pl.Int32(),
    "duration_s": pl.Int32(),
    "record_url": pl.String(),
}

EXTERNAL_JSON_FIELDS: Final = (
    "uid",
    "direction",
    "status",
    "client",
    "account",
    "diversion",
    "destination",
    "user",
    "user_name",
    "group_name",
    "start",
    "wait",
    "duration",
    "record",
    "rating",
)
INTERNAL_JSON_FIELDS: Final = (
    "uid",
    "status",
    "from",
    "to",
    "from_name",
    "to_name",
    "start",
    "wait",
    "duration",
    "record",
)

EXTERNAL_CSV_LAYOUTS: Final[dict[str, tuple[str, ...]]] = {
    "csv8": ("uid", "type", "client", "via", "start", "wait", "duration", "record"),
    "csv9-account": (
        "uid",
        "type",
        "client",
        "account",
        "via",
        "start",
        "wait",
        "duration",
        "record",
    ),
    "csv9-rating": (
        "uid",
        "type",
        "client",
        "via",
        "start",
        "wait",
        "duration",
        "record",
        "rating",
    ),
    "csv10": (
        "uid",
        "type",
        "client",
        "account",
        "via",
        "start",
        "wait",
        "duration",
        "record",
        "rating",
    ),
}
INTERNAL_CSV_SHAPE: Final = "inner-csv8"
INTERNAL_CSV_LAYOUT: Final = ("uid", "status", "from", "to", "start", "wait", "duration", "record")

# Canonical column → the raw field it comes from, per kind and format. A CSV layout without
# a field (no `account`, no `rating`) simply has no source for that column.
EXTERNAL_JSON_SOURCES: Final[dict[str, str]] = {
    "uid": "uid",
    "direction": "direction",
    "status": "status",
    "client": "client",
    "diversion": "diversion",
    "destination": "destination",
    "user_login": "user",
    "user_name": "user_name",
    "group_name": "group_name",
    "started_at": "start",
    "wait_s": "wait",
    "duration_s": "duration",
    "record_url": "record",
    "rating": "rating",
}
EXTERNAL_CSV_SOURCES: Final[dict[str, str]] = {
    "uid": "uid",
    "direction": "type",
    "status": "type",
    "client": "client",
    "diversion": "via",
    "user_login": "account",
    "started_at": "start",
    "wait_s": "wait",
    "duration_s": "duration",
    "record_url": "record",
    "rating": "rating",
}
INTERNAL_SOURCES: Final[dict[str, str]] = {
    "uid": "uid",
    "status": "status",
    "from_login": "from",
    "to_login": "to",
    "from_name": "from_name",
    "to_name": "to_name",
    "started_at": "start",
    "wait_s": "wait",
    "duration_s": "duration",
    "record_url": "record",
}

# Columns whose conversion can fail; text columns only strip, so they never lose a value.
EXTERNAL_JSON_LOSSY: Final = frozenset({"started_at", "wait_s", "duration_s", "rating"})
EXTERNAL_CSV_LOSSY: Final = EXTERNAL_JSON_LOSSY | {"direction", "status"}
INTERNAL_LOSSY: Final = frozenset({"from_login", "to_login", "started_at", "wait_s", "duration_s"})

CSV_TYPE_TO_DIRECTION: Final = {"in": "in", "missed": "in", "out": "out"}
TIMESTAMP_FORMATS: Final = ("%Y-%m-%dT%H:%M:%SZ", "%Y%m%dT%H%M%SZ")
# Cheap "is this a timestamp" test used only to tell the two 9-column CSV layouts apart.
TIMESTAMP_LIKE: Final = r"^\s*\d{4}-?\d{2}-?\d{2}T\d{2}:?\d{2}:?\d{2}"
ROW_PROBLEMS_SCHEMA: Final[dict[str, pl.DataType]] = {"row": pl.Int64(), "reason": pl.String()}
INT_RANGE: Final[dict[pl.DataType, tuple[int, int]]] = {
    pl.Int8(): (-(2**7), 2**7 - 1),
    pl.Int32(): (-(2**31), 2**31 - 1),
}
PREVIEW_CHARS: Final = 80
LEADING_WHITESPACE: Final = re.compile(rb"\s*")


def _no_row_problems() -> pl.DataFrame:
    return pl.DataFrame(schema=ROW_PROBLEMS_SCHEMA)


@dataclass(frozen=True)
class Parsed:
    """One parsed history payload: canonical ``frame`` plus the ``raw`` rows it came from."""

    frame: pl.DataFrame
    raw: pl.DataFrame
    shape: str
    sources: Mapping[str, str] = field(default_factory=dict)
    lossy: frozenset[str] = frozenset()
    row_problems: pl.DataFrame = field(default_factory=_no_row_problems)

    def __len__(self) -> int:
        return self.frame.height


@dataclass(frozen=True)
class RawPage:
    """One response body read into text columns (``Parsed.raw``), not yet normalised."""

    kind: Kind
    fmt: Fmt
    raw: pl.DataFrame
    shape: str
    row_problems: pl.DataFrame = field(default_factory=_no_row_problems)

    def __len__(self) -> int:
        return self.raw.height


def parse_history(kind: Kind, fmt: Fmt, body: bytes) -> Parsed:
    """Parse one history response body of ``kind`` (external/internal) in ``fmt`` (json/csv)."""
    return normalise([read_history(kind, fmt, body)])[0]


def read_history(kind: Kind, fmt: Fmt, body: bytes) -> RawPage:
    """Read one body into raw text columns: its shape is recognised (or UnknownShape raised)
    and its rows are counted, but nothing is converted yet (see :func:`normalise`)."""
    if kind not in ("external", "internal"):
        raise ValueError(f"unknown history kind {kind!r}: expected 'external' or 'internal'")
    if fmt == "json":
        return _read_json(kind, body)
    if fmt == "csv":
        return _read_csv(kind, body)
    raise ValueError(f"unknown history format {fmt!r}: expected 'json' or 'csv'")


def normalise(pages: Sequence[RawPage]) -> list[Parsed]:
    """Canonical frames of pages already read, one per run of consecutive pages of the same
    kind, format and shape (usually one per day).

    Several pages go through one polars query because a query costs ~2 ms of planning
    whatever its size: per page, that was most of the normalising time."""
    parsed = []
    for (kind, fmt, shape), group in itertools.groupby(
        pages, key=lambda page: (page.kind, page.fmt, page.shape)
    ):
        run = list(group)
        raw = pl.concat([page.raw for page in run]) if len(run) > 1 else run[0].raw
        parsed.append(_canonical(kind, fmt, shape, raw, _row_problems_of(run)))
    return parsed


def _row_problems_of(pages: Sequence[RawPage]) -> pl.DataFrame:
    """The pages' row problems, renumbered to rows of the pages concatenated."""
    shifted, offset = [], 0
    for page in pages:
        if page.row_problems.height:
            shifted.append(page.row_problems.with_columns(pl.col("row") + offset))
        offset += page.raw.height
    return pl.concat(shifted) if shifted else _no_row_problems()


def _canonical(
    kind: Kind, fmt: Fmt, shape: str, raw: pl.DataFrame, row_problems: pl.DataFrame
) -> Parsed:
    if kind == "internal":
        frame, all_sources, all_lossy = _internal_frame(raw), INTERNAL_SOURCES, INTERNAL_LOSSY
    elif fmt == "json":
        frame = _external_frame_from_json(raw)
        all_sources, all_lossy = EXTERNAL_JSON_SOURCES, EXTERNAL_JSON_LOSSY
    else:
        frame = _external_frame_from_csv(raw)
        all_sources, all_lossy = EXTERNAL_CSV_SOURCES, EXTERNAL_CSV_LOSSY
    # A CSV layout without a field (no `account`, no `rating`) has no source for its column.
    sources = {col: src for col, src in all_sources.items() if src in raw.columns}
    return Parsed(frame, raw, shape, sources, frozenset(all_lossy & sources.keys()), row_problems)


# --- normalisation expressions ------------------------------------------------------------
#
# Normalisation runs as one lazy query in three steps, so that each raw field is stripped
# once and each number parsed once however often the canonical columns use them:
#   1. every raw field → cleaned text (stripped, "" → null), under its own name;
#   2. numeric fields → Float64 in a helper column ``#number:<field>``;
#   3. the canonical columns, from the cleaned fields and the helper columns.
# (Written as one nested expression per column, polars re-evaluated the shared parts: 3x
# slower on 5,000 rows.)

NUMERIC_FIELDS: Final = ("wait", "duration", "rating")
NUMBER_PREFIX: Final = "#number:"


def _cleaned_text(name: str) -> pl.Expr:
    """Step 1: stripped text; empty or whitespace-only becomes null."""
    stripped = pl.col(name).str.strip_chars()
    return pl.when(stripped.str.len_bytes() > 0).then(stripped).alias(name)


def _parsed_number(name: str) -> pl.Expr:
    """Step 2: a cleaned field as Float64 ("13", "13.0", "1e3"; anything else → null)."""
    return pl.col(name).cast(pl.Float64, strict=False).alias(NUMBER_PREFIX + name)


def _text(name: str) -> pl.Expr:
    """A cleaned text field (step 3 reads fields only after step 1)."""
    return pl.col(name)


def _lower(name: str) -> pl.Expr:
    return pl.col(name).str.to_lowercase()


def _login(name: str) -> pl.Expr:
    """``admin@domain`` → ``admin``; a value that is only ``@domain`` becomes null."""
    local_part = pl.col(name).str.split_exact("@", 1).struct.field("field_0").str.strip_chars()
    return pl.when(local_part.str.len_bytes() > 0).then(local_part)


def _timestamp(name: str) -> pl.Expr:
    return pl.coalesce(
        [pl.col(name).str.strptime(UTC_MICROS, fmt, strict=False) for fmt in TIMESTAMP_FORMATS]
    )


def _whole_number(name: str, dtype: pl.DataType) -> pl.Expr:
    """Integral numbers that fit ``dtype``, also written as strings or floats; else null."""
    low, high = INT_RANGE[dtype]
    number = pl.col(NUMBER_PREFIX + name)
    integral = number.is_finite() & (number == number.floor()) & number.is_between(low, high)
    return pl.when(integral).then(number).cast(dtype)


def _null(dtype: pl.DataType) -> pl.Expr:
    return pl.lit(None, dtype=dtype)


def _select_canonical(
    raw: pl.DataFrame, exprs: Mapping[str, pl.Expr], schema: Mapping[str, pl.DataType]
) -> pl.DataFrame:
    """Run steps 1–3; the final cast pins exact dtypes (a literal None is Null until cast)."""
    return (
        raw.lazy()
        .with_columns(_cleaned_text(name) for name in raw.columns)
        .with_columns(_parsed_number(name) for name in NUMERIC_FIELDS if name in raw.columns)
        .select(exprs[name].cast(dtype).alias(name) for name, dtype in schema.items())
        .collect()
    )


# --- canonical frames ---------------------------------------------------------------------


def _external_frame_from_json(raw: pl.DataFrame) -> pl.DataFrame:
    exprs = {
        "uid": _text("uid"),
        "direction": _lower("direction"),
        "status": _lower("status"),
        "client": _text("client"),
        "diversion": _text("diversion"),
        "destination": _lower("destination"),
        "user_login": pl.coalesce(_text("user"), _text("account")),
        "user_name": _text("user_name"),
        "group_name": _text("group_name"),
        "started_at": _timestamp("start"),
        "wait_s": _whole_number("wait", pl.Int32()),
        "duration_s": _whole_number("duration", pl.Int32()),
        "record_url": _text("record"),
        "rating": _whole_number("rating", pl.Int8()),
        "source": pl.lit("api_json"),
    }
    return _select_canonical(raw, exprs, CALL_SCHEMA)


def _external_frame_from_csv(raw: pl.DataFrame) -> pl.DataFrame:
    fields = set(raw.columns)
    csv_type = _lower("type")
    duration = _whole_number("duration", pl.Int32())
    out_status = pl.when(duration > 0).then(pl.lit("success")).otherwise(pl.lit("missed"))
    exprs = {
        "uid": _text("uid"),
        "direction": csv_type.replace_strict(CSV_TYPE_TO_DIRECTION, default=None),
        "status": pl.when(csv_type == "in")
        .then(pl.lit("success"))
        .when(csv_type == "missed")
        .then(pl.lit("missed"))
        .when(csv_type == "out")
        .then(out_status),
        "client": _text("client"),
        "diversion": _text("via"),
        "destination": _null(pl.String()),
        "user_login": _text("account") if "account" in fields else _null(pl.String()),
        "user_name": _null(pl.String()),
        "group_name": _null(pl.String()),
        "started_at": _timestamp("start"),
        "wait_s": _whole_number("wait", pl.Int32()),
        "duration_s": duration,
        "record_url": _text("record"),
        "rating": _whole_number("rating", pl.Int8()) if "rating" in fields else _null(pl.Int8()),
        "source": pl.lit("api_csv"),
    }
    return _select_canonical(raw, exprs, CALL_SCHEMA)


def _internal_status() -> pl.Expr:
    """The spec's internal CSV example carries `in`/`out` where the status belongs; such a
    value says who called, not how it ended, so the status follows from the duration (as
    for the external CSV's `out`): success when the call lasted, else noanswer."""
    status = _lower("status")
    lasted = _whole_number("duration", pl.Int32()) > 0
    direction_word = status.is_in(["in", "out"])
    by_duration = pl.when(lasted).then(pl.lit("success")).otherwise(pl.lit("noanswer"))
    return pl.when(direction_word).then(by_duration).otherwise(status)


def _internal_frame(raw: pl.DataFrame) -> pl.DataFrame:
    fields = set(raw.columns)
    exprs = {
        "uid": _text("uid"),
        "status": _internal_status(),
        "from_login": _login("from"),
        "to_login": _login("to"),
        "from_name": _text("from_name") if "from_name" in fields else _null(pl.String()),
        "to_name": _text("to_name") if "to_name" in fields else _null(pl.String()),
        "started_at": _timestamp("start"),
        "wait_s": _whole_number("wait", pl.Int32()),
        "duration_s": _whole_number("duration", pl.Int32()),
        "record_url": _text("record"),
    }
    return _select_canonical(raw, exprs, INTERNAL_SCHEMA)


# --- JSON ---------------------------------------------------------------------------------


def _read_json(kind: Kind, body: bytes) -> RawPage:
    fields = EXTERNAL_JSON_FIELDS if kind == "external" else INTERNAL_JSON_FIELDS
    raw, row_problems = _read_json_array(kind, body, fields)
    return RawPage(kind, "json", raw, "json", row_problems)


def _read_json_array(
    kind: Kind, body: bytes, fields: Sequence[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    text = _without_bom(body)
    if _first_byte(text) != b"[":
        raise UnknownShape(
            f"{kind} history JSON: expected an array of call objects, got {_describe(body)}"
        )
    try:
        # Fast path: every known field read as a string (numbers become their text), unknown
        # keys ignored. polars refuses nested values and non-object elements: those go slow.
        raw = pl.read_json(text, schema={name: pl.String() for name in fields})
    except pl.exceptions.PolarsError:
        return _read_json_slowly(kind, text, fields)
    return raw, _no_row_problems()


def _read_json_slowly(
    kind: Kind, text: bytes, fields: Sequence[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """orjson walk for payloads polars rejects: says exactly what is wrong, or keeps rows whose
    fields hold nested values (as JSON text, with a row problem each)."""
    try:
        items = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise UnknownShape(
            f"{kind} history JSON is not valid JSON ({exc}); got {_describe(text)}"
        ) from None
    if not isinstance(items, list):
        raise UnknownShape(
            f"{kind} history JSON: expected an array of call objects, got {_describe(text)}"
        )
    columns: dict[str, list[str | None]] = {name: [] for name in fields}
    problems: list[tuple[int, str]] = []
    for row, item in enumerate(items):
        if not isinstance(item, dict):
            raise UnknownShape(
                f"{kind} history JSON: element {row} is {_json_type(item)}, expected an object"
            )
        for name in fields:
            value = item.get(name)
            if isinstance(value, dict | list):
                problems.append((row, f"{name}: nested value {_preview(_json_text(value))}"))
            columns[name].append(_scalar_text(value))
    raw = pl.DataFrame(columns, schema={name: pl.String() for name in fields})
    return raw, pl.DataFrame(problems, schema=ROW_PROBLEMS_SCHEMA, orient="row")


def _scalar_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return _json_text(value)


def _json_text(value: object) -> str:
    return orjson.dumps(value).decode()


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"


# --- CSV ----------------------------------------------------------------------------------


def _read_csv(kind: Kind, body: bytes) -> RawPage:
    fields, row_problems = _read_csv_records(kind, body)
    if kind == "external":
        shape = _external_csv_shape(fields, body)
        layout = EXTERNAL_CSV_LAYOUTS[shape]
    else:
        shape, layout = INTERNAL_CSV_SHAPE, INTERNAL_CSV_LAYOUT
        if fields.width not in (0, len(layout)):
            raise UnknownShape(
                f"internal CSV with {fields.width} columns: expected {len(layout)}"
                f" ({_describe(body)})"
            )
    return RawPage(kind, "csv", _name_columns(fields, layout), shape, row_problems)


def _read_csv_records(kind: Kind, body: bytes) -> tuple[pl.DataFrame, pl.DataFrame]:
    """All records as String columns ``column_0..``; blank records dropped."""
    text = _without_bom(body).lstrip(b"\r\n")
    if not _first_byte(text):
        return pl.DataFrame(), _no_row_problems()
    try:
        # Fast path. Empty fields stay "" (not null) so that `raw` shows what was received.
        records = pl.read_csv(
            text,
            has_header=False,
            infer_schema=False,
            empty_string_is_null=False,
            truncate_ragged_lines=False,
            raise_if_empty=False,
        )
        row_problems = _no_row_problems()
    except pl.exceptions.PolarsError:
        # A later record wider than the first, or quoting polars refuses: the csv module is
        # slower but tells us per record what happened.
        records, row_problems = _read_csv_slowly(kind, text)
    # Blank lines come back as records of empty fields; they are not calls.
    has_data = pl.any_horizontal(pl.all().fill_null("").str.strip_chars() != "")
    return records.filter(has_data), row_problems


def _read_csv_slowly(kind: Kind, text: bytes) -> tuple[pl.DataFrame, pl.DataFrame]:
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnknownShape(
            f"{kind} history CSV is not UTF-8 text (byte {exc.start}); got {_describe(text)}"
        ) from None
    try:
        reader = csv.reader(io.StringIO(decoded, newline=""))
        records = [record for record in reader if any(value.strip() for value in record)]
    except csv.Error as exc:
        raise UnknownShape(f"{kind} history CSV cannot be read ({exc})") from None
    if not records:
        return pl.DataFrame(), _no_row_problems()
    width = len(records[0])
    problems: list[tuple[int, str]] = []
    padded: list[list[str]] = []
    for row, record in enumerate(records):
        if len(record) > width:
            extra = ",".join(record[width:])
            problems.append(
                (row, f"csv: {len(record)} fields, expected {width} (extra {_preview(extra)})")
            )
        padded.append((record + [""] * width)[:width])
    columns = [f"column_{i}" for i in range(width)]
    frame = pl.DataFrame(padded, schema=dict.fromkeys(columns, pl.String()), orient="row")
    return frame, pl.DataFrame(problems, schema=ROW_PROBLEMS_SCHEMA, orient="row")


def _external_csv_shape(fields: pl.DataFrame, body: bytes) -> str:
    width = fields.width
    if width in (0, 10):
        return "csv10"  # an empty body: the widest layout, so `raw` has every column
    if width == 8:
        return "csv8"
    if width == 9:
        return _nine_column_layout(fields)
    raise UnknownShape(
        f"external CSV with {width} columns: expected 8, 9 or 10 ({_describe(body)})"
    )


def _nine_column_layout(fields: pl.DataFrame) -> str:
    """``uid,type,client,account,via,start,…`` has the timestamp in column 6,
    ``uid,type,client,via,start,…,rating`` in column 5: the majority of records decides."""
    in_col5, in_col6 = fields.select(
        pl.col("column_4").str.contains(TIMESTAMP_LIKE).sum(),
        pl.col("column_5").str.contains(TIMESTAMP_LIKE).sum(),
    ).row(0)
    if in_col5 == in_col6:
        raise UnknownShape(
            "external CSV with 9 columns: cannot tell `account` from `rating` layout"
            f" (timestamps in column 5: {in_col5} rows, column 6: {in_col6} rows)"
        )
    return "csv9-rating" if in_col5 > in_col6 else "csv9-account"


def _name_columns(fields: pl.DataFrame, layout: Sequence[str]) -> pl.DataFrame:
    if fields.width == 0:
        return pl.DataFrame(schema=dict.fromkeys(layout, pl.String()))
    return fields.rename(dict(zip(fields.columns, layout, strict=True)))


# --- messages -----------------------------------------------------------------------------


def _without_bom(body: bytes) -> bytes:
    return body.removeprefix(b"\xef\xbb\xbf")


def _first_byte(body: bytes) -> bytes:
    """The first byte that is not whitespace (b"" if none), without copying the body:
    ``body.strip()`` would copy megabytes for one trailing newline."""
    start = LEADING_WHITESPACE.match(body)
    offset = start.end() if start else 0
    return body[offset : offset + 1]


def _describe(body: bytes) -> str:
    """What a body looks like, for error messages: kind, size and its first characters."""
    text = _without_bom(body).strip()
    if not text:
        return "an empty body"
    first = text[:1]
    what = {b"{": "a JSON object", b"[": "a JSON array", b"<": "an HTML/XML page"}.get(
        first, "text"
    )
    head = text[: PREVIEW_CHARS * 4].decode("utf-8", errors="replace")
    return f"{what} of {len(body)} bytes starting {_preview(head)}"


def _preview(text: str) -> str:
    """Quoted, one line, at most PREVIEW_CHARS characters: safe to put in a message."""
    one_line = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    if len(one_line) > PREVIEW_CHARS:
        one_line = one_line[: PREVIEW_CHARS - 1] + "…"
    return f"'{one_line}'"
