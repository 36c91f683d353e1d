"""Errors that reach a person: one readable line and a hint, never a traceback by default."""

from __future__ import annotations


class GrunndataError(Exception):
    """An error with a message naming where (file, line, key, feature) and what rule failed."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ValidationFailed(GrunndataError):
    """A source failed validation; carries the full report so nothing is silently dropped."""

    def __init__(self, message: str, report: object, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.report = report


class StoreUnavailable(GrunndataError):
    """The store cannot be reached now (PostgreSQL down or restarting): 503, and the next request tries again."""


class InvalidQuery(GrunndataError):
    """A query the store refused for its values (a caller's mistake, 400), not a fault of the store."""
