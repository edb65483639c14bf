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
* ``sources`` — canonical column → the raw field it is derived from; ``fallbacks`` — the
  raw fields read when that one is empty (JSON ``direction`` ← ``type``);
* ``lossy`` — the canonical columns whose conversion can turn a present raw value into null
  (timestamps, numbers, CSV ``type``, internal ``login@domain``); validation reports those as
  parse loss, naming the raw value;
* ``row_problems`` — structural problems of single rows (``row`` Int64, ``reason`` Utf8),
  e.g. a CSV record with more fields than the layout. Validation turns them into reasons;
* ``notes`` — how many rows had a value normalised in a noteworthy way (below);
* :meth:`Parsed.received` — rows exactly as received: for JSON the whole object, every key
  (also ``type``, ``missedStatus`` and whatever else the platform adds), re-read from the
  body only when asked (for rejected rows), so the normal path pays nothing for it.

Normalisation (vectorised polars expressions, one ``select`` per run of pages). The platform
speaks more than the spec's dialect (its real answers: docs/architecture.md, "Raw formats");
every known spelling is accepted (the tables live in :mod:`vats_etl.spellings`)::

    every text field   stripped; "" and whitespace-only → null
    direction          in/incoming → in, out/outgoing → out, any case, from `direction`
                       when it is such a spelling, else from `type` (either may be absent;
                       spellings.call_direction, the webhooks' rule too); when neither is,
                       the delivered word is kept lower-cased and validation rejects it
                       ("direction: unknown 'sideways'")
    status             lower-cased; noanswer/no_answer → missed, not_available → notavailable,
                       not_allowed → notallowed, not_found → notfound (external only); any
                       other value is kept lower-cased as delivered — an unexpected status
                       never drops a call (sql/data_quality.sql lists it)
    destination        lower-cased
    user_login         `user`, or `account` when `user` is empty; "ivanov@acme.megapbx.ru" →
                       "ivanov" (the domain is not part of a login)
    account targets    an `account` (JSON fallback or CSV column) that names where the call
                       went instead of who took it: a target word (ivr, fax, voicemail → vm,
                       vm, am, onduty, offtime, hello) → `destination`; a value that cannot be
                       a login (whitespace or anything outside ``A-Za-z0-9._@+-``, e.g.
                       "Отдел продаж") → `group_name`; either way `user_login` stays empty.
                       The parser is pure (no directory): a department called "sales" reads
                       as a login.
    from/to (internal) the part before "@" ("admin@domain" → "admin"), JSON and CSV alike,
                       so that both formats of one call agree
    start → started_at "2022-01-20T08:59:22Z" or "20220120T085922Z" (the spec's forms, the fast
                       path), else ISO with an offset ("…T11:59:22+03:00"), fractional
                       seconds, or "2022-01-20 08:59:22" / "2022-01-20T08:59:22" without a
                       zone (read as UTC, as the API's own examples are) → Datetime(us, UTC);
                       anything else → null (reported as parse loss)
    wait, duration     whole numbers, also as strings ("13", "13.0", "1e3") → Int32;
                       fractions, text, out-of-range → null (parse loss). JSON: a call not
                       answered whose row has no `duration` (the platform sends it only on
                       answered calls) → 0
    rating             same rule → Int8
    missedStatus       (JSON; also spelled `missedstatus`) the PBX's own verdict on a miss or
    → pbx_missed_status  a call-back, a whole number as delivered → Int16; absent → null;
                       anything else → null, counted (never a reason to reject the call)
    source             "api_json" / "api_csv" (external only)

``notes`` counts, per payload, the rows whose values were normalised in a way an analyst may
want to know about (sql/data_quality.sql shows them per day): ``direction_from_type``,
``direction_type_disagree``, ``direction_unknown_from_type``, ``status_alias``,
``login_domain_stripped``, ``start_other_format``, ``account_as_destination``,
``account_as_group``, ``duration_absent_not_answered``, ``missed_status_unreadable``. Counts
of zero are left out.

External CSV ``type`` → canonical ``direction``/``status``::

    type     direction  status
    in       in         success     (inbound, answered)
    missed   in         missed      (inbound, not answered)
    out      out        success when duration > 0, else missed (also when duration is empty)
    other    null       null        (reported as "type: cannot parse '…'")

CSV carries no ``destination``, ``user_name``, ``group_name`` or ``missedStatus`` columns;
the first three are null unless the ``account`` column names a target or a department
(above), ``pbx_missed_status`` is always null.

Internal ``status`` of ``in`` or ``out`` (as in the spec's internal CSV example, section 4.3)
names who called, not how the call ended: it becomes ``success`` when the duration is
positive, else ``noanswer``. Other values are lower-cased as usual.

Shapes. JSON must be a bare array of objects (keys we do not know are ignored, but kept in
the body: :meth:`Parsed.received` gives a rejected row back with every key). An empty window
may be answered ``[]``, ``null``, ``""``, ``{}`` or with an empty body: all are zero rows. CSV
has no header; the *first record* fixes the column count: 8, 9 or 10 for external (9 is
split into ``csv9-account`` and ``csv9-rating`` by whether column 6 or column 5 holds the
timestamps), 8 for internal. Records with fewer fields are padded with empty fields (a
truncated record then fails a required field); records with more fields become
``row_problems``. Records without any data (blank lines) are skipped. Anything else — an
object with keys or an HTML page where an array should be, broken JSON, an unknown column
count, bytes that are not UTF-8 — raises :class:`~vats_etl.errors.UnknownShape` naming what
was seen. Empty CSV bodies give empty frames.
"""

from __future__ import annotations

import bisect
import csv
import functools
import io
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

import orjson
import polars as pl

from vats_etl import spellings
from vats_etl.errors import UnknownShape
from vats_etl.history import HistoryFormat, HistoryKind

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
    "pbx_missed_status": pl.Int16(),
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

# The fields the fast path reads; any other key stays in the body (Parsed.received).
EXTERNAL_JSON_FIELDS: Final = (
    "uid",
    "direction",
    "type",  # the platform's name for `direction`
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
    # the PBX's own verdict on a missed call or a call-back, in either of its spellings
    *spellings.MISSED_STATUS_KEYS,
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
    "pbx_missed_status": spellings.MISSED_STATUS_KEYS[0],
}
# Raw fields read when the source is empty (a required column is absent only when all are).
EXTERNAL_JSON_FALLBACKS: Final[dict[str, tuple[str, ...]]] = {
    "direction": ("type",),
    "user_login": ("account",),
    "pbx_missed_status": spellings.MISSED_STATUS_KEYS[1:],
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
# (An external `user`/`account` of only "@domain" is no login: an optional field, not a loss.)
EXTERNAL_JSON_LOSSY: Final = frozenset({"started_at", "wait_s", "duration_s", "rating"})
EXTERNAL_CSV_LOSSY: Final = EXTERNAL_JSON_LOSSY | {"direction", "status"}
INTERNAL_LOSSY: Final = frozenset({"from_login", "to_login", "started_at", "wait_s", "duration_s"})

CSV_TYPE_TO_DIRECTION: Final = {"in": "in", "missed": "in", "out": "out"}
# The spec's two forms: every row of a normal day is one of them, so they are tried on
# every row; the other forms only on the rows these leave without a time (_late_starts).
TIMESTAMP_FORMATS: Final = ("%Y-%m-%dT%H:%M:%SZ", "%Y%m%dT%H%M%SZ")
# chrono's RFC 3339 form: "Z" or an offset (+03:00, +0300), "T" or a space, any fraction.
ISO_WITH_ZONE: Final = "%+"
# No zone at all ("T" replaced by a space first): UTC, as in the API's own examples.
ISO_WITHOUT_ZONE: Final = "%Y-%m-%d %H:%M:%S%.f"
# Cheap "is this a timestamp" test used only to tell the two 9-column CSV layouts apart.
TIMESTAMP_LIKE: Final = r"^\s*\d{4}-?\d{2}-?\d{2}[T ]\d{2}:?\d{2}:?\d{2}"
# An `account` that names where a call went, not who took it (spec 4.2's destinations and
# the words public clients have seen), with the destination it stands for.
ACCOUNT_TARGETS: Final = {
    "ivr": "ivr",
    "fax": "fax",
    "voicemail": "vm",
    "vm": "vm",
    "am": "am",
    "onduty": "onduty",
    "offtime": "offtime",
    "hello": "hello",
}
# A login is a short ASCII word (letters, digits, . _ - +, maybe @domain): anything else —
# a space, Cyrillic — is a name, i.e. a department's.
NOT_A_LOGIN: Final = r"[^A-Za-z0-9._@+\-]"
# The same two rules on unstripped text, as one eager test of a whole payload: most accounts
# name employees only, and then the rules need not run row by row.
NAMES_A_PLACE: Final = (
    rf"(?i)^\s*(?:{'|'.join(ACCOUNT_TARGETS)})\s*$" + r"|[^A-Za-z0-9._@+\-\s]|\S\s+\S"
)
ROW_PROBLEMS_SCHEMA: Final[dict[str, pl.DataType]] = {"row": pl.Int64(), "reason": pl.String()}
INT_RANGE: Final[dict[pl.DataType, tuple[int, int]]] = {
    pl.Int8(): (-(2**7), 2**7 - 1),
    pl.Int16(): (-(2**15), 2**15 - 1),
    pl.Int32(): (-(2**31), 2**31 - 1),
}
PREVIEW_CHARS: Final = 80
LEADING_WHITESPACE: Final = re.compile(rb"\s*")
# JSON values that mean "no calls in this window" (the platform answers null).
EMPTY_JSON_VALUES: Final[tuple[object, ...]] = (None, "", {}, [])


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
    fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    notes: Mapping[str, int] = field(default_factory=dict)
    # JSON only: (first row, body) of each page, to give rejected rows back as received.
    bodies: tuple[tuple[int, bytes], ...] = ()

    def __len__(self) -> int:
        return self.frame.height

    def received(self, rows: Sequence[int]) -> list[str]:
        """``rows`` exactly as received, as JSON object text: for JSON the object from the
        body with every key, known or not (values as sent; re-serialised compactly); for CSV
        the record's fields by layout name. Meant for the few rows validation rejects: see
        :class:`_Finder` for what it costs."""
        if not self.bodies:
            picked = self.raw[list(rows)]
            return [_json_text(row) for row in picked.iter_rows(named=True)]
        starts = [start for start, _ in self.bodies]
        finders: dict[int, _Finder] = {}
        found: dict[int, str] = {}
        for row in sorted(set(rows)):  # a finder walks its body forwards
            page = bisect.bisect_right(starts, row) - 1
            start, body = self.bodies[page]
            finder = finders.setdefault(page, _Finder(body, self.raw.slice(start, None)))
            found[row] = _json_text(finder.item(row - start))
        return [found[row] for row in rows]


@dataclass(frozen=True)
class RawPage:
    """One response body read into text columns (``Parsed.raw``), not yet normalised."""

    kind: HistoryKind
    fmt: HistoryFormat
    raw: pl.DataFrame
    shape: str
    row_problems: pl.DataFrame = field(default_factory=_no_row_problems)
    body: bytes | None = None  # JSON: kept (not copied) for Parsed.received

    def __len__(self) -> int:
        return self.raw.height


def parse_history(kind: HistoryKind, fmt: HistoryFormat, body: bytes) -> Parsed:
    """Parse one history response body of ``kind`` (external/internal) in ``fmt`` (json/csv)."""
    return normalise([read_history(kind, fmt, body)])[0]


def read_history(kind: HistoryKind, fmt: HistoryFormat, body: bytes) -> RawPage:
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
        parsed.append(_canonical(kind, fmt, shape, raw, _row_problems_of(run), _bodies_of(run)))
    return parsed


def _row_problems_of(pages: Sequence[RawPage]) -> pl.DataFrame:
    """The pages' row problems, renumbered to rows of the pages concatenated."""
    shifted, offset = [], 0
    for page in pages:
        if page.row_problems.height:
            shifted.append(page.row_problems.with_columns(pl.col("row") + offset))
        offset += page.raw.height
    return pl.concat(shifted) if shifted else _no_row_problems()


def _bodies_of(pages: Sequence[RawPage]) -> tuple[tuple[int, bytes], ...]:
    """(first row, body) of the pages that kept their body and have rows."""
    bodies, offset = [], 0
    for page in pages:
        if page.body is not None and page.raw.height:
            bodies.append((offset, page.body))
        offset += page.raw.height
    return tuple(bodies)


def _canonical(
    kind: HistoryKind,
    fmt: HistoryFormat,
    shape: str,
    raw: pl.DataFrame,
    row_problems: pl.DataFrame,
    bodies: tuple[tuple[int, bytes], ...],
) -> Parsed:
    fallbacks: Mapping[str, tuple[str, ...]] = {}
    if kind == "internal":
        frame, all_sources, all_lossy = _internal_frame(raw), INTERNAL_SOURCES, INTERNAL_LOSSY
    elif fmt == "json":
        frame = _external_frame_from_json(raw)
        all_sources, all_lossy = EXTERNAL_JSON_SOURCES, EXTERNAL_JSON_LOSSY
        fallbacks = EXTERNAL_JSON_FALLBACKS
    else:
        frame = _external_frame_from_csv(raw)
        all_sources, all_lossy = EXTERNAL_CSV_SOURCES, EXTERNAL_CSV_LOSSY
    frame, notes = _split_notes(frame)
    frame, late = _late_starts(frame, raw)
    if late:
        notes["start_other_format"] = late
    # A CSV layout without a field (no `account`, no `rating`) has no source for its column.
    sources = {col: src for col, src in all_sources.items() if src in raw.columns}
    return Parsed(
        frame,
        raw,
        shape,
        sources,
        frozenset(all_lossy & sources.keys()),
        row_problems,
        fallbacks,
        notes,
        bodies,
    )


# --- normalisation expressions ------------------------------------------------------------
#
# Normalisation runs as one lazy query in three steps, so that each raw field is stripped
# once and each number parsed once however often the canonical columns use them:
#   1. every raw field → cleaned text (stripped, "" → null), under its own name;
#   2. numeric fields → Float64 in a helper column ``#number:<field>``, and the fields
#      spelled in several ways lower-cased in ``#lower:<field>``;
#   3. the canonical columns, from the cleaned fields and the helper columns, plus one
#      boolean ``#note:<name>`` per note (summed, then dropped: see _split_notes).
# (Written as one nested expression per column, polars re-evaluated the shared parts: 3x
# slower on 5,000 rows.)

NUMERIC_FIELDS: Final = ("wait", "duration", "rating")
LOWERED_FIELDS: Final = ("direction", "type", "status", "account")
NUMBER_PREFIX: Final = "#number:"
LOWER_PREFIX: Final = "#lower:"
NOTE_PREFIX: Final = "#note:"


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
    """A cleaned field lower-cased (step 2's helper column)."""
    return pl.col(LOWER_PREFIX + name)


def _respelled(value: pl.Expr, spellings_of: Mapping[str, str]) -> pl.Expr:
    """``value`` with each known spelling replaced, anything else unchanged. A chain of
    comparisons: polars' ``replace`` with a mapping costs 4x as much on 5,000 rows."""
    chain: Any = pl
    for spelled, canonical in spellings_of.items():
        if spelled != canonical:
            chain = chain.when(value == spelled).then(pl.lit(canonical))
    return value if chain is pl else cast(pl.Expr, chain.otherwise(value))


def _login(name: str, split: bool) -> pl.Expr:
    """``admin@domain`` → ``admin``; a value that is only ``@domain`` becomes null. Without
    ``split`` (no ``@`` anywhere in the payload's field: the spec's dialect) the text as is:
    the split is the most expensive expression of a normal day."""
    if not split:
        return _text(name)
    local_part = _text(name).str.split_exact("@", 1).struct.field("field_0").str.strip_chars()
    return pl.when(local_part.str.len_bytes() > 0).then(local_part)


def _with_domain(raw: pl.DataFrame, names: Sequence[str]) -> frozenset[str]:
    """Which of the login fields hold an ``@`` in some row (an eager test, ~30 µs each)."""
    return frozenset(
        name
        for name in names
        if name in raw.columns and raw[name].str.contains("@", literal=True).any()
    )


def _names_places(raw: pl.DataFrame) -> bool:
    """Whether some `account` of the payload names a target or a department (one eager
    regex over the column, ~0.1 ms per 5,000 rows)."""
    return "account" in raw.columns and bool(raw["account"].str.contains(NAMES_A_PLACE).any())


def _has_domain(value: pl.Expr) -> pl.Expr:
    return value.str.contains("@", literal=True)


def _timestamp(name: str) -> pl.Expr:
    return pl.coalesce(
        [pl.col(name).str.strptime(UTC_MICROS, fmt, strict=False) for fmt in TIMESTAMP_FORMATS]
    )


def _whole_number(name: str, dtype: pl.DataType) -> pl.Expr:
    """Integral numbers that fit ``dtype``, also written as strings or floats; else null."""
    return _whole(pl.col(NUMBER_PREFIX + name), dtype)


def _whole(number: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    low, high = INT_RANGE[dtype]
    integral = number.is_finite() & (number == number.floor()) & number.is_between(low, high)
    return pl.when(integral).then(number).cast(dtype)


def _verdict_keys(raw: pl.DataFrame) -> frozenset[str]:
    """The missedStatus spellings some row of the payload carries (the spec's letter and
    CSV carry none: then nothing of it is computed; null counts cost nothing)."""
    return frozenset(
        key
        for key in spellings.MISSED_STATUS_KEYS
        if key in raw.columns and raw[key].null_count() < raw.height
    )


def _null(dtype: pl.DataType) -> pl.Expr:
    return pl.lit(None, dtype=dtype)


@dataclass(frozen=True)
class _Account:
    """What an external `account` value is: a login, a target (→ destination) or a name
    (→ group_name). Expressions over step 2's columns."""

    is_target: pl.Expr
    is_name: pl.Expr
    login: pl.Expr
    destination: pl.Expr

    @staticmethod
    def of(columns: Sequence[str], domains: frozenset[str], places: bool) -> _Account | None:
        """``places``: some value of the payload names a target or a department (when none
        does, every account is a login and the rules are left out of the query)."""
        if "account" not in columns:
            return None
        login_only = _login("account", "account" in domains)
        if not places:
            no = pl.lit(False)
            return _Account(no, no, login_only, _null(pl.String()))
        lowered = _lower("account")
        is_target = lowered.is_in(list(ACCOUNT_TARGETS))
        is_name = ~is_target & _text("account").str.contains(NOT_A_LOGIN)
        login = pl.when(~is_target & ~is_name).then(login_only)
        # Only "voicemail" is spelled otherwise than its destination (cheaper than a chain).
        destination = pl.when(is_target).then(
            pl.when(lowered == "voicemail").then(pl.lit("vm")).otherwise(lowered)
        )
        return _Account(is_target, is_name, login, destination)


def _select_canonical(
    raw: pl.DataFrame,
    exprs: Mapping[str, pl.Expr],
    notes: Mapping[str, pl.Expr],
    schema: Mapping[str, pl.DataType],
    helpers: Mapping[str, pl.Expr] | None = None,
) -> pl.DataFrame:
    """Run steps 1–3; the final cast pins exact dtypes (a literal None is Null until cast).
    ``helpers``: columns computed once from step 2's for several canonical columns and notes
    (polars does not share them between the expressions of one ``select``)."""
    return (
        raw.lazy()
        .with_columns(_cleaned_text(name) for name in raw.columns)
        .with_columns(
            *(_parsed_number(name) for name in NUMERIC_FIELDS if name in raw.columns),
            *(
                pl.col(name).str.to_lowercase().alias(LOWER_PREFIX + name)
                for name in LOWERED_FIELDS
                if name in raw.columns
            ),
        )
        .with_columns(expr.alias(name) for name, expr in (helpers or {}).items())
        .select(
            *(exprs[name].cast(dtype).alias(name) for name, dtype in schema.items()),
            *(note.alias(NOTE_PREFIX + name) for name, note in notes.items()),
        )
        .collect()
    )


def _split_notes(frame: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int]]:
    """The ``#note:`` columns summed (nulls count as no), and the frame without them."""
    names = [name for name in frame.columns if name.startswith(NOTE_PREFIX)]
    notes = {name.removeprefix(NOTE_PREFIX): int(frame[name].sum()) for name in names}
    return frame.drop(names), {name: count for name, count in notes.items() if count}


def _late_starts(frame: pl.DataFrame, raw: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Times in the other accepted forms (offsets, fractions, no zone), tried only on the
    rows the spec's two forms left without a time although ``start`` was there: a normal
    day pays one null count. Returns the frame and how many rows the other forms placed."""
    started = frame["started_at"]
    if started.null_count() == raw["start"].null_count():
        return frame, 0
    rows = (started.is_null() & raw["start"].is_not_null()).arg_true()
    text = raw["start"].gather(rows).str.strip_chars()
    # Eager Series operations: on a few rows a polars query costs more than the parsing.
    late = text.str.strptime(UTC_MICROS, ISO_WITH_ZONE, strict=False)
    if late.null_count():
        naive = text.str.replace("T", " ", literal=True).str.strptime(
            UTC_MICROS, ISO_WITHOUT_ZONE, strict=False
        )
        late = late.fill_null(naive)
    placed = late.is_not_null()
    if not placed.any():
        return frame, 0
    filled = started.scatter(rows.filter(placed), late.filter(placed))
    return frame.with_columns(filled), int(placed.sum())


# --- canonical frames ---------------------------------------------------------------------
#
# Building the expressions costs ~1.5 ms of Python per payload, as much as running them, and
# they depend only on the payload's fields and on which login fields carry a domain: they are
# built once per such combination.

Plan = tuple[dict[str, pl.Expr], dict[str, pl.Expr]]  # canonical expressions, notes


def _external_frame_from_json(raw: pl.DataFrame) -> pl.DataFrame:
    plan = _external_json_plan(
        _with_domain(raw, ("user", "account")), _names_places(raw), _verdict_keys(raw)
    )
    return _select_canonical(raw, *plan, CALL_SCHEMA, {DIRECTION_CASE: _direction_case()})


@functools.lru_cache(maxsize=16)
def _external_json_plan(domains: frozenset[str], places: bool, verdicts: frozenset[str]) -> Plan:
    """``verdicts``: the missedStatus spellings the payload carries (:func:`_verdict_keys`)."""
    account = _Account.of(EXTERNAL_JSON_FIELDS, domains, places)
    assert account is not None  # the fast and the slow path read every known field
    status = _lower("status")
    canonical_status = _respelled(status, spellings.STATUS_SPELLINGS)
    direction, direction_notes = _call_direction()
    duration = _whole_number("duration", pl.Int32())
    # The platform sends `duration` only on answered calls: a call not answered whose row has
    # none talked for 0 s (a present value that does not convert is left for validation).
    no_duration_no_talk = _text("duration").is_null() & (canonical_status != "success")
    # the documented spelling first; each cleaned (step 1), then read as a number
    present = [key for key in spellings.MISSED_STATUS_KEYS if key in verdicts]
    readings = [_whole(_text(key).cast(pl.Float64, strict=False), pl.Int16()) for key in present]
    missed_status = pl.coalesce(readings) if readings else _null(pl.Int16())
    exprs = {
        "uid": _text("uid"),
        "direction": direction,
        "status": canonical_status,
        "client": _text("client"),
        "diversion": _text("diversion"),
        "destination": pl.coalesce(pl.col("destination").str.to_lowercase(), account.destination),
        "user_login": pl.coalesce(_login("user", "user" in domains), account.login),
        "user_name": _text("user_name"),
        "group_name": pl.coalesce(
            _text("group_name"), pl.when(account.is_name).then(_text("account"))
        ),
        "started_at": _timestamp("start"),
        "wait_s": _whole_number("wait", pl.Int32()),
        "duration_s": pl.when(no_duration_no_talk).then(pl.lit(0)).otherwise(duration),
        "record_url": _text("record"),
        "rating": _whole_number("rating", pl.Int8()),
        "pbx_missed_status": missed_status,
        "source": pl.lit("api_json"),
    }
    # The account decides something only where `user` is empty.
    user_empty = _text("user").is_null()
    notes = {
        **direction_notes,
        "status_alias": canonical_status != status,
        "duration_absent_not_answered": no_duration_no_talk,
    }
    if present:
        notes["missed_status_unreadable"] = missed_status.is_null() & pl.any_horizontal(
            _text(key).is_not_null() for key in present
        )
    if places:
        notes["account_as_destination"] = (
            user_empty & _text("destination").is_null() & account.is_target
        )
        notes["account_as_group"] = user_empty & _text("group_name").is_null() & account.is_name
    if domains:
        notes["login_domain_stripped"] = _has_domain(_text("user")) | (
            user_empty & ~account.is_target & _has_domain(_text("account"))
        )
    return exprs, notes


# spellings.call_direction sees each of `direction` and `type` only as one of these cases,
# so the rule evaluated on one value of each case is the rule whole (a word that is no
# spelling of a direction stands for every such word).
_DIRECTION_CASES: Final = {"absent": None, "in": "in", "out": "out", "other": "sideways"}
DIRECTION_CASE: Final = "#direction-case"  # helper column: the pair of cases, as an index


def _direction_case() -> pl.Expr:
    """Which pair of cases (`direction`'s, `type`'s) a row is: an index into the verdicts of
    :func:`_direction_verdicts`, computed once per row from step 2's lower-cased fields."""
    codes = {case: code for code, case in enumerate(_DIRECTION_CASES)}

    def case_of(field: str) -> pl.Expr:
        lowered = _lower(field)
        chain: Any = pl.when(lowered.is_null()).then(pl.lit(codes["absent"], pl.UInt32))
        for direction in ("in", "out"):
            spelled = [s for s, c in spellings.DIRECTION_SPELLINGS.items() if c == direction]
            chain = chain.when(lowered.is_in(spelled)).then(pl.lit(codes[direction], pl.UInt32))
        return cast(pl.Expr, chain.otherwise(pl.lit(codes["other"], pl.UInt32)))

    return case_of("direction") * len(codes) + case_of("type")


def _direction_verdicts() -> list[spellings.CallDirection]:
    """spellings.call_direction for every pair of cases, in the order of _direction_case."""
    return [
        spellings.call_direction(_DIRECTION_CASES[said], _DIRECTION_CASES[typed])
        for said in _DIRECTION_CASES
        for typed in _DIRECTION_CASES
    ]


def _call_direction() -> tuple[pl.Expr, dict[str, pl.Expr]]:
    """:func:`spellings.call_direction` as polars expressions over the helper column
    DIRECTION_CASE: the canonical direction, and one boolean per note it can give. Where it
    decides nothing, the column keeps the delivered word (`direction`, else `type`,
    lower-cased) for validation to name in its reason."""
    verdicts = _direction_verdicts()
    case = pl.col(DIRECTION_CASE)
    decided = pl.lit(pl.Series([v.direction for v in verdicts], dtype=pl.String())).gather(case)
    notes = {
        note: case.is_in([i for i, v in enumerate(verdicts) if v.note == note])
        for note in sorted({v.note for v in verdicts if v.note is not None})
    }
    return pl.coalesce(decided, _lower("direction"), _lower("type")), notes


def _external_frame_from_csv(raw: pl.DataFrame) -> pl.DataFrame:
    domains = _with_domain(raw, ("account",))
    plan = _external_csv_plan(tuple(raw.columns), domains, _names_places(raw))
    return _select_canonical(raw, *plan, CALL_SCHEMA)


@functools.lru_cache(maxsize=16)
def _external_csv_plan(columns: tuple[str, ...], domains: frozenset[str], places: bool) -> Plan:
    account = _Account.of(columns, domains, places)
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
        "destination": _null(pl.String()) if account is None else account.destination,
        "user_login": _null(pl.String()) if account is None else account.login,
        "user_name": _null(pl.String()),
        "group_name": _null(pl.String())
        if account is None
        else pl.when(account.is_name).then(_text("account")),
        "started_at": _timestamp("start"),
        "wait_s": _whole_number("wait", pl.Int32()),
        "duration_s": duration,
        "record_url": _text("record"),
        "rating": _whole_number("rating", pl.Int8()) if "rating" in columns else _null(pl.Int8()),
        "pbx_missed_status": _null(pl.Int16()),  # the CSV layouts carry no such column
        "source": pl.lit("api_csv"),
    }
    notes: dict[str, pl.Expr] = {}
    if account is not None:
        if places:
            notes = {
                "account_as_destination": account.is_target,
                "account_as_group": account.is_name,
            }
        if domains:
            notes["login_domain_stripped"] = ~account.is_target & _has_domain(_text("account"))
    return exprs, notes


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
    plan = _internal_plan(tuple(raw.columns), _with_domain(raw, ("from", "to")))
    return _select_canonical(raw, *plan, INTERNAL_SCHEMA)


@functools.lru_cache(maxsize=16)
def _internal_plan(columns: tuple[str, ...], domains: frozenset[str]) -> Plan:
    exprs = {
        "uid": _text("uid"),
        "status": _internal_status(),
        "from_login": _login("from", "from" in domains),
        "to_login": _login("to", "to" in domains),
        "from_name": _text("from_name") if "from_name" in columns else _null(pl.String()),
        "to_name": _text("to_name") if "to_name" in columns else _null(pl.String()),
        "started_at": _timestamp("start"),
        "wait_s": _whole_number("wait", pl.Int32()),
        "duration_s": _whole_number("duration", pl.Int32()),
        "record_url": _text("record"),
    }
    notes = {}
    if domains:
        notes["login_domain_stripped"] = _has_domain(_text("from")) | _has_domain(_text("to"))
    return exprs, notes


# --- JSON ---------------------------------------------------------------------------------


def _read_json(kind: HistoryKind, body: bytes) -> RawPage:
    fields = EXTERNAL_JSON_FIELDS if kind == "external" else INTERNAL_JSON_FIELDS
    text = _without_bom(body)
    if is_empty_window(text):
        raw = pl.DataFrame(schema=dict.fromkeys(fields, pl.String()))
        return RawPage(kind, "json", raw, "json")
    raw, row_problems = _read_json_array(kind, text, fields)
    return RawPage(kind, "json", raw, "json", row_problems, body=text)


def is_empty_window(body: bytes) -> bool:
    """A JSON history body that means "no calls": nothing, ``null``, ``""``, ``{}`` (as the
    platform answers an empty window) or ``[]``. Cheap for any body: a long one is not."""
    text = _without_bom(body)
    first = _first_byte(text)
    if not first:
        return True
    if len(text) > 64 or first not in b'n"{[':
        return False
    try:
        return orjson.loads(text) in EMPTY_JSON_VALUES
    except orjson.JSONDecodeError:
        return False


def _read_json_array(
    kind: HistoryKind, text: bytes, fields: Sequence[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    if _first_byte(text) != b"[":
        raise UnknownShape(
            f"{kind} history JSON: expected an array of call objects, got {_describe(text)}"
        )
    try:
        # Fast path: every known field read as a string (numbers become their text), unknown
        # keys ignored. polars refuses nested values and non-object elements: those go slow.
        raw = pl.read_json(text, schema={name: pl.String() for name in fields})
    except pl.exceptions.PolarsError:
        return _read_json_slowly(kind, text, fields)
    return raw, _no_row_problems()


class _Finder:
    """Finds rows of a JSON array body again, as the objects they were, every key included.

    Decoding the whole body again costs as much as reading it (orjson builds a dict per row:
    ~5 ms for 5,000 rows), which every page with one rejected row would pay. Instead a row
    is looked up by its uid: the first ``"uid": <uid>`` after the previous row found, the
    object around it decoded alone, and accepted only if its text fields equal the row's
    raw values (so a uid repeated in another row or in another key cannot mislead it). The
    search starts a little before where the row would be if all rows were the same size
    (scanning a whole body costs ~0.5 ms; from the previous row when that finds nothing).
    Rows without a uid, or not found so, fall back to decoding the whole body, once."""

    WINDOW = 1024  # bytes decoded around a row at first; doubled while the object is longer
    ATTEMPTS = 32  # "{" tried backwards from a uid before giving up on it
    MARGIN_ROWS = 64  # how many average rows before its estimated place a row is looked for

    def __init__(self, body: bytes, raw: pl.DataFrame) -> None:
        self.body = body
        self.raw = raw
        self.position = 0
        self.items: list[object] | None = None
        self.row_bytes = len(body) / max(1, raw.height)

    def item(self, index: int) -> object:
        if self.items is None:
            known = self.raw.row(index, named=True)
            estimate = int((index - self.MARGIN_ROWS) * self.row_bytes)
            for start in dict.fromkeys((max(self.position, estimate), self.position)):
                found = self._by_uid(known, start)
                if found is not None:
                    return found
            self.items = _json_items(self.body)
        return self.items[index]

    def _by_uid(self, known: Mapping[str, str | None], start: int) -> object | None:
        uid = known.get("uid")
        if not uid:
            return None
        needles = [orjson.dumps(uid)]
        if _NUMBER.fullmatch(uid):
            needles.append(uid.encode())  # "uid": 4300000004
        for needle in needles:
            at = self.body.find(needle, start)
            while at != -1:
                if self._is_uid_value(at, needle):
                    found = self._object_around(at, known)
                    if found is not None:
                        return found
                at = self.body.find(needle, at + 1)
        return None

    def _is_uid_value(self, at: int, needle: bytes) -> bool:
        after = self.body[at + len(needle) : at + len(needle) + 1]
        if needle[:1] != b'"' and (after.isdigit() or after in (b".", b"e", b"E")):
            return False  # a longer number
        before = self.body[max(0, at - 64) : at].rstrip()
        return before.endswith(b":") and before[:-1].rstrip().endswith(b'"uid"')

    def _object_around(self, at: int, known: Mapping[str, str | None]) -> object | None:
        start = self.body.rfind(b"{", 0, at)
        for _ in range(self.ATTEMPTS):
            if start == -1:
                return None
            decoded = self._decode_at(start)
            if decoded is not None:
                value, end = decoded
                if end > at and isinstance(value, dict) and _same_row(value, known):
                    self.position = end
                    return value
            start = self.body.rfind(b"{", 0, start)
        return None

    def _decode_at(self, start: int) -> tuple[object, int] | None:
        """The JSON value starting at byte ``start`` and the byte just after it."""
        size = self.WINDOW
        while True:
            chunk = self.body[start : start + size]
            text = chunk.decode("utf-8", "replace")
            try:
                value, end = _DECODER.raw_decode(text)
            except json.JSONDecodeError:
                if start + size >= len(self.body):
                    return None
                size *= 2
                continue
            return value, start + len(text[:end].encode())


_DECODER = json.JSONDecoder()
_NUMBER = re.compile(r"-?\d+")


def _same_row(value: Mapping[str, object], known: Mapping[str, str | None]) -> bool:
    """The object's text and null fields read as the row did (numbers are left out: their
    text is the reader's)."""
    for name, text in known.items():
        got = value.get(name)
        if got is None:
            if text is not None:
                return False
        elif isinstance(got, str) and got != text:
            return False
    return True


def _json_items(text: bytes) -> list[object]:
    """The elements of a JSON array body already read once (so known to be valid)."""
    items = orjson.loads(text)
    assert isinstance(items, list)
    return items


def _read_json_slowly(
    kind: HistoryKind, text: bytes, fields: Sequence[str]
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


def _read_csv(kind: HistoryKind, body: bytes) -> RawPage:
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


def _read_csv_records(kind: HistoryKind, body: bytes) -> tuple[pl.DataFrame, pl.DataFrame]:
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


def _read_csv_slowly(kind: HistoryKind, text: bytes) -> tuple[pl.DataFrame, pl.DataFrame]:
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
