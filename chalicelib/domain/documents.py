"""What a case document says: the acceptance receipt (受理通知书), the one-time notice
(一次性告知书, one per notice round) and the conclusion decision (办结决定书), as plain content
(pure: no PDF here; ``adapters/pdf.py`` lays it out).

CONTRACT (issue 6, shared by the document renderer and the document consumer):

* :class:`DocumentContent` is everything the renderer prints.
* :func:`build` makes the content of one document of a case.

Personal data: the applicant (and agent) appear masked only (``people.mask_name``,
``people.mask_id_number``); free text staff typed (opinions, reasons, material details) has
every ID and phone number in it masked (``people.mask_text``). The full resident ID number is
never in a document: it would travel in a PDF that is printed, forwarded and kept.

Text is made safe for a fixed layout here (:func:`clean`): control characters go, line breaks
in one-line values become spaces, runs of blanks collapse, and very long values are cut with
"…". Characters the embedded font lacks (emoji, rare CJK Extension B) are the renderer's
business: it knows the font and replaces them with "□".

Sources: 行政许可法 arts. 32 (one-time notice, acceptance, deemed acceptance), 38 (a refusal
states reasons and the right to review or sue), 42 and 45 (time limit, extension, special
procedures not counted), 82 (working days); 行政复议法 art. 20 (60 days to apply for review);
行政诉讼法 arts. 45-46 (six months to sue); GB/T 39046-2020 (acceptance document number, promised
conclusion time).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata
from typing import Any, Mapping, Sequence
from zoneinfo import ZoneInfo

from .people import mask_id_number, mask_name, mask_text

#: Document kinds, their Chinese titles.
ACCEPTANCE_RECEIPT = "acceptance_receipt"
ONE_TIME_NOTICE = "one_time_notice"
DECISION = "decision"
TITLES = {ACCEPTANCE_RECEIPT: "受理通知书", ONE_TIME_NOTICE: "一次性告知书", DECISION: "办结决定书"}

SHANGHAI = ZoneInfo("Asia/Shanghai")

#: Printed under the QR code: the document carries an e-seal (added after rendering).
SEAL_NOTE = "本文书加盖电子印章，扫描二维码可核验真伪"

#: Longest value printed in one table cell / one paragraph (characters, "…" added when cut).
MAX_VALUE_CHARS = 300
MAX_PARAGRAPH_CHARS = 1500
#: Longest issuer name and verify URL (both system values; the footer has room for them).
MAX_ISSUER_CHARS = 40
MAX_URL_CHARS = 200

LICENSING_LAW = "《中华人民共和国行政许可法》"
REMEDIES = ("如不服本决定，可以自收到本决定书之日起六十日内，依照《中华人民共和国行政复议法》的规定"
            "向有管辖权的行政复议机关申请行政复议；也可以自收到本决定书之日起六个月内，依照"
            "《中华人民共和国行政诉讼法》的规定直接向人民法院提起行政诉讼。")

RESULT_LABELS = {"approved": "准予许可（批准）", "rejected": "不予许可（不予批准）", "refused": "不予受理"}
PROBLEM_LABELS = {"missing": "缺少", "defective": "不符合要求"}
UNIT_TEXT = {"working_days": "个工作日", "calendar_days": "日"}


@dataclasses.dataclass(frozen=True)
class DocumentContent:
    """One A4 document, printed top to bottom in this order:

    ``title`` (and ``subtitle``, e.g. the notice round), ``document_id`` (文书编号), ``rows``
    (``(label, value)`` pairs as a two-column table), ``paragraphs`` (body text, each a
    paragraph; a paragraph ending in "：" is a salutation, not indented), then an optional list
    table (``list_headers`` + ``list_rows``, e.g. the missing materials, under ``list_title``),
    then ``closing`` paragraphs, ``contact`` lines (address, phones), and at the bottom the
    ``issuer`` (the township service center, the seal's owner) and ``issued_on`` (ISO date,
    Asia/Shanghai) at the right, and the QR code of ``verify_url`` with ``seal_note`` at the left.

    All strings are plain text (no markup, nothing escaped), already masked and cleaned by
    :func:`build`."""
    kind: str
    title: str
    document_id: str
    issuer: str
    issued_on: str
    rows: tuple[tuple[str, str], ...]
    paragraphs: tuple[str, ...]
    verify_url: str
    subtitle: str = ""
    list_title: str = ""
    list_headers: tuple[str, ...] = ()
    list_rows: tuple[tuple[str, ...], ...] = ()
    closing: tuple[str, ...] = ()
    contact: tuple[str, ...] = ()
    seal_note: str = SEAL_NOTE
    #: The label of ``document_id`` under the title (a publicity notice prints its item code).
    number_label: str = "文书编号"

    def texts(self) -> list[str]:
        """Every string the renderer prints (for font coverage checks)."""
        out = [self.title, self.subtitle, self.document_id, self.issuer, self.issued_on, self.verify_url,
               self.list_title, self.seal_note, self.number_label, *self.paragraphs, *self.closing, *self.contact, *self.list_headers]
        out += [s for row in self.rows for s in row] + [s for row in self.list_rows for s in row]
        return out


# --- text helpers ----------------------------------------------------------------------------

_BLANKS = re.compile(r"[ \t\u3000\u00a0]+")


def clean(value: Any, *, limit: int = MAX_VALUE_CHARS, one_line: bool = True) -> str:
    """``value`` as printable plain text: ``None`` -> ``""``; line breaks (CR, LF, LS, PS) become
    a space (``one_line``) or one ``\\n``; other control and format characters (zero-width
    joiners, bidi marks, NUL) are dropped, surrogates and unassigned code points become "□";
    blanks collapse to one space; the result is cut to ``limit`` characters with "…"."""
    text = "" if value is None else str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    out = []
    for ch in text:
        if ch == "\n":
            out.append(" " if one_line else "\n")
            continue
        category = unicodedata.category(ch)
        if category in ("Cc", "Cf"):
            out.append(" " if ch == "\t" else "")
        elif category in ("Cs", "Cn", "Co"):
            out.append("□")
        else:
            out.append(ch)
    lines = [_BLANKS.sub(" ", line).strip() for line in "".join(out).split("\n")]
    text = "\n".join(line for line in lines if line)
    if len(text) > limit:
        text = text[:limit - 1].rstrip() + "…"
    return text


def _free(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """Free text someone typed: cleaned, with ID and phone numbers in it masked."""
    return clean(mask_text(clean(value, limit=limit * 2)), limit=limit)


def zh_date(value: str | dt.date | dt.datetime | None) -> str:
    """A date as printed on a Chinese official document: ``2026年11月30日``.

    ``value``: an ISO date (taken as is), an ISO date-time with offset or an aware datetime
    (converted to Asia/Shanghai first), or None (-> ``""``)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value) if len(value) == 10 else dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        value = value.astimezone(SHANGHAI).date()
    return f"{value.year}年{value.month}月{value.day}日"


def limit_text(limit: Mapping[str, Any] | None) -> str:
    """``{"value": 10, "unit": "working_days"}`` -> ``10个工作日``; 0 -> ``即办``."""
    if not limit:
        return ""
    value = int(limit.get("value") or 0)
    return "即办" if value == 0 else f"{value}{UNIT_TEXT.get(limit.get('unit'), '个工作日')}"


def _legal_basis_text(basis: str | Sequence[Any] | None) -> str:
    """A legal basis given as text or as the catalog's list (``{law, article, text}``): the
    laws and articles joined with "、" (the quoted text is left out: too long for a document)."""
    if not basis:
        return ""
    if isinstance(basis, str):
        return basis
    parts = []
    for entry in basis:
        if isinstance(entry, Mapping):
            parts.append(f"{entry.get('law', '')}{entry.get('article', '')}")
        else:
            parts.append(str(entry))
    return "、".join(p for p in parts if p)


# --- building blocks ---------------------------------------------------------------------------

def _people_rows(case: Mapping[str, Any]) -> list[tuple[str, str]]:
    applicant = case.get("applicant") or {}
    rows = [("申请人", mask_name(clean(applicant.get("name"), limit=50))),
            ("身份证号码", mask_id_number(clean(applicant.get("id_number"), limit=18)))]
    agent = case.get("agent") or {}
    if agent.get("name"):
        village = clean(agent.get("village"), limit=50)
        rows.append(("代办人", mask_name(clean(agent["name"], limit=50)) + (f"（{village}代办员）" if village else "")))
    return rows


def _head_rows(case: Mapping[str, Any], item_name: str) -> list[tuple[str, str]]:
    return [("办件编号", clean(case["case_no"], limit=60)), ("事项名称", clean(item_name))]


def _salutation(case: Mapping[str, Any]) -> str:
    name = mask_name(clean((case.get("applicant") or {}).get("name"), limit=50))
    return f"{name}：" if name else "申请人："


def _contact(township: Mapping[str, Any] | None) -> tuple[str, ...]:
    if not township:
        return ()
    lines = []
    for key, label in (("address", "办理地点"), ("consultation_phone", "咨询电话"), ("supervision_phone", "监督电话")):
        if township.get(key):
            lines.append(f"{label}：{clean(township[key], limit=120)}")
    return tuple(lines)


def _due_rows(deadline: Mapping[str, Any] | None) -> tuple[list[tuple[str, str]], str]:
    """Rows for the promised limit and due date from a case's ``deadline`` block
    (``usecases.intake.deadline_view``), and the sentence for the body."""
    if not deadline:
        return [], ""
    limit = deadline.get("limit") or {}
    text = limit_text(limit)
    rows = [("承诺办理时限", text + ("（不含法定节假日）" if limit.get("unit", "working_days") == "working_days"
                                    and text != "即办" else ""))]
    extension = int(deadline.get("extension_days") or 0)
    if extension:
        rows.append(("延长期限", f"{extension}个工作日（依法批准延长）"))
    due = deadline.get("due_date")
    if due:
        note = "（暂按周末推算，以国务院节假日安排公布后为准）" if deadline.get("due_date_provisional") else ""
        rows.append(("承诺办结日期", zh_date(due) + note))
        sentence = f"本事项承诺办理时限为{text}，预计于{zh_date(due)}前办结{note}。"
    else:
        rows.append(("承诺办结日期", "办理期限暂停计算中（特别程序或补正期间不计入）"))
        sentence = f"本事项承诺办理时限为{text}；目前办理期限暂停计算，恢复计算后另行告知办结日期。"
    return rows, sentence


# --- the three documents -------------------------------------------------------------------------

def _receipt(case, item_name, deadline, township) -> dict[str, Any]:
    received, accepted = zh_date(case.get("submitted_at")), zh_date(case.get("accepted_on") or case.get("accepted_at"))
    due_rows, due_sentence = _due_rows(deadline)
    rows = (_head_rows(case, item_name) + _people_rows(case)
            + [("收件日期", received), ("受理日期", accepted)] + due_rows)
    basis = case.get("acceptance_basis") or (deadline or {}).get("basis") or "received"
    if basis == "deemed_received":
        how = (f"因未在收到申请材料之日起五个工作日内一次性告知需补正的全部内容，依据{LICENSING_LAW}第三十二条的规定，"
               f"自收到申请材料之日（{received}）起即为受理")
    elif basis == "materials_complete":
        how = f"申请材料已于{accepted}补正齐全、符合法定形式，依据{LICENSING_LAW}第三十二条的规定，本中心决定予以受理"
    else:
        how = f"经审查，申请材料齐全、符合法定形式，依据{LICENSING_LAW}第三十二条的规定，本中心决定予以受理"
    paragraphs = [
        _salutation(case),
        f"您于{received}提交的“{clean(item_name)}”申请，{how}。",
        (due_sentence + "办理时限自受理之日的次日起计算；依法需要听证、检验、检测、鉴定、专家评审、公示等特别程序的，"
         "所需时间不计入办理时限。需要延长办理期限的，将依法书面告知延长期限和理由。").strip(),
        "您可凭办件编号通过“便民服务”小程序或到本中心窗口查询办理进度；办结后将通知您领取结果。",
    ]
    return {"rows": rows, "paragraphs": paragraphs, "contact": _contact(township)}


def _notice(case, item_name, notice, round_no, township, supplement_days) -> dict[str, Any]:
    if not notice:
        raise ValueError(f"one_time_notice needs the stored notice document of round {round_no} (notice=)")
    received = zh_date(case.get("submitted_at"))
    rows = (_head_rows(case, item_name) + _people_rows(case)
            + [("收件日期", received), ("告知日期", zh_date(notice.get("issued_at"))), ("告知次数", f"第{round_no}次")])
    materials = list(notice.get("materials") or [])
    others = list(notice.get("other") or [])
    list_rows = [(str(n), clean(m.get("name"), limit=100), PROBLEM_LABELS.get(m.get("problem"), "需补正"),
                  _free(m.get("detail")) or "—") for n, m in enumerate(materials, 1)]
    list_rows += [(str(len(materials) + n), _free(t), "其他事项", "—") for n, t in enumerate(others, 1)]
    basis = clean(notice.get("legal_basis") or f"{LICENSING_LAW}第三十二条", limit=100)
    paragraphs = [
        _salutation(case),
        f"您于{received}提交的“{clean(item_name)}”申请，"
        f"经审查，申请材料不齐全或者不符合法定形式。依据{basis}的规定，现将需要补正的全部材料和内容一次性告知如下"
        f"（共{len(list_rows)}项）：",
    ]
    if supplement_days:
        when = f"请您自收到本告知书之日起{int(supplement_days)}个工作日内，一次补正上述全部材料"
    else:
        when = "请您按上述要求一次补正全部材料"
    closing = [
        f"{when}，可到本中心窗口提交，也可通过“便民服务”小程序上传或请村代办员代为提交。本中心不再要求补正本告知书所列以外的材料。",
    ]
    if notice.get("late"):
        closing.append(f"因本告知未在收到申请材料之日起五个工作日内作出，依据{LICENSING_LAW}第三十二条的规定，"
                       f"您的申请自收到申请材料之日（{received}）起即为受理；补正期间办理时限暂停计算，补正后继续计算。")
    else:
        closing.append("补正材料齐全之日起受理，办理时限自受理之日起计算；补正期间不计入办理时限。")
    return {"rows": rows, "paragraphs": paragraphs, "closing": closing, "list_title": "需要补正的材料",
            "list_headers": ("序号", "材料名称", "问题", "具体要求"), "list_rows": list_rows,
            "contact": _contact(township), "subtitle": f"（第{round_no}次告知）"}


def _decision(case, item_name, issuer, legal_basis, township) -> dict[str, Any]:
    outcome = case.get("outcome") or {}
    result = outcome.get("result")
    if result not in RESULT_LABELS:
        raise ValueError(f"decision needs a concluded case (outcome.result approved/rejected/refused), got {result!r}")
    received = zh_date(case.get("submitted_at"))
    accepted = zh_date(case.get("accepted_on") or case.get("accepted_at"))
    concluded = zh_date(outcome.get("concluded_at") or case.get("concluded_at"))
    county = outcome.get("level") == "county" and (case.get("forwarded_to") or {}).get("name")
    deciding = clean(county, limit=60) if county else issuer
    rows = _head_rows(case, item_name) + _people_rows(case) + [("申请日期", received)]
    if accepted:
        rows.append(("受理日期", accepted))
    rows += [("办结日期", concluded), ("办理结果", RESULT_LABELS[result]), ("决定机关", deciding)]
    for key, label in (("licence_name", "证照名称"), ("licence_no", "证照编号")):
        if outcome.get(key):
            rows.append((label, clean(outcome[key], limit=100)))
    opinion = _free(outcome.get("opinion"), MAX_PARAGRAPH_CHARS)
    intro = (f"您于{received}提交的“{clean(item_name)}”申请"
             + (f"，已于{accepted}受理" if accepted else ""))
    paragraphs = [_salutation(case)]
    if result == "approved":
        basis = _legal_basis_text(legal_basis)
        text = f"{intro}。经审查，{opinion.rstrip('。')}。" if opinion else f"{intro}。经审查，您的申请符合法定条件、标准。"
        text += (f"依据{clean(basis, limit=MAX_VALUE_CHARS)}的规定，" if basis else "") + f"{deciding}决定准予。"
        paragraphs.append(text)
        if outcome.get("licence_name"):
            paragraphs.append("请凭本决定书及本人有效身份证件到本中心窗口领取办理结果，或由村代办员代为领取。")
        else:
            paragraphs.append("办理结果将按规定送达或通知您；您也可凭办件编号在“便民服务”小程序查询。")
    else:
        reasons = _free(outcome.get("reasons"), MAX_PARAGRAPH_CHARS) or "（未载明理由）"
        basis = _free(outcome.get("legal_basis") or _legal_basis_text(legal_basis), MAX_VALUE_CHARS)
        verb = "不予受理" if result == "refused" else "不予许可（不予批准）"
        paragraphs.append(f"{intro}。经审查，决定{verb}。理由如下：{reasons.rstrip('。')}。")
        if opinion and result != "refused":
            paragraphs.append(f"审查意见：{opinion.rstrip('。')}。")
        if basis:
            paragraphs.append(f"法律依据：{basis.rstrip('。')}。")
    paragraphs.append(REMEDIES)
    return {"rows": rows, "paragraphs": paragraphs, "contact": _contact(township)}


def build(kind: str, case: Mapping[str, Any], *, document_id: str, verify_url: str, issuer: str,
          issued_on: str, item_name: str, deadline: Mapping[str, Any] | None = None,
          round: int | None = None, notice: Mapping[str, Any] | None = None,
          township: Mapping[str, Any] | None = None,
          legal_basis: str | Sequence[Any] | None = None,
          supplement_days: int | None = None) -> DocumentContent:
    """The content of document ``kind`` (:data:`ACCEPTANCE_RECEIPT`, :data:`ONE_TIME_NOTICE`,
    :data:`DECISION`) for ``case``, the stored case dict (``domain.lifecycle``: ``case_no``,
    ``applicant`` with the full name and ID number, ``submitted_at``/``accepted_at`` UTC ISO,
    ``accepted_on`` Asia/Shanghai ISO date, ``acceptance_basis``, ``notices``, ``outcome``,
    ``forwarded_to``). It may be a masked case view too: masking twice changes nothing.

    * ``document_id``: the document number printed under the title (文书编号).
    * ``verify_url``: encoded in the QR code and printed under it.
    * ``issuer``: the township service center's name; ``issued_on``: ISO date (Asia/Shanghai).
    * ``item_name``: the service item's name as filed.
    * ``deadline``: the case's live deadline block (``usecases.intake.deadline_view(...)
      ["deadline"]``: ``limit`` {value, unit}, ``due_date`` ISO, ``due_date_provisional``,
      ``extension_days``, ``basis``); used by the receipt (promised limit in WORKING days,
      due date). None: no limit rows.
    * ``round``: the notice round (1-based; default the case's last round); ``notice``: the
      stored notice document of that round (``CaseRepository.notice(case_no, round)``:
      ``materials`` [{name, problem missing|defective, detail}], ``other``, ``issued_at``,
      ``legal_basis``, ``late``). REQUIRED for :data:`ONE_TIME_NOTICE` (the case item holds
      only counts). ``supplement_days``: working days given to supplement, if the township sets one.
    * ``township``: the township record (``address``, ``consultation_phone``,
      ``supervision_phone``) for the contact lines; ``legal_basis``: the item's legal basis
      (text or the catalog's list), printed on an approval; a rejection prints its own.

    Raises ``KeyError`` for an unknown ``kind``; ``ValueError`` for a notice without its
    document, or a decision on a case without a conclusion (``outcome.result`` approved,
    rejected or refused), or a ``verify_url`` empty or longer than :data:`MAX_URL_CHARS`; the
    issuer is cut at :data:`MAX_ISSUER_CHARS`. Dates print as ``2026年11月30日`` in Asia/Shanghai."""
    title = TITLES[kind]
    issuer = clean(issuer, limit=MAX_ISSUER_CHARS)
    verify_url = clean(verify_url, limit=10 * MAX_URL_CHARS).replace(" ", "%20")
    if not verify_url or len(verify_url) > MAX_URL_CHARS:
        raise ValueError(f"verify_url must be 1-{MAX_URL_CHARS} characters (it is printed under the QR code)")
    if kind == ACCEPTANCE_RECEIPT:
        parts = _receipt(case, item_name, deadline, township)
    elif kind == ONE_TIME_NOTICE:
        round_no = round or len(case.get("notices") or []) or 1
        parts = _notice(case, item_name, notice, round_no, township, supplement_days)
    else:
        parts = _decision(case, item_name, issuer, legal_basis, township)
    rows = tuple((label, clean(value) or "—") for label, value in parts.pop("rows"))
    paragraphs = tuple(clean(p, limit=MAX_PARAGRAPH_CHARS) for p in parts.pop("paragraphs"))
    closing = tuple(clean(p, limit=MAX_PARAGRAPH_CHARS) for p in parts.pop("closing", ()))
    if "list_rows" in parts:
        parts["list_rows"] = tuple(tuple(clean(cell) or "—" for cell in row) for row in parts["list_rows"])
    return DocumentContent(kind=kind, title=title, document_id=clean(document_id, limit=80), issuer=issuer,
                           issued_on=issued_on, rows=rows, paragraphs=paragraphs,
                           verify_url=verify_url, closing=closing,
                           **parts)
