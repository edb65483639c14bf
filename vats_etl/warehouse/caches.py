"""The analyst cache of inbound_outcomes (sql/view_caches.sql): the view serves
inbound_outcomes_cache only while view_caches matches kpi_settings and calls' fingerprint
(row count, latest loaded_at), so a stale cache is never wrong, only unused.

What each step computes is SQL (the table macros `outcomes_cache_*` of vats_etl.sql); this
module only decides which refresh is due and runs the steps in order, in one transaction.
"""

from __future__ import annotations

import duckdb

from vats_etl.warehouse.connection import transaction

# What the cache was computed with, besides calls: kpi_settings' parameters of the outcomes
# and what the ends of W depend on when they count working time (recovery_window_inputs).
_CACHE_PARAMS = (
    "short_abandon_s",
    "service_level_s",
    "recovery_window_s",
    "repeat_window_s",
    "recovery_window_basis",
    "recovery_window_inputs",
)
# Above this share of calls changed, recomputing everything is the cheaper refresh.
FULL_REFRESH_SHARE = 0.2
# What an incremental refresh stages (temporary tables of its connection, dropped at the end).
_STAGES = ("outcome_changes", "outcome_scope", "outcome_input")


def refresh_outcomes_cache(con: duckdb.DuckDBPyConnection) -> str | None:
    """Refresh inbound_outcomes_cache if stale, in one transaction: "incremental", "full", or
    None (it was fresh).

    Incremental when only calls changed (kpi_settings did not, nor — when W counts working
    time — the working hours, holidays or department history). A call's outcome depends
    only on its own client's calls: later ones up to max(W, repeat window) ahead and the next
    conversation at any distance (next_contact_at), earlier ones back a repeat window and back
    to the client's last conversation (lost contacts). So for each client a changed call
    belongs to, or belonged to (inbound_outcomes_inputs keeps the old client and start), the
    outcomes of its calls from `zone_start` (the earliest change, old or new start, minus
    max(W, repeat window), or the client's last conversation before the change if earlier)
    are recomputed from its calls since `context_start` (its last conversation a repeat
    window before zone_start). A daily load on a year of calls recomputes ~40,000 calls
    instead of two million (0.2–0.3 s, not 2.4).

    The cache never holds `outcome` (pending / lost depend on the data cut-off, which moves
    with every load): the view inbound_outcomes derives it when read.
    """
    existing = {row[0] for row in con.execute("select table_name from duckdb_tables()").fetchall()}
    if not {"view_caches", "inbound_outcomes_cache", "inbound_outcomes_inputs"} <= existing:
        return None
    params = ", ".join(f"ks.{p}" for p in _CACHE_PARAMS[:-1])
    with transaction(con):
        state = con.execute(
            f"select {params}, recovery_window_inputs(), (select count(*) from calls), "
            "(select max(loaded_at) from calls) from kpi_settings as ks limit 1"
        ).fetchall()[0]
        cached = con.execute(
            f"select {', '.join(_CACHE_PARAMS)}, calls_rows, calls_loaded_at "
            "from view_caches where relation = 'inbound_outcomes'"
        ).fetchall()
        if cached and tuple(cached[0]) == tuple(state):
            return None  # the cache is current: nothing written
        mode = "full"
        if cached and tuple(cached[0][: len(_CACHE_PARAMS)]) == tuple(state[: len(_CACHE_PARAMS)]):
            mode = _refresh_outcomes_incrementally(con, cached[0], state)
        if mode == "full":
            con.execute("delete from inbound_outcomes_cache")
            con.execute(
                "insert into inbound_outcomes_cache by name "
                "select * from outcomes_cache_rows(calls)"
            )
            con.execute("delete from inbound_outcomes_inputs")
            con.execute(
                "insert into inbound_outcomes_inputs select uid, client, started_at from calls"
            )
        con.execute("delete from view_caches where relation = 'inbound_outcomes'")
        con.execute(
            f"insert into view_caches ({', '.join(_CACHE_PARAMS)}, relation, calls_rows, "
            f"calls_loaded_at, refreshed_at) values ({'?, ' * len(_CACHE_PARAMS)}"
            "'inbound_outcomes', ?, ?, now())",
            list(state),
        )
    return mode


def _refresh_outcomes_incrementally(
    con: duckdb.DuckDBPyConnection, cached: tuple[object, ...], state: tuple[object, ...]
) -> str:
    """Recompute the outcomes a change of calls can touch; "full" when that is not safe
    (calls changed without their loaded_at moving, inputs not recorded) or not cheaper
    (much of calls changed)."""
    params = len(_CACHE_PARAMS)
    cached_rows, since = cached[params], cached[params + 1]
    calls_rows = state[params]
    assert isinstance(cached_rows, int) and isinstance(calls_rows, int)
    inputs = con.execute("select count(*) from inbound_outcomes_inputs").fetchall()[0][0]
    if since is None or inputs != cached_rows:
        return "full"
    con.execute(
        "create or replace temp table outcome_changes as select * from outcomes_cache_changes(?)",
        [since],
    )
    changed, new = con.execute(
        "select count(*), count(*) filter (where is_new) from outcome_changes"
    ).fetchall()[0]
    if new != calls_rows - cached_rows or changed > FULL_REFRESH_SHARE * calls_rows:
        return "full"
    con.execute(
        "create or replace temp table outcome_scope as "
        "select * from outcomes_cache_scope(outcome_changes)"
    )
    con.execute(
        "create or replace temp table outcome_input as "
        "select * from outcomes_cache_context(outcome_changes, outcome_scope)"
    )
    con.execute(
        "delete from inbound_outcomes_cache where uid in "
        "(select s.uid from outcomes_cache_stale(outcome_changes, outcome_scope) as s)"
    )
    con.execute(
        "insert into inbound_outcomes_cache by name "
        "select * from outcomes_cache_recomputed(outcome_input, outcome_changes, outcome_scope)"
    )
    con.execute(
        "delete from inbound_outcomes_inputs where uid in "
        "(select ch.uid from outcome_changes as ch)"
    )
    con.execute(
        "insert into inbound_outcomes_inputs select uid, client, started_at from outcome_changes"
    )
    for table in _STAGES:
        con.execute(f"drop table {table}")
    return "incremental"
