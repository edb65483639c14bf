"""The commands of `vats-etl`, grouped by job. Each is thin: it reads its options, calls the
library or a flow, shows the result and returns its exit code (vats_etl.cli.failures)."""
