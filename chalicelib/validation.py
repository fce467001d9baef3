"""JSON Schema validation of request bodies and queue messages (files in ``schemas/``).

Validators are compiled once per container. Failures become
:class:`chalicelib.domain.errors.ValidationFailed` with one :class:`FieldProblem` per error,
each naming the field path (``applicant.id_number``, ``materials[0].required``).

The schemas reach the Lambda package through ``vendor/schemas -> ../schemas`` (Chalice copies
``vendor/`` to the zip root), so at run time they sit beside ``chalicelib/`` in both places.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import re

from jsonschema import Draft202012Validator, ValidationError, validators
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from .domain.errors import FieldProblem, ValidationFailed

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

_TYPE_LABELS = {"string": "文本", "integer": "整数", "number": "数字", "boolean": "是/否",
                "object": "对象", "array": "列表", "null": "空值"}


def _load(name: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def _registry() -> Registry:
    """Every schema file by its ``$id``, so ``{"$ref": "person.json"}`` resolves offline."""
    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        contents = _load(path.stem)
        # Without "$schema", jsonschema keeps our validator class (strict patterns) inside $refs
        # instead of switching to the stock class of that dialect.
        contents.pop("$schema", None)
        resources.append((contents["$id"], Resource(contents=contents, specification=DRAFT202012)))
    return Registry().with_resources(resources)


@functools.lru_cache(maxsize=None)
def _ecma_pattern(pattern: str) -> re.Pattern:
    """JSON Schema patterns are ECMA-262 regexes, where ``$`` matches only at the very end.
    Python's ``$`` also matches before a final newline ("431224195001011234\\n" would pass), so
    an unescaped ``$`` becomes ``\\Z``."""
    return re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))


def _pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not _ecma_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = validators.extend(Draft202012Validator, {"pattern": _pattern})


@functools.lru_cache(maxsize=None)
def validator(name: str):
    """The compiled validator for ``schemas/<name>.json``. Raises FileNotFoundError if absent."""
    schema = _load(name)
    Draft202012Validator.check_schema(schema)
    return _Validator(schema, registry=_registry())


MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 16


def _too_deep(value: Any, limit: int) -> bool:
    """True when containers nest more than ``limit`` levels (stops looking past the limit)."""
    if not isinstance(value, (dict, list)):
        return False
    if limit == 0:
        return True
    children = value.values() if isinstance(value, dict) else value
    return any(_too_deep(child, limit - 1) for child in children)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    """A JSON number as a float; ``1e999`` (which Python reads as infinity) is refused, since
    it cannot be written back as JSON."""
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return value


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose every key appears once: ``{"result": "rejected", "result": "approved"}``
    means what its reader decides (Python keeps the last, others the first), so it is refused."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def parse_json(raw: bytes | str | None, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Parse a request body or queue message as JSON, refusing what would break later steps.

    Raises ValidationFailed with one ``(body)`` problem: BODY_TOO_LARGE (over ``max_bytes``),
    BODY_NOT_JSON (not UTF-8 JSON), BODY_DUPLICATE_KEY (an object names a field twice),
    BODY_TOO_DEEP (nested deeper than 16 levels) or
    BODY_INVALID_TEXT (a lone UTF-16 surrogate such as ``"\\ud800"``, which cannot be stored).
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else (raw or b"")
    if len(data) > max_bytes:
        raise ValidationFailed("提交的内容过大", [FieldProblem("(body)", "BODY_TOO_LARGE",
                                                           f"内容不能超过 {max_bytes // 1024} KB")])
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_no_constant, parse_float=_finite_float,
                           object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise ValidationFailed("提交的内容中有重复的字段", [FieldProblem(
            "(body)", "BODY_DUPLICATE_KEY", f"字段“{str(exc)[:50]}”出现了不止一次")]) from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: also 5,000-digit ints
        raise ValidationFailed("请求内容不是有效的 JSON", [FieldProblem(
            "(body)", "BODY_NOT_JSON", "请求体必须是 UTF-8 编码的 JSON")]) from exc
    if _too_deep(value, max_depth):
        raise ValidationFailed("提交的内容层级过深", [FieldProblem("(body)", "BODY_TOO_DEEP", "嵌套层级过深")])
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationFailed("提交的内容含有无效字符", [FieldProblem(
            "(body)", "BODY_INVALID_TEXT", "含有无法识别的字符，请删除后重新提交")]) from exc
    return value


def _path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _join(base: str, name: str) -> str:
    return f"{base}.{name}" if base else name


def _problems(error) -> list[FieldProblem]:
    base = _path(error.absolute_path)
    kind = error.validator
    if kind == "required":
        missing = [p for p in error.validator_value if isinstance(error.instance, dict) and p not in error.instance]
        return [FieldProblem(_join(base, p), "FIELD_REQUIRED", "缺少必填项") for p in missing]
    if kind == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = [p for p in error.instance if p not in allowed] if isinstance(error.instance, dict) else []
        return [FieldProblem(_join(base, p), "FIELD_NOT_ALLOWED", "不允许的字段") for p in extra]
    if kind == "type":
        expected = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        label = "或".join(_TYPE_LABELS.get(t, t) for t in expected)
        return [FieldProblem(base or "(body)", "FIELD_TYPE", f"类型错误，应为{label}")]
    messages = {
        "enum": ("FIELD_ENUM", "取值不在允许范围内"),
        "const": ("FIELD_ENUM", "取值不在允许范围内"),
        "pattern": ("FIELD_FORMAT", "格式不正确"),
        "format": ("FIELD_FORMAT", "格式不正确"),
        "minLength": ("FIELD_TOO_SHORT", "内容过短"),
        "maxLength": ("FIELD_TOO_LONG", "内容过长"),
        "minimum": ("FIELD_RANGE", "数值过小"),
        "maximum": ("FIELD_RANGE", "数值过大"),
        "minItems": ("FIELD_TOO_SHORT", "至少需要填写一项"),
        "maxItems": ("FIELD_TOO_LONG", "项目过多"),
    }
    code, message = messages.get(kind, ("FIELD_INVALID", "内容不符合要求"))
    return [FieldProblem(base or "(body)", code, message)]


def validate(name: str, instance: Any) -> None:
    """Validate ``instance`` against ``schemas/<name>.json``.

    Raises :class:`ValidationFailed` listing every problem (sorted by field path).
    """
    errors = list(validator(name).iter_errors(instance))
    if errors:
        unique = {(p.path, p.code): p for e in errors for p in _problems(e)}
        raise ValidationFailed(details=sorted(unique.values(), key=lambda p: p.path))


def problems_of(name: str, instance: Any) -> list[FieldProblem]:
    """Like :func:`validate` but returns the problems instead of raising (importer dry runs)."""
    try:
        validate(name, instance)
    except ValidationFailed as exc:
        return exc.details
    return []
