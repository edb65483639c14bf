"""The real-time webhook receiver (spec section 2): the PBX POSTs ``history``, ``event``,
``contact`` and ``rating`` to one endpoint; we answer within milliseconds and never lose an
accepted request.

Modules (request path, left to right)::

    serving.py   uvicorn (h11) for a public endpoint: connection budget, deadlines, limits
    server.py    Receiver: the ASGI app and /health; wires the rest; run() for the CLI,
                 serve_in_background() for tests
    payloads.py  body → validated, normalised Record (pure); token check; BadRequest
    spool.py     write-ahead spool: JSON-lines segments, group commit (one fsync per group)
    apply.py     spool → DuckDB in micro-batches (one short transaction each), idempotent,
                 retried with backoff whatever fails
    contacts.py  contacts table import and the in-memory contact index

See docs/webhook.md for the operator's view.
"""

from vats_etl.webhook.contacts import ContactIndex, import_contacts, phone_key
from vats_etl.webhook.payloads import BadRequest, Record
from vats_etl.webhook.server import (
    Receiver,
    ReceiverConfig,
    default_spool_dir,
    run,
    serve_in_background,
    summary,
)

__all__ = [
    "BadRequest",
    "ContactIndex",
    "Receiver",
    "ReceiverConfig",
    "Record",
    "default_spool_dir",
    "import_contacts",
    "phone_key",
    "run",
    "serve_in_background",
    "summary",
]
