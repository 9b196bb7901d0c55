"""Named, append-only schema migrations of the run index (:mod:`agents.index`).

Each ``NNNN_name.sql`` file is applied once, in name order, in its own transaction, and
recorded in the ``migrations`` table. A released migration is never edited: a change to
the schema is a new file. The SQL is the common subset of SQLite and PostgreSQL (TEXT,
INTEGER, DOUBLE PRECISION; timestamps are Unix seconds; JSON is TEXT).
"""
