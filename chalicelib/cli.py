"""Administrator command line: ``python -m chalicelib.cli <command>``.

Commands:
  import-catalog FILE [--dry-run] [--progress|--no-progress]
                                    import items from XLSX or CSV as officials keep them
                                    (docs/catalog-import.md), the Guang'an CSV export, or JSON
                                    (schemas/catalog_item.json); prints the report as JSON; exit 1
                                    on errors; a progress bar on stderr when it is a terminal
  catalog-export --format xlsx|csv|gbt39046 OUT
                                    write the catalog in the import's table shape (XLSX/CSV) or
                                    as GB/T 39046 service items (JSON, schemas/catalog_gbt39046.json)
  import-townships FILE             import township settings (schemas/township.json)
  item-put FILE [--if-match N]      create an item (JSON, schemas/catalog_item.json) or write its
                                    next version; without --if-match the current version is taken
                                    (last writer wins); prints the item; exit 1 on problems
  item-retire CODE [--if-match N]   retire an item (no new cases; cases filed keep it)
  township-settings CODE FILE [--if-match N]
                                    write the next version of a township's settings (JSON,
                                    schemas/township.json); exit 1 on problems
  catalog-publish                   send the publicity messages of catalog changes not yet sent
                                    (import-catalog and seed do it after writing)
  seed [DIR]                        townships.json + catalog_items.json from data/seed
  create-admin USERNAME NAME        create an administrator account (the first one, too); the
                                    password comes from $BIANMIN_ADMIN_PASSWORD or a prompt
  calendar-load FILE                load one year's holidays and make-up working days (JSON,
                                    schemas/calendar_year.json) and recompute the provisional
                                    due dates of that year; prints the report; exit 1 on problems
  calendar-show [YEAR]              the loaded years (and the missing ones), or one year
  wx-code OPENID                    local stage only: print a wx.login()-style code the local
                                    WeChat stand-in accepts for OPENID (valid 5 minutes, once)
  publicity-regenerate [--township CODE] [--item CODE]
                                    queue one eight-publicity notice request per item x township
                                    (every item, every listed township; the options narrow it);
                                    prints how many
  deadline (--item CODE [--township CODE] | --limit N [--unit UNIT]) [--start ISO]
           [--pause START[:END]]... [--extension DAYS] [--today DATE] [--json]
                                    the deadline calculator for staff (see :func:`deadline`):
                                    due date, yellow date, counted working days, days left,
                                    warning level; exit 2 on bad input

Uses the AWS credentials and endpoint of the environment (``AWS_ENDPOINT_URL`` for the local
stack), the same code the local runner uses to seed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Iterator

from . import container
from .domain.errors import DomainError
from .usecases import catalog as catalog_uc


def import_file(path: Path, dry_run: bool = False, progress=None) -> catalog_uc.ImportReport:
    """Parse and import one catalog file (:func:`catalog_files.import_file`); ``progress`` is a
    ``(stage, done, total)`` callback such as :class:`ProgressBars`. Raises ValidationFailed for an
    unreadable file."""
    from .usecases import catalog_files
    return catalog_files.import_file(path.name, path.read_bytes(), container.catalog(), dry_run=dry_run,
                                     progress=progress)


class ProgressBars:
    """tqdm bars on stderr, one per import stage (检查 = checking rows, 写入 = writing changed
    rows). ``force``: True always draws, False never, None only when stderr is a terminal (so a
    log or a pipe gets no bar). tqdm is imported only when a bar is drawn."""

    LABELS = {"check": "检查", "write": "写入"}

    def __init__(self, force: bool | None = None, stream=None):
        self.force, self.stream, self.bars = force, stream or sys.stderr, {}

    @property
    def enabled(self) -> bool:
        if self.force is not None:
            return self.force
        return bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        bar = self.bars.get(stage)
        if bar is None:
            from tqdm import tqdm  # lazy: a CLI-only dependency (requirements-dev.txt)
            bar = self.bars[stage] = tqdm(total=total, desc=self.LABELS.get(stage, stage), unit="行",
                                          file=self.stream, mininterval=0.2, leave=True, dynamic_ncols=True)
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def export_catalog(fmt: str, out: Path) -> int:
    """Write every catalog item to ``out`` as ``xlsx``/``csv`` (the import's shape; checked to
    re-import unchanged) or ``gbt39046`` (JSON, validated against its schema); returns the count."""
    from .usecases import catalog_files, catalog_gbt
    records = catalog_files.all_records(container.catalog())
    if fmt == "gbt39046":
        document = catalog_gbt.gbt39046_document(records)
        out.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    else:
        out.write_bytes(catalog_files.export_table(records, fmt))
    return len(records)


def seed(directory: Path) -> Iterator[str]:
    """Import the seed townships and catalog from ``directory``; yields one line per step.
    Idempotent: unchanged rows are not rewritten."""
    townships = json.loads((directory / "townships.json").read_text(encoding="utf-8"))
    outcomes = catalog_uc.import_townships(townships, container.catalog())
    yield "townships: " + ", ".join(f"{code} {outcome}" for code, outcome in outcomes.items())
    report = import_file(directory / "catalog_items.json")
    if report.errors or report.write_error:
        raise SystemExit("seed catalog has errors:\n" + json.dumps(report.to_dict(), ensure_ascii=False, indent=1))
    yield (f"catalog: {report.total} items, {len(report.created)} created, {len(report.updated)} updated, "
           f"{report.unchanged} unchanged")
    sent = catalog_publish()
    yield f"publicity: {sent['changes']} changes, {sent['messages']} messages"


# --- catalog administration (issue 7, docs/catalog.md) -----------------------------------------

def catalog_publish() -> dict:
    """Send the publicity messages of every catalog change not yet sent (the import's hook,
    ``catalog_changes.publish_pending``): ``{changes, messages, failed}``."""
    from .usecases import catalog_changes
    return catalog_changes.publish_pending(catalog=container.catalog(), publisher=container.publicity_publisher())


def _current_version(get, code: str) -> str | None:
    found = get(code)
    return str(found["version"]) if found else None


def item_put(path: Path, if_match: str | None = None) -> dict:
    """``item-put``: create the item in ``path`` (JSON) or write its next version, as the command
    line's administrator (audited as ``cli``). Without ``if_match`` the current version is
    taken. Raises like ``POST``/``PUT /v1/admin/services``."""
    from .usecases import catalog_admin
    from .validation import parse_json
    principal, origin = _cli_admin()
    body = parse_json(path.read_bytes())
    catalog = container.catalog()
    code = body.get("code") if isinstance(body, dict) else None
    current = _current_version(catalog.get_item, code) if isinstance(code, str) else None
    if current is None:
        return catalog_admin.create_item(principal, origin, body, catalog=catalog,
                                         publisher=container.publicity_publisher())
    return catalog_admin.update_item(principal, origin, code, body, if_match=if_match or current, catalog=catalog,
                                     publisher=container.publicity_publisher())


def item_retire(code: str, if_match: str | None = None) -> dict:
    """``item-retire``: retire item ``code`` (``POST /v1/admin/services/{code}/retire``)."""
    from .usecases import catalog_admin
    principal, origin = _cli_admin()
    catalog = container.catalog()
    return catalog_admin.retire_item(principal, origin, code, if_match=if_match or _current_version(
        catalog.get_item, code) or "0", catalog=catalog, publisher=container.publicity_publisher())


def township_settings(code: str, path: Path, if_match: str | None = None) -> dict:
    """``township-settings``: the next version of township ``code``'s settings from ``path``
    (``PUT /v1/admin/townships/{code}/settings``); without ``if_match`` the current version."""
    from .usecases import catalog_admin
    from .validation import parse_json
    principal, origin = _cli_admin()
    catalog = container.catalog()
    return catalog_admin.put_township_settings(
        principal, origin, code, parse_json(path.read_bytes()),
        if_match=if_match or _current_version(catalog.get_township, code), catalog=catalog,
        publisher=container.publicity_publisher())


# --- the deadline calculator -------------------------------------------------------------------

DEADLINE_HELP = """办结期限计算器：按与办件相同的规则（chalicelib.domain.deadlines）计算到期日。

限时取事项的承诺时限（--item，从事项目录读取，可加 --township 取该乡镇的办公时间），
或直接给出（--limit N --unit working_days|calendar_days，0 = 即办）。开始当日不计入；
即办件在工作日办公时间内受理的当日到期，否则为下一个工作日。--pause 为特别程序等
不计时的期间（开始日期:结束日期，结束日期省略 = 仍在暂停；开始当日计入，之后至结束
当日不计入），可重复；--extension 为经批准延长的工作日数（行政许可法第四十二条）。

--json 输出一个 JSON 对象：
  start            起算时刻（ISO，Asia/Shanghai）    start_counts   开始当日是否计入（仅即办件）
  limit            {value, unit}                      extension_days 延长的工作日数
  pauses           [{started_on, ended_on|null}]      paused         今天是否处于暂停中
  due_date         到期日（暂停中为 null）            due_date_provisional 是否为临时结果
  provisional_year 第一个无节假日数据的年份或 null    calendar_fallback 未能读取已加载的年份
  yellow_date      黄灯起始日（暂停中为 null）        today          计算基准日
  counted_working_days       计入时限的工作日列表     counted_working_days_count 其个数
  working_days_used / working_days_left / paused_working_days  截至 today 的工作日数
  warning_level    "0" 绿 / "1" 黄 / "2" 红            warning_label  中文说明
"""

UNIT_TEXT = {"working_days": "个工作日", "calendar_days": "个自然日"}


class BadInput(ValueError):
    """Input the calculator cannot use; the message is zh-CN (exit status 2)."""


def _parse_date(text: str, what: str):
    import datetime as dt
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadInput(f"{what}“{text}”不是有效日期（应为 YYYY-MM-DD）") from None


def _parse_start(text: str | None, opening):
    """``--start``: an ISO date-time (naive = Asia/Shanghai), a date alone = the office's
    opening time that day, None = now."""
    import datetime as dt
    from .domain.cases import SHANGHAI
    if text is None:
        return dt.datetime.now(SHANGHAI)
    try:
        if len(text) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(text), opening, SHANGHAI)
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(f"起算时间“{text}”无效（应为 ISO 格式，如 2025-09-26T10:00 或 2025-09-26）") from None
    return moment.replace(tzinfo=SHANGHAI) if moment.tzinfo is None else moment


def _parse_pause(text: str):
    """``START[:END]`` -> (start, end or None)."""
    first, _, last = text.partition(":")
    start = _parse_date(first, "暂停开始日期")
    end = _parse_date(last, "暂停结束日期") if last else None
    if end is not None and end < start:
        raise BadInput(f"暂停结束日期 {end} 早于开始日期 {start}")
    return start, end


def _calculator_calendar():
    """``container.calendar()`` (the library plus the years loaded as data); if that cannot be
    built (no AWS endpoint), the library alone, said on stderr: ``(calendar, fell_back)``."""
    from .domain.calendar import WorkingDayCalendar, calendar_from_years
    try:  # read here, not through container.calendar(), whose fallback logs a trace for a server's log
        return calendar_from_years(container.calendars().list_years()), False
    except Exception as error:  # noqa: BLE001 - any storage failure: say so, never crash
        print(f"警告：无法读取已加载的节假日年份（{error}），仅使用内置节假日数据；"
              "无数据年份的结果标为“临时”", file=sys.stderr)
        return WorkingDayCalendar(), True


def deadline(args: argparse.Namespace) -> dict:
    """The calculator behind ``python -m chalicelib.cli deadline`` (help: :data:`DEADLINE_HELP`).

    The limit is ``--limit``/``--unit`` or the promised limit (承诺时限) of ``--item`` read through
    ``container.catalog().get_offer`` (an item without one: 20 working days, 行政许可法第四十二条),
    with ``--township``'s office hours (08:30-17:30 otherwise). The computation is
    ``deadlines.calculator_clock`` + ``deadlines.evaluate`` (the rule the cases use) with the
    warning policy of the settings (``BIANMIN_YELLOW_WORKING_DAYS``, ``BIANMIN_YELLOW_SHARE``).
    Returns the JSON object of ``--json`` (keys in :data:`DEADLINE_HELP`) plus ``item``/
    ``township`` when given. Raises :class:`BadInput` (zh-CN) for input it cannot use.
    """
    import datetime as dt
    from . import settings
    from .domain import deadlines
    from .domain.calendar import CALENDAR_DAYS, WORKING_DAYS
    from .domain.cases import SHANGHAI
    hours = (dt.time(8, 30), dt.time(17, 30))
    extra: dict = {}
    if (args.item is None) == (args.limit is None):
        raise BadInput("请给出 --item 事项编码，或 --limit 时限（二者选一）")
    if args.item is not None:
        if args.unit is not None:
            raise BadInput("--unit 只与 --limit 一起使用（--item 取事项的承诺时限及其单位）")
        try:
            found, township = container.catalog().get_offer(args.item, args.township or "-")
        except Exception as error:  # noqa: BLE001 - no endpoint, no credentials
            raise BadInput(f"无法读取事项目录：{error}（本地环境请先 make run 并设置 AWS_ENDPOINT_URL）") from None
        if found is None:
            raise BadInput(f"未找到事项“{args.item}”")
        if args.township and township is None:
            raise BadInput(f"未找到乡镇“{args.township}”")
        item = found[0]
        limit = item.promised_limit
        value, unit = (limit.value, limit.unit) if limit else (deadlines.LEGAL_DEFAULT_WORKING_DAYS, WORKING_DAYS)
        extra["item"] = {"code": item.code, "name": item.name, "promised_limit": limit is not None}
        if township is not None:
            hours = township.office_hours
            extra["township"] = {"code": township.code, "name": township.name,
                                 "office_hours": [hours[0].strftime("%H:%M"), hours[1].strftime("%H:%M")]}
    else:
        unit = args.unit or WORKING_DAYS
        if unit not in (WORKING_DAYS, CALENDAR_DAYS):
            raise BadInput(f"时限单位“{unit}”无效，应为 working_days（工作日）或 calendar_days（自然日）")
        try:
            value = int(args.limit)
        except ValueError:
            raise BadInput(f"时限“{args.limit}”不是整数") from None
        if value < 0:
            raise BadInput("时限不能为负数（0 表示即办）")
    try:
        extension = int(args.extension)
    except ValueError:
        raise BadInput(f"延长天数“{args.extension}”不是整数") from None
    if extension < 0:
        raise BadInput("延长天数不能为负数")
    started = _parse_start(args.start, hours[0])
    pauses = [_parse_pause(p) for p in args.pause or []]
    if sum(1 for _, end in pauses if end is None) > 1:
        raise BadInput("至多一个暂停可以没有结束日期（仍在暂停）")
    today = _parse_date(args.today, "基准日期") if args.today else dt.datetime.now(SHANGHAI).date()
    start_day = deadlines.local_day(started, SHANGHAI)
    if any(end is not None and end < start_day for _, end in pauses):
        raise BadInput("暂停期间须在起算日期之后")
    calendar, fell_back = _calculator_calendar()
    clock = deadlines.calculator_clock(value, unit, started, calendar=calendar, zone=SHANGHAI, office_hours=hours,
                                       pauses=pauses, extension_days=extension)
    try:
        result = deadlines.evaluate(clock, today, calendar, settings.deadline_policy())
        counted = deadlines.counted_working_days(clock, calendar)
    except ValueError:
        raise BadInput("时限过长，超出日历可计算的范围") from None
    out = {"start": started.astimezone(SHANGHAI).isoformat(timespec="minutes"), "start_counts": clock.start_counts,
           "limit": {"value": value, "unit": unit}, "extension_days": extension,
           "pauses": [{"started_on": a.isoformat(), "ended_on": b.isoformat() if b else None} for a, b in pauses],
           "today": today.isoformat(), **result.to_dict(),
           "provisional_year": result.provisional_year, "calendar_fallback": fell_back,
           "counted_working_days": [d.isoformat() for d in counted], "counted_working_days_count": len(counted),
           **extra}
    return out


def deadline_text(out: dict) -> str:
    """The zh-CN report of :func:`deadline` for a person at the window."""
    limit = out["limit"]
    lines = []
    if "item" in out:
        lines.append(f"事项：{out['item']['code']} {out['item']['name']}"
                     + ("" if out["item"]["promised_limit"] else "（未设承诺时限，按法定20个工作日）"))
    if "township" in out:
        lines.append(f"乡镇：{out['township']['name']}（办公时间 {'-'.join(out['township']['office_hours'])}）")
    lines.append("时限：" + ("即办" if limit["value"] == 0 else f"{limit['value']}{UNIT_TEXT[limit['unit']]}")
                 + (f"，延长{out['extension_days']}个工作日" if out["extension_days"] else ""))
    lines.append(f"起算：{out['start'].replace('T', ' ')}（"
                 + ("开始当日计入：即办件在工作日办公时间内受理" if out["start_counts"] else "开始当日不计入") + "）")
    for p in out["pauses"]:
        lines.append(f"暂停：{p['started_on']} 起" + (f"至 {p['ended_on']}" if p["ended_on"] else "，仍在暂停")
                     + "（开始次日起不计入）")
    if out["due_date"]:
        mark = ""
        if out["due_date_provisional"]:
            mark = f"（临时：{out['provisional_year']}年尚无节假日安排数据，按周末推算，数据发布后可能变化）"
        lines.append(f"到期日：{out['due_date']}{mark}")
        lines.append(f"黄灯日：{out['yellow_date']}")
    else:
        lines.append("到期日：计时暂停中，恢复计时后确定")
    days = out["counted_working_days"]
    lines.append(f"计入时限的工作日：{len(days)}天" + ("（截至暂停）" if out["paused"] else ""))
    for i in range(0, len(days), 7):
        lines.append("  " + " ".join(days[i:i + 7]))
    left = out["working_days_left"]
    lines.append(f"截至 {out['today']}：已用{out['working_days_used']}个工作日，"
                 + (f"剩余{left}个工作日" if left >= 0 else f"已超期{-left}个工作日")
                 + (f"，暂停{out['paused_working_days']}个工作日" if out["paused_working_days"] else ""))
    lines.append(f"预警：{out['warning_label']}（{out['warning_level']}）")
    if out["calendar_fallback"]:
        lines.append("注意：未能读取已加载的节假日年份，仅按内置数据计算")
    return "\n".join(lines)


def _add_deadline_parser(sub) -> None:
    p = sub.add_parser("deadline", help="办结期限计算器", description=DEADLINE_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--item", help="事项编码（取其承诺时限）")
    p.add_argument("--township", help="乡镇编码（取其办公时间，仅与 --item 一起使用）")
    p.add_argument("--limit", help="时限数值（0 = 即办）")
    p.add_argument("--unit", help="working_days（工作日，默认）或 calendar_days（自然日）")
    p.add_argument("--start", help="起算时间，ISO 格式；无时区按北京时间；只给日期按办公开始时间；默认现在")
    p.add_argument("--pause", action="append", metavar="START[:END]", help="不计时期间（可重复）")
    p.add_argument("--extension", default="0", help="延长的工作日数（默认0）")
    p.add_argument("--today", help="计算基准日（默认今天）")
    p.add_argument("--json", action="store_true", help="输出 JSON 对象")


def create_admin(username: str, display_name: str, password: str) -> dict:
    """Create an administrator account as the operator of the command line (audited as
    ``cli``). Raises ValidationFailed or Conflict like the admin API."""
    from .domain.access import ADMINISTRATOR, Origin, Principal
    from .usecases import identity
    cli_principal = Principal(subject="cli", roles=frozenset({ADMINISTRATOR}))
    return identity.create_staff_account(
        cli_principal, Origin(channel="cli"),
        {"username": username, "display_name": display_name, "roles": [ADMINISTRATOR], "password": password},
        identity=container.identity(), passwords=container.passwords(), audit_log=container.audit_log())


def _cli_admin():
    from .domain.access import ADMINISTRATOR, Origin, Principal
    return Principal(subject="cli", roles=frozenset({ADMINISTRATOR})), Origin(channel="cli")


def calendar_load(path: Path) -> dict:
    """Load a calendar year from a JSON file as the command line's administrator (``cli``,
    audited): the use case of ``PUT /v1/admin/calendar/{year}``. Raises ValidationFailed."""
    from .usecases import calendar_years
    from .validation import parse_json
    principal, origin = _cli_admin()
    body = parse_json(path.read_bytes())
    report = calendar_years.load_year(principal, origin, body, calendars=container.calendars(),
                                      cases=container.cases(), audit_log=container.audit_log())
    container.refresh_calendar()
    return report


def calendar_show(year: str | None) -> dict:
    """The loaded years (``GET /v1/admin/calendar``), or one year's schedule."""
    from .usecases import calendar_years
    principal, _ = _cli_admin()
    if year is None:
        return calendar_years.list_years(principal, calendars=container.calendars())
    return calendar_years.get_year(principal, year, calendars=container.calendars())


def main(argv: list[str] | None = None) -> int:
    """Run one command; exit status 0 on success, 1 when the input had problems (printed)."""
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_import = sub.add_parser("import-catalog")
    p_import.add_argument("file", type=Path)
    p_import.add_argument("--dry-run", action="store_true")
    p_import.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                          help="progress bar on stderr (default: only when stderr is a terminal)")
    p_export = sub.add_parser("catalog-export")
    p_export.add_argument("--format", choices=("xlsx", "csv", "gbt39046"), required=True)
    p_export.add_argument("out", type=Path)
    p_towns = sub.add_parser("import-townships")
    p_towns.add_argument("file", type=Path)
    p_item = sub.add_parser("item-put")
    p_item.add_argument("file", type=Path)
    p_item.add_argument("--if-match")
    p_retire = sub.add_parser("item-retire")
    p_retire.add_argument("code")
    p_retire.add_argument("--if-match")
    p_twp = sub.add_parser("township-settings")
    p_twp.add_argument("code")
    p_twp.add_argument("file", type=Path)
    p_twp.add_argument("--if-match")
    sub.add_parser("catalog-publish")
    p_seed = sub.add_parser("seed")
    p_seed.add_argument("directory", type=Path, nargs="?", default=Path(__file__).resolve().parent.parent / "data" / "seed")
    p_admin = sub.add_parser("create-admin")
    p_admin.add_argument("username")
    p_admin.add_argument("display_name")
    p_cal = sub.add_parser("calendar-load")
    p_cal.add_argument("file", type=Path)
    p_show = sub.add_parser("calendar-show")
    p_show.add_argument("year", nargs="?")
    p_code = sub.add_parser("wx-code")
    p_code.add_argument("openid")
    p_pub = sub.add_parser("publicity-regenerate")
    p_pub.add_argument("--township")
    p_pub.add_argument("--item")
    _add_deadline_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "deadline":
        try:
            out = deadline(args)
        except BadInput as error:
            print(f"错误：{error}", file=sys.stderr)
            return 2
        print(json.dumps(out, ensure_ascii=False, indent=1) if args.json else deadline_text(out))
        return 0
    try:
        if args.command == "import-catalog":
            bars = ProgressBars(args.progress)
            try:
                report = import_file(args.file, dry_run=args.dry_run, progress=bars)
            finally:
                bars.close()
            out = report.to_dict()
            if not args.dry_run and report.written:
                out["publicity"] = catalog_publish()
            print(json.dumps(out, ensure_ascii=False, indent=1))
            return 1 if report.errors or report.write_error else 0
        if args.command == "catalog-export":
            count = export_catalog(args.format, args.out)
            print(json.dumps({"format": args.format, "items": count, "file": str(args.out)}, ensure_ascii=False))
            return 0
        if args.command == "import-townships":
            records = json.loads(args.file.read_text(encoding="utf-8"))
            print(json.dumps(catalog_uc.import_townships(records, container.catalog()), ensure_ascii=False))
            return 0
        if args.command in ("item-put", "item-retire", "township-settings", "catalog-publish"):
            result = (item_put(args.file, args.if_match) if args.command == "item-put"
                      else item_retire(args.code, args.if_match) if args.command == "item-retire"
                      else township_settings(args.code, args.file, args.if_match)
                      if args.command == "township-settings" else catalog_publish())
            print(json.dumps(result, ensure_ascii=False, indent=1))
            return 0
        if args.command == "create-admin":
            import getpass
            import os
            password = os.environ.get("BIANMIN_ADMIN_PASSWORD") or getpass.getpass("密码（至少10位）: ")
            print(json.dumps(create_admin(args.username, args.display_name, password), ensure_ascii=False))
            return 0
        if args.command in ("calendar-load", "calendar-show"):
            result = calendar_load(args.file) if args.command == "calendar-load" else calendar_show(args.year)
            print(json.dumps(result, ensure_ascii=False, indent=1))
            return 0
        if args.command == "publicity-regenerate":
            from .usecases import publicity
            count = publicity.regenerate(container.catalog(), container.publicity_publisher(),
                                         township=args.township, item=args.item)
            print(json.dumps({"queued": count}))
            return 0
        if args.command == "wx-code":
            from . import settings
            from .adapters.wechat import mint_local_code
            if settings.STAGE != "local":
                print("wx-code only works against the local stack (BIANMIN_STAGE=local)", file=sys.stderr)
                return 2
            print(mint_local_code(args.openid))
            return 0
        for line in seed(args.directory):
            print(line)
        return 0
    except DomainError as error:
        print(json.dumps(error.to_dict(), ensure_ascii=False, indent=1), file=sys.stderr)
        return 1
    except OSError as error:  # a missing or unreadable file
        print(f"cannot read {error.filename}: {error.strerror}", file=sys.stderr)
        return 2
    except Exception as error:  # no credentials, endpoint down: say so without a traceback
        print(f"AWS error: {error}\n(for the local stack: make run, and export AWS_ENDPOINT_URL="
              "http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_DEFAULT_REGION=us-east-1)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
