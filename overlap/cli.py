"""The ``overlap`` command line: run, report, query, init, demo, sandbox serve.

Exit codes (README, "Exit codes"): 0 success, 1 the run failed (an audit or an unexpected
error), 2 bad input (config, CRM, options), 3 the warehouse is in use (another overlap run, or
a process holding the file open), 4 disk full — always as one readable line, never a
traceback. Progress goes to stderr; the paths a user wants (reports, warehouse) go to stdout.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from overlap import __version__
from overlap.errors import AuditFailed, DiskFull, InputError, WarehouseLocked
from overlap.warehouse import WarehouseBusy

if TYPE_CHECKING:
    from overlap.config import Config

DEMO_MARKER = ".overlap-demo"
EPILOG = """examples:
  overlap demo                                   generate an organisation and report on it
  overlap init my-org                            write an example config and CRM templates
  overlap check --config my-org/overlap.toml     what a run would read, and layout warnings
  overlap run --config my-org/overlap.toml       report on last week
  overlap run --config overlap.toml --week 2026-W47
  overlap run --config overlap.toml --start 2026-10-05 --end 2026-11-02
  overlap query --config overlap.toml "select * from overlap_weekly order by score desc limit 5"
  overlap sandbox serve --config overlap.toml --apis google --write-config sandbox.toml
  overlap crm check --config overlap.toml        what a CRM import would bring (read-only)
  overlap approve --config overlap.toml --account A1 --rep felix@corp.example --reason "…"
"""


def _progress(quiet: bool) -> Callable[[str], None]:
    start = time.monotonic()

    def emit(message: str) -> None:
        if not quiet:
            print(f"[{time.monotonic() - start:6.1f}s] {message}", file=sys.stderr, flush=True)

    return emit


def _weeks(args: argparse.Namespace, tz: ZoneInfo) -> list[date]:
    from overlap.weeks import last_full_week, parse_day, parse_week, weeks_between

    if args.week and (args.start or args.end):
        raise InputError("give either --week or --start/--end, not both", field="--week")
    if args.week:
        return [parse_week(args.week)]
    if args.start or args.end:
        if not (args.start and args.end):
            raise InputError("--start and --end go together (end is exclusive)", field="--end")
        return weeks_between(parse_day(args.start, "--start"), parse_day(args.end, "--end"))
    return [last_full_week(datetime.now(UTC), tz)]


def cmd_run(args: argparse.Namespace) -> int:
    from overlap.config import load_config
    from overlap.crm import parse_crm_as_of
    from overlap.pipeline import run

    config = load_config(args.config)
    weeks = _weeks(args, config.tz)
    as_of = parse_crm_as_of(args.crm_as_of, config.tz) if args.crm_as_of else None
    _warn_layout(config)
    result = run(config, weeks, progress=_progress(args.quiet), workers=args.workers,
                 crm_as_of=as_of)
    for _week, paths in sorted(result.reports.items()):
        print(paths.html)
    print(f"warehouse: {config.warehouse}", file=sys.stderr)
    print(f"analyst snapshot: {config.snapshot}", file=sys.stderr)
    if result.failed:
        print(f"warning: {len(result.failed)} extract(s) failed; the report shows the missing"
              " coverage:", file=sys.stderr)
        for line in result.failed:
            print(f"  {line}", file=sys.stderr)
    note = _no_data_note(config, result.weeks)
    if note:
        print(f"warning: {note}", file=sys.stderr)
    return 0


def _warn_layout(config: Config) -> None:
    """The layout and CRM warnings of ``overlap check`` (what a maildir extract reports itself
    is left to it), on stderr before the run starts. Reads the CRM once more: the run's own
    read happens inside the pipeline, and the warnings belong before the first extract."""
    from overlap.check import warnings
    from overlap.crm import load_crm

    found = warnings(config, load_crm(config), extract_errors=False)
    for line in found:
        print(f"warning: {line}", file=sys.stderr)
    if found:
        print(f"  (overlap check --config {config.path} lists what each mailbox holds)",
              file=sys.stderr)


def _no_data_note(config: Config, weeks: list[date]) -> str | None:
    """When the reported weeks hold no email or meeting: say so, and where the data is —
    from the warehouse, or, when the run's window read nothing at all, from the file sources
    read over all dates (headers only; this happens only on a run that found nothing)."""
    from collections import Counter

    import duckdb

    from overlap.check import no_data_message, source_span
    from overlap.crm import load_crm
    from overlap.weeks import iso_week_label

    con = duckdb.connect(str(config.snapshot), read_only=True)
    try:
        rows = con.execute(
            "select week_start, count(*), bool_or(list_contains($weeks, week_start))"
            " from interactions group by week_start", {"weeks": weeks}).fetchall()
    finally:
        con.close()
    if any(in_window for _, _, in_window in rows):
        return None
    if rows:
        return no_data_message(weeks, Counter({w: n for w, n, _ in rows}))
    span = source_span(config, load_crm(config), weeks)
    if span:
        return span
    label = ", ".join(iso_week_label(w) for w in weeks[:3]) + (" …" if len(weeks) > 3 else "")
    return (f"no email or meeting in the window {label}, and none read from the sources: "
            f"overlap check --config {config.path} shows what each mailbox holds")


def cmd_check(args: argparse.Namespace) -> int:
    from overlap.check import check
    from overlap.config import load_config

    config = load_config(args.config)
    lines, found = check(config, _weeks(args, config.tz))
    for line in lines:
        print(line)
    if found:
        print(f"\n{len(found)} warning{'s' if len(found) != 1 else ''}:")
        for line in found:
            print(f"  warning: {line}")
    else:
        print("\nno warnings")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from overlap.config import load_config
    from overlap.pipeline import report

    config = load_config(args.config)
    for _week, paths in sorted(report(config, _weeks(args, config.tz)).items()):
        print(paths.html)
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    from overlap.config import load_config
    from overlap.privacy.forget import forget

    config = load_config(args.config)
    done = forget(config, args.addresses, dry_run=args.dry_run, progress=_progress(args.quiet))
    verb = "would change" if done.dry_run else "changed"
    print(f"{verb}: {done.copies:,} raw copies ({done.emails:,} emails, {done.meetings:,}"
          f" meetings), {done.quarantined:,} quarantine rows, {done.frozen_weekly:,} frozen"
          f" weekly rows, {len(done.staged_files):,} staged files, {len(done.reports):,}"
          " report files")
    for line in done.warnings:
        print(f"warning: {line}", file=sys.stderr)
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    import duckdb

    from overlap.config import load_config

    config = load_config(args.config)
    db = config.snapshot if config.snapshot.exists() else None
    if db is None:
        raise InputError("no analyst snapshot yet: run `overlap run` first",
                         file=str(config.snapshot))
    con = duckdb.connect(str(db), read_only=True)
    try:
        rel = con.sql(args.sql)
    except duckdb.Error as exc:
        raise InputError(f"query failed: {exc}", field="SQL") from None
    if rel is None:
        return 0
    if args.csv:
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(rel.columns)
        writer.writerows(rel.fetchall())
    else:
        rel.show(max_rows=args.limit, max_width=200)
    con.close()
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from overlap.crm import write_init_templates

    dest = Path(args.dir)
    if dest.exists() and not dest.is_dir():
        hint = (f"; to use this config: overlap check --config {dest}"
                if dest.suffix == ".toml" else "")
        raise InputError("is a file: overlap init takes a folder and writes overlap.toml and "
                         f"crm/ into it (e.g. overlap init my-org){hint}", file=str(dest))
    if dest.suffix == ".toml":
        folder = dest.parent if dest.parent != Path() else Path("my-org")
        raise InputError("overlap init takes a folder, not a file name: it writes "
                         f"overlap.toml and crm/ into it (e.g. overlap init {folder})",
                         file=str(dest))
    for path in write_init_templates(Path(args.dir)):
        print(path)
    config = Path(args.dir) / "overlap.toml"
    print(f"next: edit {config}, then overlap check --config {config} (what a run would "
          f"read), then overlap run --config {config}", file=sys.stderr)
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    from overlap import approvals
    from overlap.config import load_config

    config = load_config(args.config)
    approval = approvals.Approval(args.account, args.rep, args.valid_from or "",
                                  args.valid_until or "", args.reason)
    path, line = approvals.append(config, approval)
    print(f"{path}:{line}: approved {approval.rep_email} on {approval.account_id} "
          f"({approval.valid_from or 'since always'} to {approval.valid_until or 'open'}); "
          "the next run applies it")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from overlap.config import load_config
    from overlap.pipeline import run
    from sandbox.generator import generate
    from sandbox.seed import seed_from_config
    from sandbox.serve import start_crm_sandbox, start_sandboxes, write_sandbox_config

    progress = _progress(args.quiet)
    out = Path(args.out).resolve()
    marker = out / DEMO_MARKER
    if out.exists() and any(out.iterdir()):
        if not marker.exists():
            raise InputError("folder exists, is not empty and holds no earlier demo; "
                             "choose another --out", file=str(out))
        progress(f"replacing the earlier demo in {out}")
        shutil.rmtree(out)
    progress(f"generating a synthetic organisation in {out} (seed {args.seed})")
    org = generate(out, seed=args.seed)
    marker.write_text("written by `overlap demo`; the folder is replaced on the next demo\n",
                      encoding="utf-8")
    file_config = load_config(org.config_path)
    seeds = seed_from_config(file_config)
    # A mixed company: half the mailboxes live in Google Workspace (gmail + google_calendar
    # through the Google sandbox), half in Microsoft 365 (msgraph through the Microsoft
    # sandbox, over HTTPS). Both sandboxes run in this process for the demo.
    servers = start_sandboxes(seeds, "mixed", secrets_dir=out / "sandbox-secrets")
    crm_server = None
    try:
        sources = []
        for server, boxes in servers:
            progress(f"sandbox on {server.url}: {len(boxes)} mailboxes")
            sources += server.sources(boxes)
        if args.crm:  # the CRM through its API sandbox too (docs/crm.md)
            crm_server = start_crm_sandbox(file_config, args.crm,
                                           secrets_dir=out / "sandbox-secrets")
            progress(f"{args.crm} CRM sandbox on {crm_server.url}")
        sandbox_toml = write_sandbox_config(
            file_config, sources, out / "sandbox.toml", suffix="",
            crm=crm_server.crm_config() if crm_server else None)
        config = load_config(sandbox_toml)
        result = run(config, list(org.weeks), progress=progress, workers=args.workers)
    finally:
        for server, _ in servers:
            server.stop()
        if crm_server is not None:
            crm_server.stop()
    if result.failed:
        for line in result.failed:
            print(f"warning: extract failed: {line}", file=sys.stderr)
    latest = max(result.reports)
    print(result.reports[latest].html)
    print(f"\nreports:   {config.out_dir}", file=sys.stderr)
    print(f"warehouse: {config.snapshot}  (read-only analyst snapshot)", file=sys.stderr)
    print(f"truth:     {org.ground_truth_path}  (the planted cases)", file=sys.stderr)
    print(f"configs:   {sandbox_toml} (through the Google and Microsoft APIs, as run) and "
          f"{org.config_path} (the same data as files)", file=sys.stderr)
    example = '"select * from overlap_weekly order by score desc limit 10"'
    print(f"try:       overlap query --config {sandbox_toml} {example}", file=sys.stderr)
    return 0


def cmd_crm_check(args: argparse.Namespace) -> int:
    """``overlap crm check``: read and validate the CRM (files or API), print what an import
    would bring; writes nothing."""
    from overlap.config import load_config
    from overlap.crm import describe_crm, load_crm

    config = load_config(args.config)
    for line in describe_crm(load_crm(config), config):
        print(line)
    return 0


def cmd_sandbox_serve(args: argparse.Namespace) -> int:
    import signal
    import threading

    from overlap.config import load_config
    from sandbox.serve import (
        fidelity_of,
        file_sources,
        seeds_of,
        split_apis,
        start_crm_sandbox,
        start_sandboxes,
        write_sandbox_config,
    )

    config = load_config(args.config)
    fidelity = fidelity_of(args.ideal, args.real)
    mail, crm = split_apis(args.apis)
    seeds = seeds_of(config) if mail else {}
    target = Path(args.write_config).resolve()
    secrets_dir = target.parent / (target.stem + "-secrets")
    servers = start_sandboxes(seeds, mail, secrets_dir=secrets_dir, host=args.host,
                              fidelity=fidelity) if mail else []
    stop = threading.Event()
    crm_server = None
    try:
        if crm:
            crm_server = start_crm_sandbox(config, crm, secrets_dir=secrets_dir, host=args.host)
        sources = [src for server, boxes in servers for src in server.sources(boxes)] \
            if mail else file_sources(config)
        write_sandbox_config(config, sources, target,
                             crm=crm_server.crm_config() if crm_server else None)
        if crm_server is not None:
            print(f"{crm_server.url}  {crm} CRM", flush=True)
        for server, boxes in servers:
            print(f"{server.url}  {len(boxes)} mailboxes", flush=True)
        print(f"config: {target}  (run: overlap run --config {target})", file=sys.stderr)
        print(f"secrets: {secrets_dir}  (sandbox keys; not real credentials)", file=sys.stderr)
        print(f"shapes: {fidelity.describe()}", file=sys.stderr)
        print("serving until interrupted (Ctrl-C)", file=sys.stderr, flush=True)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(0.5):
            pass
    finally:
        for server, _ in servers:
            server.stop()
        if crm_server is not None:
            crm_server.stop()
    print("sandbox stopped", file=sys.stderr)
    return 0


def _week_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="path to overlap.toml")
    p.add_argument("--week", help="ISO week, e.g. 2026-W47 (default: last full week)")
    p.add_argument("--start", help="first day (YYYY-MM-DD); every ISO week touching "
                                   "[start, end) is reported")
    p.add_argument("--end", help="end day, exclusive (YYYY-MM-DD)")


def _add_week_commands(sub: Any) -> None:
    """The commands of one or more weeks: run, check, report."""
    p = sub.add_parser("run", help="extract, load, model and report one or more weeks",
                       description="Extract every source × mailbox (with dormant_days of "
                                   "history), load the warehouse, apply the rules, write the "
                                   "reports and the analyst snapshot. Prints report paths.")
    _week_options(p)
    p.add_argument("--workers", type=int, default=None,
                   help="parallel extract processes (default: one per core)")
    p.add_argument("--crm-as-of", metavar="WHEN",
                   help="when the CRM files were exported: a date (00:00 in the company zone) "
                        "or an ISO timestamp with offset (default: now; never the weeks run)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check", help="what a run would read, and layout warnings (read-only)",
                       description="Validate the config and the CRM, list every source × "
                                   "mailbox with its files, messages and date range and what a "
                                   "run of the week(s) would read, and warn about layout and CRM "
                                   "mistakes (a maildir without cur/ or new/, files no source "
                                   "reads, a mailbox that is not a rep, an owner who is not a "
                                   "rep). Reads headers only; writes nothing. Run it before the "
                                   "first real run.")
    _week_options(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("report", help="re-render reports from the warehouse (no extract)",
                       description="Render the weekly report, the owner digests and the CSV "
                                   "of the week(s) again from the warehouse, without extracting "
                                   "anything (e.g. after a template change). Prints the report "
                                   "paths.")
    _week_options(p)
    p.set_defaults(func=cmd_report)


def _add_people_commands(sub: Any) -> None:
    """Acting on people: forget (erasure), approve (a manager's approval)."""
    p = sub.add_parser("forget", help="erase people (addresses) from the warehouse, staged"
                       " files, reports, snapshot and marts (docs/privacy.md)")
    p.add_argument("--config", required=True, help="path to overlap.toml")
    p.add_argument("addresses", nargs="+", metavar="ADDRESS")
    p.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_forget)

    p = sub.add_parser("approve", help="approve a rep's work on an account (approvals.csv)",
                       description="Append one row to [crm] approvals (creating the file with "
                                   "its header): the rep may work the account over "
                                   "[--from, --until) and its events are shown as approved "
                                   "collaboration, not risk. Other rows are never rewritten. "
                                   "The report shows this command, filled in, beside each "
                                   "risk row.")
    p.add_argument("--config", required=True, help="path to overlap.toml")
    p.add_argument("--account", required=True, help="account_id as in accounts.csv")
    p.add_argument("--rep", required=True, help="the rep's address (or an alias)")
    p.add_argument("--from", dest="valid_from", metavar="DATE",
                   help="first day (YYYY-MM-DD, or ISO timestamp with offset; default: since "
                        "always)")
    p.add_argument("--until", dest="valid_until", metavar="DATE",
                   help="end, exclusive (default: open)")
    p.add_argument("--reason", required=True, help="why, shown in the report")
    p.set_defaults(func=cmd_approve)


def _add_tool_commands(sub: Any) -> None:
    """Analysts' and operators' tools: query, init, demo, sandbox, crm."""
    p = sub.add_parser("query", help="run SQL on the read-only analyst snapshot",
                       description="Run one SQL statement on the read-only analyst snapshot "
                                   "(the views of the README's \"Analyst views\") and print "
                                   "the result as a table or CSV. Never blocks a running "
                                   "pipeline.")
    p.add_argument("--config", required=True, help="path to overlap.toml")
    p.add_argument("sql", help="SQL, e.g. \"select * from overlap_weekly limit 5\"")
    p.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    p.add_argument("--limit", type=int, default=40, help="rows to show (table output)")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("init", help="write an example overlap.toml and CRM templates",
                       description="Write an example overlap.toml, crm/*.csv templates and an "
                                   "empty exports/ folder into a folder (created if needed). "
                                   "Existing files are never overwritten.")
    p.add_argument("dir", help="folder to write into, e.g. my-org (not a file name)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("demo", help="generate a synthetic organisation and run the whole job",
                       description="Generate a synthetic organisation with planted cases of "
                                   "every rule, serve its mailboxes through the embedded Google "
                                   "and Microsoft API sandboxes on 127.0.0.1, run the whole job "
                                   "on them and print the latest report's path. The --out "
                                   "folder is replaced on the next demo.")
    p.add_argument("--out", default="demo", help="folder for the demo (default: ./demo)")
    p.add_argument("--seed", type=int, default=7, help="generator seed (default: 7)")
    p.add_argument("--workers", type=int, default=None, help="parallel extract processes")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.add_argument("--crm", choices=["salesforce", "hubspot"], default=None,
                   help="read the CRM through this CRM's API sandbox instead of the CSV files")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sandbox", help="serve a file-based config's mailboxes as API sandboxes")
    sandbox_sub = p.add_subparsers(dest="sandbox_command", required=True, metavar="ACTION")
    s = sandbox_sub.add_parser(
        "serve", help="serve the mailboxes until stopped and write a config that reads them",
        description="Serve the mailboxes of a file-based config (its maildir/mbox/eml/ics "
                    "sources are the seed) through the API sandboxes on free local ports, and "
                    "write a config with the same company, CRM and rules whose sources read "
                    "them (warehouse and report paths get a -sandbox suffix). Serves until "
                    "SIGINT/SIGTERM.")
    s.add_argument("--config", required=True, help="the file-based overlap.toml")
    s.add_argument("--apis", default="google", metavar="API[,CRM]",
                   help="which APIs serve the mailboxes: google, microsoft or mixed (alternate "
                        "by address), and/or the CRM: salesforce or hubspot (e.g. "
                        "google,salesforce; a CRM alone keeps the file sources)")
    s.add_argument("--write-config", required=True, help="where to write the sandbox config")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on")
    s.add_argument("--ideal", metavar="SHAPE[,SHAPE]",
                   help="serve these real-API shapes idealised, for diagnosis (or 'all'; "
                        "names in docs/sandbox.md)")
    s.add_argument("--real", metavar="SHAPE[,SHAPE]",
                   help="serve these real-API shapes even where the default idealises them")
    s.set_defaults(func=cmd_sandbox_serve)

    p = sub.add_parser("crm", help="the CRM: check what an import would bring")
    crm_sub = p.add_subparsers(dest="crm_command", required=True, metavar="ACTION")
    c = crm_sub.add_parser(
        "check", help="read and validate the CRM (files or API) and print what would be "
                      "imported, writing nothing",
        description="Read the CRM named in [crm] (CSV files, or Salesforce / HubSpot through "
                    "their API) with the import's validation, and print counts, accounts "
                    "without domains, owners who are not reps and the owner history's "
                    "coverage. Nothing is written.")
    c.add_argument("--config", required=True, help="overlap.toml")
    c.set_defaults(func=cmd_crm_check)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="overlap",
        description="Find backdoor selling: reps meeting or mailing an account's people while "
                    "the account owner is left out. Reads mail and meeting metadata only.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"overlap {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_week_commands(sub)
    _add_people_commands(sub)
    _add_tool_commands(sub)
    return parser


EXIT_BUSY = 3  # the warehouse is in use: retry later, nothing was changed
EXIT_DISK_FULL = 4


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _StderrHandler(logging.Handler):
    """Writes to the current ``sys.stderr`` (not the one at creation: tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(self.format(record), file=sys.stderr, flush=True)


LIBRARY_LOGGER = "overlap.libraries"


def route_library_warnings(quiet: bool) -> None:
    """Python warnings raised by libraries (icalendar's guesses at vendor TZIDs, …) become one
    log line each on stderr through the ``overlap.libraries`` logger — none with ``-q``.
    Extract worker processes are forked from the CLI and inherit this."""
    logger = logging.getLogger(LIBRARY_LOGGER)
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("overlap: library warning: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.ERROR if quiet else logging.WARNING)

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: object = None, line: str | None = None) -> None:
        logger.warning("%s: %s", category.__name__, _one_line(str(message)))

    warnings.showwarning = show


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    route_library_warnings(bool(getattr(args, "quiet", False)))
    try:
        return int(args.func(args))
    except InputError as exc:
        print(f"overlap: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except (WarehouseLocked, WarehouseBusy) as exc:
        print(f"overlap: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_BUSY
    except AuditFailed as exc:
        print(f"overlap: the model failed its audit {exc.audit} ({exc.rows} row(s)); "
              "nothing was published. Please report this with the audit name.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("overlap: interrupted; the warehouse keeps its previous state", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("OVERLAP_DEBUG"):
            raise
        full = DiskFull.of(exc)
        if full is not None:  # raised as DiskFull by the pipeline's steps, or found here
            print(f"overlap: {_one_line(str(full))}", file=sys.stderr)
            return EXIT_DISK_FULL
        print(f"overlap: internal error: {type(exc).__name__}: {_one_line(str(exc))} "
              "(set OVERLAP_DEBUG=1 for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
