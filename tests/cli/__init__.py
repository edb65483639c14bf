"""The `vats-etl` command line: options, the accounts loop, help, the emulator entry."""
