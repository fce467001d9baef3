"""HTTP shaping shared by every blueprint: error bodies, JSON body parsing, header checks.

Errors are ``{"code": STABLE_CODE, "message": zh-CN, "details": [{"field", "code", "message"}]}``
(design.md). Status per domain error class below.
"""
from __future__ import annotations

import functools
import json
import re
from typing import Any, Callable

from chalice import Response

from ..domain.access import Forbidden, TooManyRequests, Unauthenticated
from ..domain.errors import (Conflict, DomainError, FieldProblem, IdempotencyKeyReused, NotFound, PreconditionFailed,
                             ServiceUnavailable, UnknownReference, UnprocessableContent, ValidationFailed)
from ..logs import logger

_STATUS = {ValidationFailed: 400, Unauthenticated: 401, Forbidden: 403, NotFound: 404, Conflict: 409,
           UnknownReference: 422, IdempotencyKeyReused: 422, UnprocessableContent: 422, PreconditionFailed: 412,
           TooManyRequests: 429, ServiceUnavailable: 503}
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")
#: Content types a JSON route accepts, so that a wrong one gets our 400 BODY_NOT_JSON (with
#: the field) rather than a bare 415.
BODY_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded",
              "application/octet-stream", "multipart/form-data"]
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response in UTF-8: Chinese text readable as is, not as escape sequences."""
    return Response(body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
                    status_code=status, headers={**JSON_HEADERS, **(headers or {})})


def error_response(error: DomainError) -> Response:
    """The JSON error response for a domain error."""
    status = next((s for cls, s in _STATUS.items() if isinstance(error, cls)), 400)
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="bianmin"'
    if status in (429, 503) and error.context.get("retry_after"):
        headers["Retry-After"] = str(error.context["retry_after"])
    return json_response(error.to_dict(), status, headers)


def api_view(view: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a route: a returned dict becomes a UTF-8 JSON response; domain errors become their
    JSON error response; anything else is logged and answered 500 INTERNAL_ERROR without
    internals."""
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = view(*args, **kwargs)
        except DomainError as error:
            return error_response(error)
        except Exception:
            logger.exception("unhandled error in %s", view.__name__)
            return json_response({"code": "INTERNAL_ERROR", "message": "系统繁忙，请稍后重试", "details": []}, 500)
        return result if isinstance(result, Response) else json_response(result)
    return wrapper


def json_body(request) -> Any:
    """The request body parsed as JSON (see :func:`chalicelib.validation.parse_json`; imported
    here, not at the top, so the token authorizer's cold start does not load jsonschema)."""
    from ..validation import parse_json
    return parse_json(request.raw_body)


def idempotency_key(request) -> str | None:
    """The ``Idempotency-Key`` header (8-128 of ``A-Z a-z 0-9 _ . : -``), or None if absent.
    Raises ValidationFailed for a malformed key."""
    key = (request.headers or {}).get("idempotency-key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise ValidationFailed("幂等键格式不正确", [FieldProblem(
            "Idempotency-Key", "FIELD_FORMAT", "应为8-128位字母、数字或 _ . : -")])
    return key


def query_params(request) -> dict[str, str]:
    """Query string parameters as a plain dict (empty when none)."""
    return dict(request.query_params or {})
