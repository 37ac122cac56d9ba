"""Errors of the database layer. Every message names the database URL with its password masked."""

from __future__ import annotations


class DatabaseError(RuntimeError):
    """The database cannot be reached, or refused an operation for a reason outside the data.

    The lifecycle treats it as an infrastructure failure (retryable on the infrastructure budget).
    """


class IngestError(DatabaseError):
    """The results could not be ingested because of the data itself (a constraint it breaks, an
    output file that was not uploaded). Nothing was written. Not retryable."""
