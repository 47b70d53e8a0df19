"""Coral's errors: one tree, so callers catch what they can act on.

    CoralError                      anything Coral raises on purpose
    ├── ConfigError                 settings or command-line input that cannot work
    │   └── ServiceSpecError        a `--service NAME=SPEC` that does not parse
    ├── DataDirError                a data directory that cannot be created or written
    ├── AddressInUseError           a port that another process already holds
    ├── ColonyUnreachableError      no colony answers at the given address
    ├── ProtocolError               a malformed, oversized or incompatible message
    ├── StorageError                the colony's or agent's store failed
    │   └── StorageFullError        ... because its disk is full (retry once space returns)
    └── QueryError                  a query that cannot be answered as asked

Every error carries an optional `hint`: the next step a person can take. The CLI
prints `error: <message>` and, on the next line, the hint; never a traceback.
Third-party errors are translated at the adapter that meets them.
"""

from __future__ import annotations


class CoralError(Exception):
    """Base of every error Coral raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(CoralError):
    """Settings or command-line input that cannot work."""


class ServiceSpecError(ConfigError):
    """A service specification (`NAME=pid:N|port:N|name:PATTERN`) that does not parse."""


class DataDirError(CoralError):
    """A data directory that cannot be created, read or written."""


class AddressInUseError(CoralError):
    """A listening address already held by another process."""


class ColonyUnreachableError(CoralError):
    """No colony answers at the given address."""


class ProtocolError(CoralError):
    """A malformed, oversized or incompatible protocol message."""


class StorageError(CoralError):
    """The store (DuckDB on the colony, SQLite on the agent) failed."""


class StorageFullError(StorageError):
    """The store's disk is full: nothing was written; the same write can succeed later."""


class QueryError(CoralError):
    """A query that cannot be answered as asked (unknown service, bad range, ...)."""
