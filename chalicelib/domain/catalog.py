"""Service items (事项) and the eight publicities (办事八公开).

A :class:`ServiceItem` is one catalog entry in GB/T 39046-2020 service-item terms. Six of the
eight publicities belong to the item (legal basis, conditions, procedure, materials, promised
time limit, fees); the other two (handling staff, supervision phone) belong to the township
that offers the item (:class:`Township`). :func:`eight_publicities` composes them.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable

from .calendar import WORKING_DAYS
from .errors import FieldProblem

ITEM_PUBLICITY_KEYS = ("legal_basis", "conditions", "procedure", "materials", "time_limit", "fees")

#: zh-CN labels of the eight publicities, in the order the Huaihua rules list them.
EIGHT_PUBLICITY_LABELS = {
    "legal_basis": "办事依据",
    "conditions": "办事条件",
    "procedure": "办理程序",
    "materials": "申报材料",
    "time_limit": "承诺时限",
    "fees": "收费标准",
    "handling_staff": "经办人员",
    "supervision_phone": "监督电话",
}

CATEGORY_LABELS = {
    "social_assistance": "社会救助",
    "elderly_disability": "老龄与残疾人服务",
    "social_insurance": "城乡居民社会保险",
    "family_planning": "计划生育服务",
    "housing": "农村住房",
    "agriculture": "农业农村",
    "civil_affairs": "民政事务",
    "judicial": "司法服务",
    "petition": "信访",
    "other": "其他",
}

UNIT_LABELS = {WORKING_DAYS: "个工作日", "calendar_days": "日"}


#: A catalog record's serialised size limit: DynamoDB items stop at 400 KB, and a notice that
#: long helps no villager.
MAX_RECORD_BYTES = 100 * 1024


def item_problems(record: dict[str, Any]) -> list[FieldProblem]:
    """Rules a schema cannot express, for one catalog record already valid against
    ``schemas/catalog_item.json``: limits are whole numbers; the promised limit (承诺时限) may not
    exceed the legal one (服务承诺制: the promise is the shorter one; a legal limit of 0, 即办,
    admits only 0; across units a working day counts as 7/5 calendar days); no text holds a
    control character other than tab, line feed and carriage return (``CONTROL_CHARACTER``:
    they would reach the public notices); the record must fit :data:`MAX_RECORD_BYTES`."""
    problems = []
    limits = (record.get("publicities") or {}).get("time_limit") or {}
    legal, promised = limits.get("legal"), limits.get("promised")
    for name, limit in (("legal", legal), ("promised", promised)):
        if limit and type(limit["value"]) is not int:  # JSON Schema "integer" admits 5.0
            problems.append(FieldProblem(f"publicities.time_limit.{name}.value", "FIELD_TYPE", "应为整数"))
    if legal and promised and not problems and _in_calendar_days(promised) > _in_calendar_days(legal):
        problems.append(FieldProblem("publicities.time_limit.promised.value", "PROMISED_EXCEEDS_LEGAL",
                                     "承诺时限不得超过法定时限"))
    problems += [FieldProblem(path, "CONTROL_CHARACTER", "含有不可见的控制字符，请删除后重试")
                 for path in _paths_with_control_characters(record, "")]
    size = len(json.dumps(record, ensure_ascii=False).encode("utf-8"))
    if size > MAX_RECORD_BYTES:
        problems.append(FieldProblem("(row)", "ROW_TOO_LARGE", f"该事项内容过长（{size // 1024} KB，上限 100 KB）"))
    return problems


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _paths_with_control_characters(value: Any, path: str) -> list[str]:
    """Field paths (``publicities.conditions[1]``) of the strings in ``value`` holding a control
    character (C0 other than tab, LF, CR; DEL), in document order."""
    if isinstance(value, str):
        return [path or "(row)"] if _CONTROL.search(value) else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _paths_with_control_characters(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _paths_with_control_characters(v, f"{path}[{i}]")]
    return []


def _in_calendar_days(limit: dict[str, Any]) -> float:
    """A limit as calendar days, counting a working day as 7/5 of a day (holidays ignored):
    enough to compare a promise with a legal limit given in the other unit."""
    return limit["value"] * (7 / 5 if limit["unit"] == WORKING_DAYS else 1)


def content_hash(record: dict[str, Any]) -> str:
    """SHA-256 (hex) of a record's canonical JSON; the importer uses it to skip unchanged rows."""
    canonical = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TimeLimit:
    """A limit of ``value`` in ``unit`` (``working_days`` or ``calendar_days``); 0 = immediate."""

    value: int
    unit: str

    @property
    def immediate(self) -> bool:
        """A limit of 0: concluded on the spot (即办)."""
        return self.value == 0

    def text(self) -> str:
        """zh-CN text, e.g. ``即办`` or ``5个工作日``."""
        return "即办" if self.immediate else f"{self.value}{UNIT_LABELS.get(self.unit, self.unit)}"

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit, "text": self.text()}


@dataclass(frozen=True)
class _Record:
    """A catalog record kept as imported; ``code`` and ``name`` are common to all kinds."""

    record: dict[str, Any]

    @property
    def code(self) -> str:
        return self.record["code"]

    @property
    def name(self) -> str:
        return self.record["name"]


@dataclass(frozen=True)
class ServiceItem(_Record):
    """One service item. ``record`` is the imported dict (shape: ``schemas/catalog_item.json``);
    ``retired_at`` (UTC ISO) is set once an administrator retired it: it stays readable, and
    cases filed before keep it, but no new case may be filed for it (``docs/catalog.md``)."""

    retired_at: str | None = None

    @property
    def retired(self) -> bool:
        """True once the item was retired (no new cases)."""
        return bool(self.retired_at)

    @property
    def category(self) -> str:
        return self.record["category"]

    @property
    def exercising_level(self) -> str:
        return self.record["exercising_level"]

    @property
    def publicities(self) -> dict[str, Any]:
        return self.record.get("publicities") or {}

    @property
    def publicities_complete(self) -> bool:
        """True when all six item-level publicities are present and non-empty."""
        pub = self.publicities
        return all(bool(pub.get(k)) for k in ITEM_PUBLICITY_KEYS if k != "materials") and \
            "materials" in pub

    @property
    def promised_limit(self) -> TimeLimit | None:
        """The promised limit (承诺时限), or None for items imported without publicities."""
        limit = self.publicities.get("time_limit", {}).get("promised")
        return TimeLimit(limit["value"], limit["unit"]) if limit else None

    @property
    def legal_limit(self) -> TimeLimit | None:
        """The legal limit (法定时限), or None for items imported without publicities."""
        limit = self.publicities.get("time_limit", {}).get("legal")
        return TimeLimit(limit["value"], limit["unit"]) if limit else None

    @property
    def immediate(self) -> bool:
        """An immediate item (即办件): the promised limit is 0."""
        limit = self.promised_limit
        return bool(limit and limit.immediate)

    def summary(self) -> dict[str, Any]:
        """The list-view shape used by ``GET /v1/services``."""
        limit = self.promised_limit
        return {
            "code": self.code,
            "name": self.name,
            "category": self.category,
            "category_label": CATEGORY_LABELS.get(self.category, self.category),
            "department": self.record.get("department"),
            "item_type": self.record.get("item_type"),
            "exercising_level": self.exercising_level,
            "delegation": self.record.get("delegation"),
            "promised_time_limit": limit.to_dict() if limit else None,
            "publicities_complete": self.publicities_complete,
            "retired": self.retired,
        }


@dataclass(frozen=True)
class Township(_Record):
    """Per-township settings (shape: ``schemas/township.json``): the staff and phone publicities,
    office hours (Asia/Shanghai) and whether the values are marked samples."""

    @property
    def office_hours(self) -> tuple[dt.time, dt.time]:
        """``(open, close)`` in Asia/Shanghai local time; 08:30-17:30 when not set."""
        hours = self.record.get("office_hours") or {"open": "08:30", "close": "17:30"}
        return dt.time.fromisoformat(hours["open"]), dt.time.fromisoformat(hours["close"])

    @property
    def offers(self) -> dict[str, dict[str, Any]] | None:
        """``{item code: {"delegation"?, "staff"?}}``: the items this township offers, or None for
        settings that predate the list (they offer every item at intake, see :meth:`offers_item`)."""
        return self.record.get("offers")

    def offers_item(self, code: str) -> bool:
        """Whether a new case for item ``code`` may be filed here: listed in ``offers``, or any
        item while the settings carry no ``offers`` list (settings loaded before issue 7)."""
        offers = self.offers
        return offers is None or code in offers

    def delegation_for(self, item: ServiceItem) -> str | None:
        """How ``item`` is handled here: the township's ``offers[code].delegation`` (下放
        ``devolved`` / 委托 ``entrusted`` / ``own``), else the item's own ``delegation``."""
        return ((self.offers or {}).get(item.code) or {}).get("delegation") or item.record.get("delegation")

    def staff_for(self, item: ServiceItem) -> list[dict[str, str]]:
        """Handling staff for ``item``: the offer's own list (``offers[code].staff``), else the
        per-item list, else per-category, else the default."""
        staff = self.record.get("staff", {})
        return (((self.offers or {}).get(item.code) or {}).get("staff")
                or staff.get("items", {}).get(item.code)
                or staff.get("categories", {}).get(item.category)
                or staff.get("default", []))

    def market_days_text(self) -> str | None:
        """The market days (赶集日) as zh-CN text: ``农历逢三、六、九`` for ``{"calendar": "lunar",
        "days": [3, 6, 9]}``, ``每周二、五`` for ``{"calendar": "weekly", "days": [2, 5]}``, a
        legacy free-text value as it is, None when not set."""
        return market_days_text(self.record.get("market_days"))


def eight_publicities(item: ServiceItem, township: Township) -> dict[str, dict[str, Any]]:
    """Compose the eight publicities of ``item`` as offered by ``township``.

    Returns ``{key: {"label": zh-CN heading, "value": ...}}`` in the canonical order of
    :data:`EIGHT_PUBLICITY_LABELS`. Values marked ``sample`` come from sample township settings.
    """
    pub = item.publicities
    sample = bool(township.record.get("sample"))
    limits = pub.get("time_limit") or {}
    time_value = None
    if limits:
        promised, legal = item.promised_limit, item.legal_limit
        time_value = {"promised": promised.to_dict(), "legal": legal.to_dict(),
                      "text": f"承诺{promised.text()}（法定{legal.text()}）"}
    values = {
        "legal_basis": pub.get("legal_basis"),
        "conditions": pub.get("conditions"),
        "procedure": pub.get("procedure"),
        "materials": pub.get("materials"),
        "time_limit": time_value,
        "fees": pub.get("fees"),
        "handling_staff": {"staff": township.staff_for(item), "sample": sample},
        "supervision_phone": {"phone": township.record.get("supervision_phone"), "sample": sample},
    }
    return {key: {"label": label, "value": values[key]} for key, label in EIGHT_PUBLICITY_LABELS.items()}


# --- township settings rules (issue 7) ----------------------------------------------------------

_DIGITS = "〇一二三四五六七八九十"
_WEEKDAYS = "一二三四五六日"
#: A Chinese phone number: a landline with its area code (0745-1234567, 07451234567, an
#: extension -123), a mobile (13812345678) or the 12345 government hotline, optionally followed
#: by a note in brackets (``（样例号码）``).
PHONE = re.compile(r"^(0[0-9]{2,3}-?[0-9]{7,8}(-[0-9]{1,6})?|1[3-9][0-9]{9}|12345)\s*([（(][^（）()]{1,60}[）)])?$")


def market_days_text(value: Any) -> str | None:
    """zh-CN text of a ``market_days`` value (see :meth:`Township.market_days_text`). Lunar
    ``days`` are the last digit of the lunar day (逢三 = 初三、十三、廿三; 0 = 初十、二十、三十);
    weekly ``days`` are ISO weekdays (1 Monday .. 7 Sunday)."""
    if not value or isinstance(value, str):
        return value or None
    days = value.get("days") or []
    if value.get("calendar") == "lunar":
        text = "农历逢" + "、".join(_DIGITS[10] if d == 0 else _DIGITS[d] for d in days)
    else:
        text = "每周" + "、".join(_WEEKDAYS[d - 1] for d in days)
    return text + (f"（{value['note']}）" if value.get("note") else "")


def township_problems(record: dict[str, Any], known_items: Iterable[str]) -> list[FieldProblem]:
    """Rules the schema (``schemas/township.json``) cannot express, for settings already valid
    against it: the phones are Chinese phone numbers (:data:`PHONE`), office hours open before
    they close, every offered item exists in the catalog (``known_items``: the codes found),
    market days are not repeated. Returns every problem, each with its field."""
    problems = []
    for name in ("supervision_phone", "consultation_phone"):
        if record.get(name) is not None and not PHONE.fullmatch(record[name].strip()):
            problems.append(FieldProblem(name, "PHONE_FORMAT", "电话号码格式不正确（如 0745-1234567 或 13812345678）"))
    hours = record.get("office_hours")
    if hours and hours["open"] >= hours["close"]:
        problems.append(FieldProblem("office_hours.close", "OFFICE_HOURS_ORDER", "下班时间应晚于上班时间"))
    market = record.get("market_days")
    if isinstance(market, dict) and len(set(market["days"])) != len(market["days"]):
        problems.append(FieldProblem("market_days.days", "DUPLICATE_DAY", "赶集日有重复"))
    known = set(known_items)
    for code in sorted(record.get("offers") or {}):
        if code not in known:
            problems.append(FieldProblem(f"offers.{code}", "UNKNOWN_ITEM", "事项编码不存在"))
    return problems


def publicity_request(item_code: str, item_version: int, township_code: str, reason: str,
                      requested_at: dt.datetime) -> dict[str, Any]:
    """One message of the publicity queue (the contract of ``settings.PUBLICITY_QUEUE``): regenerate the
    eight-publicity notice of ``item_code`` at ``item_version`` as offered by ``township_code``
    because of ``reason`` (``item.created``, ``item.updated``, ``item.retired``,
    ``township.updated``, ``township.offer_withdrawn``, ``import``); ``requested_at`` UTC."""
    return {"item_code": item_code, "item_version": int(item_version), "township_code": township_code,
            "reason": reason,
            "requested_at": requested_at.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds")}
