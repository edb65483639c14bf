create table if not exists warehouse_account (
    id         tinyint primary key default 1 check (id = 1),
    account    varchar not null,
    stamped_at timestamptz not null
);

comment on table warehouse_account is 'The account of the accounts file this warehouse belongs to: one row, written by the first writer of that account (no row: the single account of the VATS_ variables). A writer of another account, or one without an account, refuses to open a warehouse that names an account, so no account''s rows ever land in another''s warehouse.';
comment on column warehouse_account.id is 'Always 1 (keeps the table at one row).';
comment on column warehouse_account.account is 'The account''s name in the accounts file.';
comment on column warehouse_account.stamped_at is 'When its first writer wrote the row (UTC).';
