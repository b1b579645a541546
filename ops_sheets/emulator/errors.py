"""Google-style API errors: ``{"error": {"code", "message", "status"}}``."""

from __future__ import annotations

from typing import Any

__all__ = ["STATUS_NAMES", "ApiError", "bad_request", "error_body"]

# google.rpc.Code names that Google puts in "status" for each HTTP code.
STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

DEFAULT_MESSAGES: dict[int, str] = {
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: (
        "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute"
        " per user' of service 'sheets.googleapis.com' for consumer 'project_number:0'."
    ),
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
    504: "The request timed out. Please try again.",
}


def error_body(code: int, message: str | None = None, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": code,
        "message": message if message is not None else DEFAULT_MESSAGES.get(code, "Error"),
        "status": STATUS_NAMES.get(code, "UNKNOWN"),
    }
    if details is not None:
        error["details"] = details
    return {"error": error}


class ApiError(Exception):
    """Raised anywhere in request handling; the server turns it into a response."""

    def __init__(self, code: int, message: str | None = None, details: Any = None) -> None:
        super().__init__(message or DEFAULT_MESSAGES.get(code, "Error"))
        self.code = code
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)
