"""Domain errors: a stable code, a zh-CN message for the person, and the fields at fault.

The API layer maps each class to an HTTP status (see ``chalicelib/api/errors.py``);
queue consumers map them to "do not retry" (bad input) or "retry" (everything else).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class FieldProblem:
    """One problem with one input field.

    ``path`` is a JSON-pointer-like dotted path (``applicant.id_number``, ``materials[2].name``);
    ``code`` is stable; ``message`` is zh-CN.
    """

    path: str
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.path, "code": self.code, "message": self.message}


class DomainError(Exception):
    """Base class. ``code`` is a stable UPPER_SNAKE identifier clients may branch on."""

    code = "DOMAIN_ERROR"
    message = "请求无法处理"

    def __init__(self, message: str | None = None, details: list[FieldProblem] | None = None,
                 code: str | None = None, **context: Any) -> None:
        """``code`` refines the class's code (e.g. ``TOKEN_EXPIRED`` for an Unauthenticated)."""
        self.code = code or self.code
        self.message = message or self.message
        self.details = list(details or [])
        self.context = context
        super().__init__(f"{self.code}: {self.message}")

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message,
                                "details": [d.to_dict() for d in self.details]}
        body.update(self.context)
        return body


class ValidationFailed(DomainError):
    """The input does not have the required shape or values (HTTP 400)."""

    code = "VALIDATION_FAILED"
    message = "提交的内容不符合要求，请按提示修改后重新提交"


class NotFound(DomainError):
    """The thing asked for does not exist or is not visible to the caller (HTTP 404)."""

    code = "NOT_FOUND"
    message = "未找到相关记录"


def invalid_cursor() -> ValidationFailed:
    """The error for a pagination cursor that is not one we issued for this list (HTTP 400,
    field ``cursor``, code ``INVALID_CURSOR``), the same for every paginated endpoint."""
    return ValidationFailed("分页游标无效，请从第一页重新查询", [FieldProblem("cursor", "INVALID_CURSOR", "分页游标无效")])


class UnknownReference(DomainError):
    """A well-formed field names something that does not exist, e.g. an unknown item code (HTTP 422)."""

    code = "UNKNOWN_REFERENCE"
    message = "提交内容引用了不存在的事项或单位"


class UnprocessableContent(DomainError):
    """Well-formed input whose content breaks a rule, listed per field (HTTP 422): e.g. an
    administrator's service item or township settings (``ITEM_INVALID``, ``TOWNSHIP_SETTINGS_INVALID``)."""

    code = "CONTENT_INVALID"
    message = "提交的内容不符合规则，请按提示修改后重新提交"


class PreconditionFailed(DomainError):
    """``If-Match`` names a version that is no longer the current one (HTTP 412)."""

    code = "VERSION_MISMATCH"
    message = "内容已被他人更新，请刷新后重试"


class Conflict(DomainError):
    """The action conflicts with the current state (HTTP 409)."""

    code = "CONFLICT"
    message = "当前状态下不能执行该操作"


class ServiceUnavailable(DomainError):
    """A service we depend on (WeChat, a provincial system) cannot be reached now (HTTP 503);
    the same request may be retried."""

    code = "SERVICE_UNAVAILABLE"
    message = "服务暂时不可用，请稍后重试"


class IdempotencyKeyReused(DomainError):
    """An Idempotency-Key was sent again with a different request body (HTTP 422)."""

    code = "IDEMPOTENCY_KEY_REUSED"
    message = "该幂等键已用于另一份不同的申请，请更换幂等键"
