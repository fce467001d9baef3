"""Application materials (issue 6 items 1-3, 7; ``docs/materials.md``): upload slots straight to
S3, verification of what arrives (the S3 -> SQS consumer), the window's check of the original,
the checklist and downloads.

Who may do what (``docs/access.md``) is decided with the lifecycle's own helpers: the case is
visible (``intake._may_read``: 404 otherwise, the body of a missing case) and the caller holds a
capacity on it (``lifecycle._capacities``: the applicant, their consenting agent through
``domain.access.agent_may_act``, the township's window clerks). Bytes never pass through Lambda.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any, Callable, Mapping

from .. import settings
from .. import validation as schemas
from ..domain import lifecycle as lifecycle_rules
from ..domain import materials as rules
from ..domain.access import ROLE_LABELS, VILLAGE_AGENT, VILLAGER, WINDOW_CLERK, Origin, Principal
from ..domain.cases import HistoryEntry, utc_iso
from ..domain.catalog import content_hash
from ..domain.errors import Conflict, IdempotencyKeyReused, NotFound
from ..logs import logger
from . import audit
from .lifecycle import _capacities, _visible_case
from .ports import Clock, StaleCase, utcnow

#: The capacities that may upload (ask for a slot): the applicant and their consenting agent.
UPLOADERS = (VILLAGER, VILLAGE_AGENT)


def _closed(case: Mapping[str, Any]) -> Conflict:
    return Conflict("办件已办结或已终止，不能再上传或核验材料", code="CASE_CLOSED", status=case["status"],
                    status_label=lifecycle_rules.STATUS_LABELS.get(case["status"], case["status"]))


def _checklist(case: Mapping[str, Any], catalog) -> list[rules.MaterialSpec]:
    """The materials list of the item version the case was filed under (``item_version``)."""
    found, _ = catalog.get_offer_at(case["item_code"], case.get("item_version"), case["township_code"])
    materials = found[0].publicities.get("materials") if found else None
    return rules.checklist(materials, max_bytes=settings.MATERIAL_MAX_BYTES)


def _uploader(principal: Principal, held: list[str]) -> str:
    """The capacity an upload is made in (the applicant before the agent). Raises
    NotYourAction (403 ``ACTION_NOT_ALLOWED``) for everyone else who sees the case."""
    for capacity in UPLOADERS:
        if capacity in held:
            return capacity
    raise lifecycle_rules.NotYourAction("只有申请人本人或经授权的村代办员可以上传材料")


# --- 1. upload slots -------------------------------------------------------------------------

def request_slot(principal: Principal, origin: Origin, case_no: str, code: str, body: Any, *,
                 idempotency_key: str | None, cases, catalog, identity, materials, objects, audit_log,
                 now: Clock = utcnow) -> tuple[dict[str, Any], bool]:
    """``POST /v1/cases/{case_no}/materials/{code}/slots`` (body ``schemas/material_slot.json``):
    a presigned POST for exactly one key ``materials/<case_no>/<code>/<slot_id>``, bounded to
    1 byte .. the material's ``max_bytes`` and the declared ``content_type`` (PDF, JPEG, PNG),
    valid ``settings.MATERIAL_SLOT_SECONDS``. Returns ``(slot view, created)``.

    Without ``idempotency_key`` every request is a new slot; with one, a retry answers the same
    slot (with a fresh signature and the same expiry) and the same key for another material is
    ``IDEMPOTENCY_KEY_REUSED`` (422).

    Raises NotFound (case not visible; ``MATERIAL_NOT_ON_CHECKLIST``), NotYourAction (403: a
    clerk, supervisor...), Conflict ``CASE_CLOSED`` (409: a final state), ValidationFailed.
    The slot and its audit record are written in one transaction (2 AWS calls in all: the
    case read and the write; signing is local)."""
    schemas.validate("material_slot", body)
    moment = now()
    case, _, consents = _visible_case(principal, case_no, cases, identity, moment)
    role = _uploader(principal, _capacities(principal, case, consents, moment))
    if case["status"] in lifecycle_rules.FINAL_STATES:
        raise _closed(case)
    spec = rules.find(_checklist(case, catalog), code)
    request_hash = content_hash({"case_no": case_no, "code": spec.code, "body": body})
    if idempotency_key:
        slot_id = hashlib.sha256(f"{principal.subject}#{idempotency_key}".encode()).hexdigest()[:16]
        existing = materials.slot(case_no, slot_id)
        if existing:
            if existing.get("request_hash") != request_hash:
                raise IdempotencyKeyReused("该幂等键已用于另一次上传申请，请更换幂等键")
            return _slot_view(existing, objects, moment), False
    else:
        slot_id = secrets.token_hex(8)
    slot = {"slot_id": slot_id, "case_no": case_no, "code": spec.code, "name": spec.name,
            "key": rules.object_key(case_no, spec.code, slot_id), "content_type": body["content_type"],
            "content_types": list(spec.content_types), "max_bytes": spec.max_bytes,
            "created_at": utc_iso(moment),
            "valid_until": utc_iso(moment + dt.timedelta(seconds=settings.MATERIAL_SLOT_SECONDS)),
            "requested_by": principal.subject, "role": role, "request_hash": request_hash, "status": rules.SLOT_OPEN}
    if role == VILLAGE_AGENT:  # what the agent's capacity is re-checked with when the file arrives
        slot["villages"] = list(principal.villages)
    trail = audit.entry(principal, origin, "material.slot", audit.case_target(case_no),
                        {"code": spec.code, "slot_id": slot_id, "role": role}, moment)
    from ..adapters.material_repo import SlotTaken
    try:
        materials.create_slot(case_no, slot, trail)
    except SlotTaken:  # a concurrent twin with the same key won: answer its slot
        existing = materials.slot(case_no, slot_id)
        if not existing or existing.get("request_hash") != request_hash:
            raise IdempotencyKeyReused("该幂等键已用于另一次上传申请，请更换幂等键") from None
        return _slot_view(existing, objects, moment), False
    return _slot_view(slot, objects, moment), True


def _slot_view(slot: Mapping[str, Any], objects, at: dt.datetime) -> dict[str, Any]:
    """The API shape of a slot; ``upload`` (``{url, fields}``: POST them as multipart form
    fields with the file last, named ``file``) only while it is open and not expired."""
    left = int((dt.datetime.fromisoformat(slot["valid_until"]) - at).total_seconds())
    view = {"slot_id": slot["slot_id"], "case_no": slot["case_no"],
            "material": {"code": slot["code"], "name": slot["name"]}, "key": slot["key"],
            "status": slot["status"], "content_type": slot["content_type"], "max_bytes": int(slot["max_bytes"]),
            "expires_at": slot["valid_until"], "rejection": slot.get("rejection"),
            "material_version": slot.get("material_version"), "upload": None}
    if slot["status"] == rules.SLOT_OPEN and left > 0:
        view["upload"] = objects.presigned_post(slot["key"], content_types=[slot["content_type"]], min_bytes=1,
                                                max_bytes=int(slot["max_bytes"]), expires_seconds=left)
    return view


# --- 2. an upload arrives (S3 -> SQS -> consumer) -----------------------------------------------

def consume_upload(record: Mapping[str, Any], *, cases, materials, objects, inspect: Callable[[bytes, str], bool],
                   identity=None, now: Clock = utcnow) -> str:
    """Handle one S3 event record (``ObjectCreated:*`` under ``materials/``). Returns the
    outcome: ``accepted`` (a new version of the material, trust level C, with its history entry),
    ``rejected`` (the reason recorded on the slot and as the material's last rejection; the
    object version deleted), ``already`` (a redelivery of an event already handled),
    ``refused_used_slot`` (a second object for a slot already used or rejected: that object
    version is deleted; the recorded version never changes) or ``ignored`` (not an upload
    of ours: another event, a key no slot makes, an unknown slot or case).

    Checks, in order: the slot, the event time against the slot's expiry (``eventTime``: without
    an offset it is UTC; missing or unparsable, the time of arrival), the case's state, for a
    slot a village agent requested that the agent still may act for the applicant at the event
    time (``_agent_still_acts``: a consent revoked or expired since is ``CONSENT_REVOKED``;
    ``identity`` reads the consents and is needed for such slots only), the
    size; then reads the object (at most the limit + 1 bytes), checks the real type by its magic
    bytes, that it opens (``inspect``: False is ``FILE_UNREADABLE``; it may raise its own
    ``UploadRefused``, e.g. ``FILE_ENCRYPTED``), and computes its SHA-256. Raises StaleCase only when the
    case kept changing (the message is retried); AWS errors propagate (retried)."""
    if not str(record.get("eventName", "")).startswith("ObjectCreated"):
        return "ignored"
    s3 = record.get("s3") or {}
    raw_key = (s3.get("object") or {}).get("key", "")
    where = rules.parse_key(raw_key)
    if where is None:
        logger.warning("upload under an unknown key ignored", extra={"key": raw_key[:300]})
        return "ignored"
    slot = materials.slot(where["case_no"], where["slot_id"])
    if slot is None or slot["code"] != where["code"]:
        logger.warning("upload for an unknown slot ignored", extra={"slot_id": where["slot_id"]})
        return "ignored"
    key = slot["key"]
    version_id = s3["object"].get("versionId")
    if not version_id:  # moto's notifications carry no versionId (AWS's do): the latest version
        head = objects.head(key)
        version_id = (head or {}).get("VersionId")
        if not version_id:
            return "ignored"
    if slot["status"] != rules.SLOT_OPEN:
        return _not_open(slot, version_id, objects)
    case = cases.get_case(where["case_no"])
    if case is None:
        return "ignored"
    event_time, parsed = rules.event_time(record.get("eventTime"), now())
    if not parsed:
        logger.warning("upload event with an unreadable eventTime: the time of arrival is used",
                       extra={"slot_id": slot["slot_id"]})
    size = int(s3["object"].get("size") or 0)
    limit = int(slot["max_bytes"])
    try:
        rules.check_arrival(slot, size=size, event_time=event_time,
                            case_status_final=case["status"] in lifecycle_rules.FINAL_STATES)
        if slot["role"] == VILLAGE_AGENT and not _agent_still_acts(slot, case, identity, event_time):
            raise rules.rejection("CONSENT_REVOKED")
        data = objects.get_bytes(key, version_id, max_bytes=limit + 1)
        real_type = rules.check_content(data, slot["content_types"], limit)
        if not inspect(data, real_type):
            raise rules.rejection("FILE_UNREADABLE")
    except rules.UploadRefused as refused:
        return _reject(slot, version_id, refused, materials, objects, now())
    digest = hashlib.sha256(data).hexdigest()
    return _accept(slot, case, version_id, data, real_type, digest, cases=cases, materials=materials, objects=objects,
                   now=now)


def _agent_still_acts(slot: Mapping[str, Any], case: Mapping[str, Any], identity, at: dt.datetime) -> bool:
    """Whether the village agent who requested ``slot`` still holds the agent's capacity on the
    case at ``at``: the same check as when the slot was issued (``lifecycle._capacities``, i.e.
    ``domain.access.agent_may_act``) with the applicant's consents as they are now and the
    agent's villages as the slot recorded them (a slot from before they were recorded: the
    case's village, whose check the slot already passed)."""
    villages = tuple(slot.get("villages") or (case.get("village_code"),))
    agent = Principal(subject=slot["requested_by"], roles=frozenset({VILLAGE_AGENT}), villages=villages)
    consents = identity.consents_of(case.get("applicant_key"))
    return VILLAGE_AGENT in _capacities(agent, case, consents, at)


def _not_open(slot: Mapping[str, Any], version_id: str, objects) -> str:
    """An event for a slot already decided: the same object again (SQS redelivery) changes
    nothing; another object is a second upload through a used slot, deleted (only here, never
    through the API) so it can never be taken for the recorded one."""
    if version_id in (slot.get("version_id"), (slot.get("rejection") or {}).get("version_id")):
        return "already"
    logger.warning("second upload to a used slot refused", extra={"slot_id": slot["slot_id"],
                                                                  "code": "SLOT_ALREADY_USED"})
    objects.delete_version(slot["key"], version_id)
    return "refused_used_slot"


def _reject(slot: Mapping[str, Any], version_id: str, refused: rules.UploadRefused, materials, objects,
            at: dt.datetime) -> str:
    from ..adapters.material_repo import SlotMoved
    rejection = {"code": refused.code, "message": refused.message, "at": utc_iso(at), "version_id": version_id,
                 "slot_id": slot["slot_id"]}
    for _ in range(3):
        head = materials.head(slot["case_no"], slot["code"])
        try:
            materials.reject_upload(slot["case_no"], slot, head, rejection, slot["name"])
            break
        except SlotMoved:
            return _not_open(materials.slot(slot["case_no"], slot["slot_id"]) or slot, version_id, objects)
        except StaleCase:
            continue
    else:
        raise StaleCase(slot["case_no"])
    logger.info("material upload rejected", extra={"slot_id": slot["slot_id"], "code": refused.code})
    objects.delete_version(slot["key"], version_id)
    return "rejected"


def _accept(slot: Mapping[str, Any], case: dict[str, Any], version_id: str, data: bytes, content_type: str,
            digest: str, *, cases, materials, objects, now: Clock) -> str:
    from ..adapters.material_repo import SlotMoved
    uploader = Principal(subject=slot["requested_by"], roles=frozenset({slot["role"]}))
    for attempt in range(5):
        moment = now()
        if attempt:  # the case moved on meanwhile: it may have been concluded or withdrawn
            case = cases.get_case(slot["case_no"]) or case
            if case["status"] in lifecycle_rules.FINAL_STATES:
                return _reject(slot, version_id, rules.rejection("CASE_CLOSED"), materials, objects, moment)
        head = materials.head(slot["case_no"], slot["code"])
        previous = int((head or {}).get("current_version") or 0)
        number = previous + 1
        record = {"code": slot["code"], "name": slot["name"], "version": number, "trust_level": rules.TRUST_C,
                  "key": slot["key"], "version_id": version_id, "size": len(data), "content_type": content_type,
                  "sha256": digest, "slot_id": slot["slot_id"], "uploaded_at": utc_iso(moment),
                  "uploaded_by": {"subject": slot["requested_by"], "role": slot["role"],
                                  "role_label": ROLE_LABELS.get(slot["role"], slot["role"])},
                  "replaces": previous or None}
        replaced = f"，替换第{previous}版" if previous else ""
        entry = HistoryEntry(
            seq=int(case["history_count"]) + 1, at=moment, actor=slot["requested_by"], role=slot["role"],
            step_name="上传材料", action="other",
            opinion=f"{slot['name']}：第{number}版{replaced}（可信度C：申请人上传，原件待核验）",
            data={"material_code": slot["code"], "version": number, "replaces": previous or None,
                  "trust_level": rules.TRUST_C, "sha256": digest, "size": len(data), "content_type": content_type})
        summary = {**(case.get("materials") or {}), slot["code"]: {"version": number, "trust_level": rules.TRUST_C}}
        trail = audit.entry(uploader, Origin(channel="s3_upload"), "material.upload", audit.case_target(case["case_no"]),
                            {"code": slot["code"], "version": number, "sha256": digest, "size": len(data)}, moment)
        try:
            materials.accept_upload(case, slot, head, record, entry, summary, trail)
        except StaleCase:
            continue
        except SlotMoved:
            return _not_open(materials.slot(slot["case_no"], slot["slot_id"]) or slot, version_id, _NoDelete())
        logger.info("material upload accepted", extra={"case_no": case["case_no"], "material_code": slot["code"],
                                                       "material_version": number})
        return "accepted"
    raise StaleCase(case["case_no"])


class _NoDelete:
    """An object store that deletes nothing: after losing a race for its own slot, the object
    a concurrent delivery just recorded must not be removed."""

    @staticmethod
    def delete_version(key: str, version_id: str) -> None:
        return None


# --- 3. the checklist, downloads and the window's check --------------------------------------

def _material_view(spec: rules.MaterialSpec | None, head: Mapping[str, Any] | None,
                   versions: list[dict[str, Any]], code: str) -> dict[str, Any]:
    status = rules.status_of(head)
    current = int((head or {}).get("current_version") or 0)
    return {
        "code": code, "index": spec.index if spec else None,
        "name": spec.name if spec else (head or {}).get("name"), "required": spec.required if spec else None,
        "on_checklist": spec is not None, "status": status, "status_label": rules.STATUS_LABELS[status],
        "trust_level": (head or {}).get("trust_level") if current else None,
        "trust_label": rules.TRUST_LABELS.get((head or {}).get("trust_level") or "") if current else None,
        "current_version": current or None,
        "content_types": list(spec.content_types) if spec else None, "max_bytes": spec.max_bytes if spec else None,
        "last_rejection": {k: v for k, v in ((head or {}).get("last_rejection") or {}).items()
                           if k in ("code", "message", "at")} or None,
        "versions": [{k: v.get(k) for k in ("version", "trust_level", "sha256", "size", "content_type", "uploaded_at",
                                            "uploaded_by", "replaces", "checked")} for v in versions],
    }


def list_materials(principal: Principal, origin: Origin, case_no: str, *, cases, catalog, identity, materials,
                   audit_log, now: Clock = utcnow) -> dict[str, Any]:
    """``GET /v1/cases/{case_no}/materials``: the case's checklist, each material with its status
    (missing, uploaded C, checked B, rejected with the reason), versions and SHA-256; a material
    uploaded under an entry the catalog has since dropped is listed too (``on_checklist``
    false). For whoever may see the case (404 otherwise); audited before it is returned."""
    moment = now()
    case, _, _ = _visible_case(principal, case_no, cases, identity, moment)
    heads, versions = materials.materials(case_no)
    specs = _checklist(case, catalog)
    listed = [_material_view(s, heads.get(s.code), versions.get(s.code, []), s.code) for s in specs]
    listed += [_material_view(None, heads[c], versions.get(c, []), c) for c in sorted(set(heads) - {s.code for s in specs})]
    audit.record(audit_log, principal, origin, "material.list", audit.case_target(case_no), None, moment)
    return {"case_no": case_no, "materials": listed,
            "complete": all(m["status"] in (rules.UPLOADED, rules.CHECKED) for m in listed if m["required"])}


def _find_code(case: Mapping[str, Any], catalog, heads: Mapping[str, Any], code: str) -> tuple[str, Any]:
    """``(code, spec or None)``: a checklist entry, or a material uploaded under an entry the
    catalog has since dropped. Raises NotFound ``MATERIAL_NOT_ON_CHECKLIST``."""
    try:
        spec = rules.find(_checklist(case, catalog), code)
        return spec.code, spec
    except NotFound:
        if code in heads:
            return code, None
        raise


def download(principal: Principal, origin: Origin, case_no: str, code: str, version: str | None, *, cases, catalog,
             identity, materials, objects, audit_log, now: Clock = utcnow) -> dict[str, Any]:
    """``GET /v1/cases/{case_no}/materials/{code}?version=``: a presigned GET (valid
    ``settings.MATERIAL_DOWNLOAD_SECONDS``) of the current version, or of an older one (old
    versions stay readable), for whoever may see the case. Raises NotFound (case not visible;
    ``MATERIAL_NOT_ON_CHECKLIST``; ``MATERIAL_NOT_UPLOADED``; ``MATERIAL_VERSION_NOT_FOUND``),
    ValidationFailed (a version that is not a number). The read is audited first."""
    from .lifecycle import _number
    moment = now()
    case, _, _ = _visible_case(principal, case_no, cases, identity, moment)
    heads, versions = materials.materials(case_no)
    code, _ = _find_code(case, catalog, heads, code)
    head = heads.get(code)
    current = int((head or {}).get("current_version") or 0)
    if current == 0:
        raise NotFound("该材料尚未上传", code="MATERIAL_NOT_UPLOADED")
    wanted = current
    if version is not None:
        wanted = _number(version)
        if wanted is None:
            from ..domain.errors import FieldProblem, ValidationFailed
            raise ValidationFailed(details=[FieldProblem("version", "FIELD_FORMAT", "版本号应为正整数")])
    found = next((v for v in versions.get(code, []) if int(v["version"]) == wanted), None)
    if found is None:
        raise NotFound("未找到该材料的这一版本", code="MATERIAL_VERSION_NOT_FOUND")
    audit.record(audit_log, principal, origin, "material.read", audit.case_target(case_no),
                 {"code": code, "version": wanted}, moment)
    extension = {rules.PDF: "pdf", rules.JPEG: "jpg", rules.PNG: "png"}.get(found["content_type"], "bin")
    url = objects.presigned_get(found["key"], found["version_id"], expires_seconds=settings.MATERIAL_DOWNLOAD_SECONDS,
                                filename=f"{found['name']}-第{wanted}版.{extension}", content_type=found["content_type"])
    return {"case_no": case_no, "code": code, "name": found["name"], "version": wanted, "current_version": current,
            "trust_level": found["trust_level"], "sha256": found["sha256"], "size": found["size"],
            "content_type": found["content_type"], "url": url,
            "expires_at": utc_iso(moment + dt.timedelta(seconds=settings.MATERIAL_DOWNLOAD_SECONDS))}


def verify(principal: Principal, origin: Origin, case_no: str, code: str, body: Any, *, cases, catalog, identity,
           materials, audit_log, now: Clock = utcnow) -> dict[str, Any]:
    """``POST /v1/cases/{case_no}/materials/{code}/verify`` (body
    ``schemas/material_verification.json``: optional ``version``, ``note``): a window clerk of
    the case's township checked the original at the window; the current version rises from
    trust level C to B (domain.md section 6), with a history entry "核验材料原件" and an audit
    record in one transaction. Checking a material already at B changes nothing (200).

    Raises NotFound (case not visible; not on the checklist; ``MATERIAL_NOT_UPLOADED``),
    NotYourAction (403: anyone but the township's clerks), Conflict (409: ``CASE_CLOSED``,
    ``MATERIAL_VERSION_NOT_CURRENT``), ValidationFailed."""
    schemas.validate("material_verification", body)
    for _ in range(5):
        moment = now()
        case, _, consents = _visible_case(principal, case_no, cases, identity, moment)
        if WINDOW_CLERK not in _capacities(principal, case, consents, moment):
            raise lifecycle_rules.NotYourAction("只有本乡镇窗口工作人员可以核验材料原件")
        if case["status"] in lifecycle_rules.FINAL_STATES:
            raise _closed(case)
        heads, versions = materials.materials(case_no)
        code, spec = _find_code(case, catalog, heads, code)
        head = heads.get(code)
        number = rules.require_verifiable(head, body.get("version"))
        if head["trust_level"] in (rules.TRUST_A, rules.TRUST_B):
            return _material_view(spec, head, versions.get(code, []), code)
        current = next(v for v in versions[code] if int(v["version"]) == number)
        check = {"by": principal.subject, "at": utc_iso(moment), "note": body.get("note") or None}
        entry = HistoryEntry(
            seq=int(case["history_count"]) + 1, at=moment, actor=principal.subject, role=WINDOW_CLERK,
            step_name="核验材料原件", action="pass", opinion=f"{current['name']}：第{number}版已与原件核对一致，可信度由C升为B",
            reason=body.get("note") or "", data={"material_code": code, "version": number, "trust_level": rules.TRUST_B})
        summary = {**(case.get("materials") or {}), code: {"version": number, "trust_level": rules.TRUST_B}}
        trail = audit.entry(principal, origin, "material.verify", audit.case_target(case_no),
                            {"code": code, "version": number, "trust_level": rules.TRUST_B}, moment)
        try:
            materials.verify(case, head, current, rules.TRUST_B, check, entry, summary, trail)
        except StaleCase:
            continue
        head = {**head, "trust_level": rules.TRUST_B}
        updated = [({**v, "trust_level": rules.TRUST_B, "checked": check} if int(v["version"]) == number else v)
                   for v in versions[code]]
        return _material_view(spec, head, updated, code)
    raise Conflict("办件正被频繁更新，请稍后重试", code="BUSY")
