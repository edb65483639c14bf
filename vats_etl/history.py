"""The two kinds of call history and the two formats the PBX serves them in, named once for
every stage that speaks of them: the API client and the emulator (fetching and serving),
the parser and the validation (reading), the pipeline, the flows and the command line
(planning and loading).

    kind      calls                     endpoints                                 table
    external  with the outside world    history/json, history/csv                 calls
    internal  between employees         history/inner/json, history/inner/csv     internal_calls

The same words name a history page's folder in the raw archive and ``load_runs.kind``.
"""

from __future__ import annotations

from typing import Final, Literal

HistoryKind = Literal["external", "internal"]
HistoryFormat = Literal["json", "csv"]

HISTORY_KINDS: Final[tuple[HistoryKind, ...]] = ("external", "internal")
