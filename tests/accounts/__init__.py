"""Many accounts that nothing can mix up: the accounts file's checks, the paths it may name,
what one account's failure leaves of the others, the catalog that cannot write."""
