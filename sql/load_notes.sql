create table if not exists load_notes (
    chunk_id varchar not null,
    note     varchar not null,
    rows     integer not null,
    primary key (chunk_id, note)
);

comment on table load_notes is 'What parsing normalised in each loaded chunk, beyond letter case and blanks: counts the data_quality view shows per day. Written in the transaction of the chunk''s load_runs row; notes with no row are not written.';
comment on column load_notes.chunk_id is 'load_runs.chunk_id of the chunk.';
comment on column load_notes.note is 'direction_from_type (direction read from the platform''s `type`), direction_type_disagree (`direction` and `type` name different directions: `direction` was kept), direction_unknown_from_type (`direction` held a word that is not a direction: `type` decided), status_alias (noanswer/no_answer → missed, not_available → notavailable, ...), login_domain_stripped (login@domain → login in user, account, from or to), start_other_format (start with an offset, fractional seconds, or no zone: read as UTC), account_as_destination (account named a target: ivr, fax, voicemail, ...), account_as_group (account named a department), duration_absent_not_answered (a call not answered came without duration, as the platform sends it: stored as 0), missed_status_unreadable (missedStatus held no whole number: stored as null, the call loaded).';
comment on column load_notes.rows is 'Rows of the chunk the note applies to.';
