"""The built-in PBX emulator: a synthetic company on a virtual PBX with the CRM REST API.

Deterministic from a seed, it serves any day of any year without storage: directory
(users, departments, numbers, SIMs, blacklist) that changes week by week, external and
internal call history with callbacks and repeat calls, realistic representation quirks,
optional malformed rows, injected faults and spec section 2 webhooks. The ground truth of
every served row is available from Python (:meth:`Emulator.external_calls`). See
docs/emulator.md.
"""

from vats_etl.emulator.core import Emulator
from vats_etl.emulator.directory import Directory
from vats_etl.emulator.faults import Faults
from vats_etl.emulator.server import EmulatorServer, ServerStats
from vats_etl.emulator.webhooks import PushResult, WebhookPusher

__all__ = [
    "Directory",
    "Emulator",
    "EmulatorServer",
    "Faults",
    "PushResult",
    "ServerStats",
    "WebhookPusher",
]
