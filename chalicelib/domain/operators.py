"""Third-party station operators (民生服务站运营方) and their stations: the rules an
administrator's registration must satisfy (``shared/docs/domain.md`` section 1: a company runs
livelihood service stations in villages, paid by the government, and files cases for villagers).

Pure Python: the checks return :class:`FieldProblem` lists; the use case raises them.
"""
from __future__ import annotations

import ipaddress
from typing import Any, Iterable
from urllib.parse import urlsplit

from .access import village_in_township
from .errors import FieldProblem

OPERATOR_ACTIVE = "active"
OPERATOR_SUSPENDED = "suspended"
KEY_ACTIVE = "active"
KEY_REVOKED = "revoked"

#: Hosts a plain-HTTP webhook may point at in the ``local`` stage (make run, tests).
LOCAL_HOSTS = ("127.0.0.1", "localhost")


def station_problems(stations: Iterable[dict[str, Any]]) -> list[FieldProblem]:
    """Problems with an operator's stations ``[{station_id, township_code, village_code}]``
    (shapes already checked by ``schemas/operator_registration.json``): a station id used
    twice, or a 12-digit village code that does not start with its 9-digit township code
    (GB/T 10114 statistical division codes nest)."""
    problems: list[FieldProblem] = []
    seen: set[str] = set()
    for i, station in enumerate(stations):
        if station["station_id"] in seen:
            problems.append(FieldProblem(f"stations[{i}].station_id", "DUPLICATE_STATION", "服务站编号重复"))
        seen.add(station["station_id"])
        if not village_in_township(station["village_code"], station["township_code"]):
            problems.append(FieldProblem(f"stations[{i}].village_code", "VILLAGE_NOT_IN_TOWNSHIP",
                                         "村代码不属于该乡镇（村代码前9位应为乡镇代码）"))
    return problems


def webhook_url_problem(url: str, stage: str) -> FieldProblem | None:
    """The problem with a webhook URL, or None. Webhooks carry case numbers and status to the
    operator, so they go over HTTPS to a public host; in the ``local`` stage plain HTTP to
    ``127.0.0.1`` or ``localhost`` is also allowed (a receiver on the developer's machine).

    Refused: another scheme, no host, user name or password in the URL, a fragment, and (outside
    ``local``) an IP literal that is loopback, private, link-local or otherwise not global.
    Host names are not resolved here; the delivery side must not follow redirects.
    """
    field = "webhook_url"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port  # raises ValueError for a port out of range
    except ValueError:
        return FieldProblem(field, "WEBHOOK_URL_INVALID", "回调地址格式不正确")
    if parts.username is not None or parts.password is not None or parts.fragment:
        return FieldProblem(field, "WEBHOOK_URL_INVALID", "回调地址不能包含用户名、密码或#片段")
    if not host:
        return FieldProblem(field, "WEBHOOK_URL_INVALID", "回调地址缺少主机名")
    local_ok = stage == "local" and host in LOCAL_HOSTS
    if parts.scheme == "http" and local_ok:
        return None
    if parts.scheme != "https":
        return FieldProblem(field, "WEBHOOK_URL_NOT_HTTPS", "回调地址必须使用 https")
    if local_ok:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" or host.endswith(".localhost"):
            return FieldProblem(field, "WEBHOOK_URL_NOT_PUBLIC", "回调地址必须是公网地址")
        return None
    if not address.is_global:
        return FieldProblem(field, "WEBHOOK_URL_NOT_PUBLIC", "回调地址必须是公网地址")
    return None


def station_of(operator: dict[str, Any], station_id: str) -> dict[str, Any] | None:
    """The operator's station ``station_id`` (``{station_id, township_code, village_code}``),
    or None when the station is not one of the operator's."""
    return next((s for s in operator.get("stations") or () if s["station_id"] == station_id), None)
