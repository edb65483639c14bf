"""The warehouse: which account it belongs to, what the disk under it does."""
