"""One JSON shape (`wire.schema.ErrorBody`) for every error the API answers."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException

from server.errors import (
    BadGzipError,
    BadJsonError,
    ConflictError,
    DomainError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    TooLargeError,
    UnauthorizedError,
    UnavailableError,
    UnsupportedMediaTypeError,
)
from wire.schema import ErrorBody

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = "2"

STATUS_OF: dict[type[DomainError], int] = {
    BadGzipError: 400,
    BadJsonError: 400,
    UnauthorizedError: 401,
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    TooLargeError: 413,
    UnsupportedMediaTypeError: 415,
    InvalidInputError: 422,
    RateLimitedError: 429,
    UnavailableError: 503,
}
CODE_OF_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    503: "unavailable",
}


def error_response(
    status: int, code: str, detail: Any, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody(error=code, detail=detail).model_dump(mode="json")
    return JSONResponse(body, status_code=status, headers=headers)


def domain_error_response(err: DomainError) -> JSONResponse:
    status = STATUS_OF.get(type(err), 400)
    headers = None
    if isinstance(err, UnauthorizedError):
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(err, UnavailableError):
        headers = {"Retry-After": RETRY_AFTER_SECONDS}
    elif isinstance(err, RateLimitedError):
        headers = {"Retry-After": str(err.retry_after_s)}
    return error_response(status, err.code, err.detail, headers)


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = list(loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc)
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def install(app: FastAPI) -> None:
    async def on_domain_error(_request: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, DomainError)
        return domain_error_response(err)

    async def on_http_error(_request: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, HTTPException)
        code = CODE_OF_STATUS.get(err.status_code, "error")
        return error_response(err.status_code, code, err.detail, dict(err.headers or {}) or None)

    async def on_validation_error(_request: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, RequestValidationError)
        detail = [
            {"field": _field_path(tuple(e.get("loc", ()))), "message": e.get("msg", "")}
            for e in err.errors()[:20]
        ]
        return error_response(422, "invalid", detail)

    async def on_db_unavailable(_request: Request, err: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", err)
        return error_response(
            503, "unavailable", "database busy or unavailable", {"Retry-After": RETRY_AFTER_SECONDS}
        )

    async def on_db_data_error(_request: Request, err: Exception) -> JSONResponse:
        # The input rules (wire/validation.py) should have refused it; the database did.
        log.warning("database refused a value: %s", str(err).splitlines()[0][:300])
        return error_response(422, "invalid", "a value is out of range or not storable")

    async def on_db_integrity_error(_request: Request, err: Exception) -> JSONResponse:
        log.warning("database integrity: %s", str(err).splitlines()[0][:300])
        return error_response(409, "conflict", "conflicts with stored data or refers to none")

    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(DataError, on_db_data_error)
    app.add_exception_handler(IntegrityError, on_db_integrity_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(OperationalError, on_db_unavailable)
