"""The eight-publicity notice (办事八公开告知单) of one item in one township, as plain text lines,
as the content of an A4 PDF (``domain.documents.DocumentContent``, laid out by ``adapters/pdf.py``)
and as a self-contained, mobile-first HTML page. Pure: no AWS, no PDF library here.

One rule per fact: :func:`publicity_lines` turns each of the eight publicities (as
``catalog.eight_publicities`` composes them) into text lines; the PDF joins them with line
breaks, the HTML prints each as an escaped list item. Every value from the catalog reaches the
HTML through :func:`html.escape` only (:func:`notice_html`), so an item whose text contains
``<script>`` shows that text and runs nothing.

Storage keys are by version (:func:`notice_base_key`): the item's version and the township
settings' version, so a notice once stored is never overwritten, and a change of either makes a
new key.
"""
from __future__ import annotations

import html
from typing import Any, Mapping, Sequence

from .catalog import EIGHT_PUBLICITY_LABELS, ServiceItem, Township, eight_publicities
from .documents import DocumentContent, clean, zh_date

#: What a notice says for a publicity the catalog does not hold yet (e.g. an item imported from
#: the Guang'an export with names and codes only).
NOT_PUBLISHED = "暂未公开，请向窗口咨询"
#: Printed under the QR code (the notice carries no seal: it is information, not a decision).
QR_NOTE = "扫描二维码查看本事项最新办事指南"
LEVEL_LABELS = {"applicant": "申请人", "village": "村（居）", "township": "乡镇", "county": "县级部门"}
#: Longest text of one publicity in the PDF (characters; the HTML prints everything).
MAX_PDF_VALUE_CHARS = 1500
#: The files of one notice: suffix -> content type.
FILES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf", "png": "image/png"}
#: Public file names of the PDF and the QR code under the notice's URL.
PUBLIC_FILES = {"notice.pdf": "pdf", "qr.png": "png"}


def notice_base_key(township_code: str, item_code: str, item_version: int, township_version: int) -> str:
    """The S3 key of a notice without its suffix:
    ``publicity/<township>/<item>/v<item_version>-s<township_version>`` (+ ``.html/.pdf/.png``)."""
    return f"publicity/{township_code}/{item_code}/v{int(item_version)}-s{int(township_version)}"


def notice_url(base_url: str, township_code: str, item_code: str) -> str:
    """The notice's public page (the QR code's target): ``<base>/v1/public/notices/<township>/<item>``."""
    return f"{base_url.rstrip('/')}/v1/public/notices/{township_code}/{item_code}"


def _limit(limit: Mapping[str, Any] | None) -> str:
    if not limit:
        return ""
    from .catalog import TimeLimit
    return TimeLimit(int(limit["value"]), limit["unit"]).text()


def publicity_lines(key: str, value: Any) -> list[str]:
    """The text lines of one publicity ``key`` (a key of ``EIGHT_PUBLICITY_LABELS``) whose
    composed value is ``value`` (``eight_publicities(...)[key]["value"]``). Empty values give
    ``[NOT_PUBLISHED]``; a list gives one line per entry (unnumbered: :func:`numbered`)."""
    lines: list[str] = []
    if key == "legal_basis":
        for entry in value or ():
            head = f"{entry.get('law', '')}{entry.get('article', '')}"
            lines.append(f"{head}：{entry['text']}" if entry.get("text") else head)
    elif key == "conditions":
        lines = [str(c) for c in value or ()]
    elif key == "procedure":
        for step in value or ():
            text = f"{step.get('step', '')}（{LEVEL_LABELS.get(step.get('level'), step.get('level', ''))}）"
            if step.get("description"):
                text += f"：{step['description']}"
            if step.get("time_limit"):
                text += f"（时限：{_limit(step['time_limit'])}）"
            lines.append(text)
    elif key == "materials":
        for m in value or ():
            parts = []
            if m.get("originals"):
                parts.append(f"原件{m['originals']}份")
            if m.get("copies"):
                parts.append(f"复印件{m['copies']}份")
            parts.append("必交" if m.get("required") else "视情提交")
            if m.get("issuing_body"):
                parts.append(f"出具单位：{m['issuing_body']}")
            if m.get("note"):
                parts.append(str(m["note"]))
            lines.append(f"{m['name']}（{'；'.join(parts)}）")
        if value is not None and not value:
            lines = ["无需提交材料"]
    elif key == "time_limit":
        lines = [value["text"]] if value else []
    elif key == "fees":
        if value:
            standard = str(value.get("standard") or ("收费" if value.get("charged") else "不收费"))
            lines = [standard + (f"（依据：{value['basis']}）" if value.get("basis") else "")]
    elif key == "handling_staff":
        for person in (value or {}).get("staff") or ():
            extra = "，".join(x for x in (person.get("post"), f"{person['window']}号窗口" if person.get("window") else "")
                             if x)
            lines.append(f"{person.get('name', '')}（{extra}）" if extra else str(person.get("name", "")))
    elif key == "supervision_phone":
        phone = (value or {}).get("phone")
        lines = [str(phone)] if phone else []
    else:
        raise KeyError(key)
    return lines or [NOT_PUBLISHED]


def numbered(lines: Sequence[str]) -> str:
    """Lines as one text: one line as is, several numbered ``1. ...`` one per line (the PDF)."""
    return lines[0] if len(lines) == 1 else "\n".join(f"{n}. {line}" for n, line in enumerate(lines, 1))


def notice_sections(item: ServiceItem, township: Township) -> list[tuple[str, str, list[str]]]:
    """``[(key, zh-CN label, lines)]`` of the eight publicities, in the canonical order."""
    composed = eight_publicities(item, township)
    return [(key, composed[key]["label"], publicity_lines(key, composed[key]["value"]))
            for key in EIGHT_PUBLICITY_LABELS]


def _version_text(item_version: int, township_version: int) -> str:
    return f"v{int(item_version)}-s{int(township_version)}"


SAMPLE_NOTE = "注：本乡镇的经办人员、电话等为样例数据，非真实信息。"


def contact_lines(township: Township) -> list[str]:
    """The notice's contact lines, unescaped: 办理地点 and 咨询电话 when the settings have them,
    and 办公时间 (Asia/Shanghai, HH:MM—HH:MM, statutory holidays excepted)."""
    lines = [f"{label}：{township.record[key]}" for key, label in (("address", "办理地点"),
                                                                   ("consultation_phone", "咨询电话"))
             if township.record.get(key)]
    opens, closes = township.office_hours
    lines.append(f"办公时间：{opens.strftime('%H:%M')}—{closes.strftime('%H:%M')}（法定节假日除外）")
    return lines


def notice_content(item: ServiceItem, township: Township, *, item_version: int, township_version: int,
                   url: str, issued_on: str) -> DocumentContent:
    """The A4 notice as a :class:`DocumentContent`: title 办事八公开, the township as subtitle,
    the item code and version under it, a table (事项名称, 实施部门, then the eight publicities
    with the labels ``eight_publicities`` gives), the address and consultation phone, and the
    QR code of ``url`` at the bottom with the township's name and ``issued_on`` (ISO date,
    Asia/Shanghai). No seal: :data:`QR_NOTE` is printed where a sealed document says it is sealed."""
    rows = [("事项名称", clean(item.name, limit=400)), ("实施部门", clean(item.record.get("department")) or "—")]
    for _key, label, lines in notice_sections(item, township):
        rows.append((label, clean(numbered(lines), limit=MAX_PDF_VALUE_CHARS, one_line=False)))
    contact = [clean(line, limit=140) for line in contact_lines(township)]
    closing = []
    if township.record.get("sample"):
        closing.append(SAMPLE_NOTE)
    return DocumentContent(
        kind="publicity_notice", title="办事八公开", subtitle=clean(township.name, limit=40),
        number_label="事项编码", document_id=clean(f"{item.code}（版本{_version_text(item_version, township_version)}）",
                                                  limit=80),
        issuer=clean(township.name, limit=40), issued_on=issued_on, rows=tuple(rows), paragraphs=(),
        verify_url=url, closing=tuple(closing), contact=tuple(contact), seal_note=QR_NOTE)


_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f5f6f8;color:#1f2328;font:16px/1.65 -apple-system,"PingFang SC","Hiragino Sans GB",
"Microsoft YaHei","WenQuanYi Micro Hei",sans-serif;-webkit-text-size-adjust:100%}
main{max-width:40rem;margin:0 auto;padding:12px}
header{background:#b71c1c;color:#fff;border-radius:8px;padding:14px 16px;margin-bottom:12px}
header .township{margin:0;font-size:14px;opacity:.9}
h1{margin:4px 0;font-size:20px;line-height:1.4}
header .meta{margin:0;font-size:13px;opacity:.85}
section{background:#fff;border-radius:8px;padding:12px 16px;margin-bottom:10px}
h2{margin:0 0 6px;font-size:17px;border-left:4px solid #b71c1c;padding-left:8px}
ol,ul{margin:0;padding-left:1.4em}
li,p{overflow-wrap:anywhere;word-break:break-word}
section p{margin:0}
.note{font-size:14px;color:#6b5300;background:#fff8e1}
footer{background:#fff;border-radius:8px;padding:12px 16px;text-align:center;font-size:14px;color:#57606a}
footer img{width:160px;height:160px;image-rendering:pixelated}
footer .url{font-size:12px;overflow-wrap:anywhere}
"""


def notice_html(item: ServiceItem, township: Township, *, item_version: int, township_version: int,
                url: str, qr_png_base64: str, issued_on: str) -> str:
    """The notice as one self-contained HTML page: viewport meta for phones (readable at
    360 px), inline CSS, no script, no external asset (the QR code is a ``data:`` URI of
    ``qr_png_base64``), a link to the printable PDF (``<url>/notice.pdf``). Every catalog value
    is escaped with :func:`html.escape`."""
    e = html.escape
    sections = []
    for key, label, lines in notice_sections(item, township):
        if len(lines) > 1:
            body = "<ol>" + "".join(f"<li>{e(line)}</li>" for line in lines) + "</ol>"
        else:
            body = f"<p>{e(lines[0])}</p>"
        sections.append(f'<section id="{e(key)}"><h2>{e(label)}</h2>{body}</section>')
    contact = [f"<p>{e(line)}</p>" for line in contact_lines(township)]
    note = f'<section class="note"><p>{e(SAMPLE_NOTE)}</p></section>' if township.record.get("sample") else ""
    department = item.record.get("department")
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(item.name)} - 办事八公开</title><style>{_CSS}</style></head><body><main>"
        f'<header><p class="township">{e(township.name)}</p><h1>{e(item.name)}</h1>'
        f'<p class="meta">事项编码 {e(item.code)} · 版本 {e(_version_text(item_version, township_version))}'
        + (f" · {e(str(department))}" if department else "") + "</p></header>"
        + "".join(sections)
        + f'<section id="contact"><h2>办理地点与时间</h2>{"".join(contact)}</section>{note}'
        f'<footer><img alt="本页二维码" src="data:image/png;base64,{e(qr_png_base64)}">'
        f"<p>{e(QR_NOTE)}</p><p><a href=\"{e(url)}/notice.pdf\">下载打印版（PDF）</a></p><p class=\"url\">{e(url)}</p><p>{e(township.name)} · 更新于{e(zh_date(issued_on))}</p>"
        "</footer></main></body></html>")


def notice_record(*, township_code: str, item_code: str, item_version: int, township_version: int,
                  base_key: str, versions: Mapping[str, str], reason: str, generated_at: str) -> dict[str, Any]:
    """The current-notice record (what the API links to): keys by suffix and their S3 versions."""
    return {"township_code": township_code, "item_code": item_code, "item_version": int(item_version),
            "township_version": int(township_version), "base_key": base_key,
            "keys": {suffix: f"{base_key}.{suffix}" for suffix in FILES},
            "s3_versions": dict(versions), "reason": reason, "generated_at": generated_at}


def notice_links(base_url: str, township_code: str, item_code: str) -> dict[str, str]:
    """The stable public URLs of a township's notice of an item: the HTML page (the QR code's
    target), the PDF and the QR code PNG (the API redirects those two to short-lived presigned
    GETs: the bucket is private)."""
    page = notice_url(base_url, township_code, item_code)
    return {"html_url": page, "pdf_url": f"{page}/notice.pdf", "qr_url": f"{page}/qr.png"}
