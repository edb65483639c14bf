"""The warehouse's SQL: every table, view and macro, one file per relation named after it."""
