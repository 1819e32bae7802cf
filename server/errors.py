"""Domain errors; the API turns each into one HTTP status (`server/api/errors.py`)."""

from typing import Any


class DomainError(Exception):
    """A refusal with a machine-readable code and a detail for the caller."""

    code = "error"

    def __init__(self, message: str = "", detail: Any = None) -> None:
        super().__init__(message or self.code)
        self.detail = detail if detail is not None else (message or None)


class NotFoundError(DomainError):
    code = "not_found"


class ConflictError(DomainError):
    code = "conflict"


class UnauthorizedError(DomainError):
    code = "unauthorized"


class ForbiddenError(DomainError):
    code = "forbidden"


class BadGzipError(DomainError):
    code = "bad_gzip"


class BadJsonError(DomainError):
    code = "bad_json"


class InvalidInputError(DomainError):
    code = "invalid"


class TooLargeError(DomainError):
    code = "too_large"


class UnsupportedMediaTypeError(DomainError):
    code = "unsupported_media_type"


class UnavailableError(DomainError):
    """The database is locked or down; the caller should retry later."""

    code = "unavailable"


class RateLimitedError(DomainError):
    """Too many attempts from this caller; it may try again after `retry_after_s`."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
