"""Administrator command line: ``python -m chalicelib.cli <command>``.

Commands:
  import-catalog FILE [--dry-run]   import items from JSON (schemas/catalog_item.json) or the
                                    Guang'an CSV export; prints the report as JSON; exit 1 on errors
  import-townships FILE             import township settings (schemas/township.json)
  seed [DIR]                        townships.json + catalog_items.json from data/seed
  create-admin USERNAME NAME        create an administrator account (the first one, too); the
                                    password comes from $BIANMIN_ADMIN_PASSWORD or a prompt
  calendar-load FILE                load one year's holidays and make-up working days (JSON,
                                    schemas/calendar_year.json) and recompute the provisional
                                    due dates of that year; prints the report; exit 1 on problems
  calendar-show [YEAR]              the loaded years (and the missing ones), or one year
  wx-code OPENID                    local stage only: print a wx.login()-style code the local
                                    WeChat stand-in accepts for OPENID (valid 5 minutes, once)

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


def import_file(path: Path, dry_run: bool = False) -> catalog_uc.ImportReport:
    """Parse and import one catalog file. Raises ValidationFailed for an unreadable file."""
    records = catalog_uc.records_from_file(path.name, path.read_bytes())
    return catalog_uc.import_catalog(records, container.catalog(), dry_run=dry_run)


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
    p_towns = sub.add_parser("import-townships")
    p_towns.add_argument("file", type=Path)
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
    args = parser.parse_args(argv)
    try:
        if args.command == "import-catalog":
            report = import_file(args.file, dry_run=args.dry_run)
            print(json.dumps(report.to_dict(), ensure_ascii=False, indent=1))
            return 1 if report.errors or report.write_error else 0
        if args.command == "import-townships":
            records = json.loads(args.file.read_text(encoding="utf-8"))
            print(json.dumps(catalog_uc.import_townships(records, container.catalog()), ensure_ascii=False))
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
