create table if not exists contacts (
    phone        varchar primary key,
    contact_name varchar,
    responsible  varchar,
    imported_at  timestamptz not null
);

comment on table contacts is 'Client directory the webhook receiver answers the PBX''s contact requests from (spec 2.3). Import it from CSV with `vats-etl contacts-import FILE.csv` (columns phone, contact_name, optional responsible).';
comment on column contacts.phone is 'Client phone, digits only; an 11-digit number starting with 8 is stored with 7 (89101234567 -> 79101234567), as the PBX reports numbers.';
comment on column contacts.contact_name is 'Name the PBX shows on the employee''s phone when this client calls.';
comment on column contacts.responsible is 'Employee (login, extension or direct number) the PBX routes this client to. When null, the receiver answers with the last employee who had a successful call with the number.';
comment on column contacts.imported_at is 'When this row was last imported (UTC).';
