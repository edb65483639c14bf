"""What the accounts' command-line tests share: the key their emulated PBX answers."""

API_KEY = "accounts-emulator-key-0123456789"
