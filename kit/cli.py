"""The `saikit` command line. Each subcommand is a thin shell over one kit function."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from kit import __version__
from kit.errors import InputError, escape_unsafe
from kit.vocab import STATUSES


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status (0 ok, 1 findings need action / run failed, 2 bad input)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args) or 0
    except InputError as exc:
        for problem in exc.shown:
            print(f"error: {problem}", file=sys.stderr)
        if exc.more:
            print(f"error: {exc.more}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`saikit threats | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a path given on the command line that cannot be read or written
        path = exc.filename2 or exc.filename  # a copy or rename names its target second
        where = f"{path}: " if path else ""
        print(escape_unsafe(f"error: {where}{exc.strerror or exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="saikit",
        description="Threat modelling and ETSI TS 104 223 governance for AI systems.",
    )
    p.add_argument("--version", action="version", version=f"saikit {__version__}")
    sub = p.add_subparsers(metavar="COMMAND")

    def command(name: str, func, help: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help, description=help)
        c.set_defaults(func=func)
        return c

    c = command("check", cmd_check, "validate a system file and summarise it")
    _system_arg(c)
    _library_arg(c)
    c = command("threats", cmd_threats, "print the risk register, highest residual risk first")
    _system_arg(c)
    _library_arg(c)
    c.add_argument("--all", action="store_true", help="show every finding, not the top 25")
    c.add_argument(
        "--why-not",
        metavar="THREAT",
        help="say why THREAT is not raised on each asset it could attach to, and what would raise it",
    )
    c = command(
        "check-library",
        cmd_check_library,
        "load the threat library, run every threat's fires/quiet examples, check its references",
    )
    _library_arg(c)
    c = command(
        "comply",
        cmd_comply,
        "assess the ETSI provisions for the roles held; print summary and gaps",
    )
    _system_arg(c)
    _library_arg(c)
    _out_arg(c)
    c.add_argument("--role", help="only this role (one the system holds)")
    c.add_argument(
        "--csv", metavar="PATH", help="also write the table (one row per provision and role)"
    )
    c = command("run", cmd_run, "run the workbook with papermill; only what the changes make stale")
    _system_arg(c)
    _library_arg(c)
    _out_arg(c)
    c.add_argument("--jobs", type=int, default=2, help="notebooks run at once (default 2)")
    c.add_argument("--force", action="store_true", help="run every notebook even if unchanged")
    c.add_argument("--timeout", type=int, default=600, help="seconds a notebook cell may take")
    c.add_argument(
        "--notebooks",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of your own notebooks to run beside the workbook (repeatable)",
    )
    c = command("runs", cmd_runs, "list the runs of a system")
    _system_arg(c)
    _out_arg(c)
    c = command("diff", cmd_diff, "what changed in the risk picture between two runs")
    c.add_argument("a", nargs="?", help="older run (default: the one before B)")
    c.add_argument("b", nargs="?", help="newer run (default: the latest)")
    c.add_argument("--system", help="system file (default: the bundled example)")
    _out_arg(c)
    c = command("audit", cmd_audit, "verify the hash-chained audit trail")
    c.add_argument("action", choices=["verify", "show"])
    _system_arg(c)
    _out_arg(c)
    c.add_argument(
        "--expect",
        metavar="HASH",
        help="verify: the trail must still hold this entry (a head `saikit run` printed and you "
        "kept elsewhere); newer entries must follow from it",
    )
    c = command("lab", cmd_lab, "open the workshop on a system in JupyterLab (loopback only)")
    _system_arg(c)
    _library_arg(c)
    _out_arg(c)
    c.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    c.add_argument("--no-browser", action="store_true", help="print the URL, open no browser")
    command("schema", cmd_schema, "print the JSON Schema of system files")
    c = command("init", cmd_init, "write a commented starter system file")
    c.add_argument("--template", required=True, help=f"starter name: {_starter_names()}")
    c.add_argument("path", nargs="?", help="where to write it (default: <template>.yaml)")
    c.add_argument("--force", action="store_true", help="overwrite an existing file")
    c = command("graph", cmd_graph, "summarise the asset graph's analyses; optionally draw it")
    _system_arg(c)
    _library_arg(c)
    c.add_argument("--png", metavar="PATH", help="also write the picture of the graph")
    c = command(
        "hash", cmd_hash, "hash every asset's artifact, record new hashes, report changed ones"
    )
    _system_arg(c)
    _library_arg(c)
    c.add_argument(
        "--update", action="store_true", help="accept changed hashes: record the new values"
    )
    c = command("export", cmd_export, "write the system, or a published run, in another format")
    c.add_argument("format", choices=sorted(EXPORTERS), help="what to write")
    c.add_argument(
        "system",
        nargs="?",
        metavar="SYSTEM|RUN",
        help="bom, graphml: the system file (default: the bundled support-assistant); "
        f"{', '.join(RUN_EXPORTS)}: the run, by id, id prefix, folder or 'latest' "
        "(the default), or a system file (its latest run)",
    )
    _library_arg(c)
    c.add_argument(
        "--out",
        metavar="PATH",
        help="where to write it (default: <runs>/exports/<run-id>/; for bom and graphml, "
        "that of the latest run when it is of this configuration, else "
        "<runs>/exports/config-<hash>/)",
    )
    c.add_argument(
        "--timestamp",
        metavar="ISO-8601",
        help="time to stamp on the export (default: $SOURCE_DATE_EPOCH, else none)",
    )
    c.add_argument(
        "--system",
        dest="system_file",
        metavar="FILE",
        help="for a run: the system whose runs to look in (default: the bundled example)",
    )
    c.add_argument(
        "--runs",
        metavar="DIR",
        help="the run store to look in (and, for bom and graphml, to write and audit in; "
        "default: ./runs/<system id>)",
    )
    c.add_argument("--no-pdf", dest="pdf", action="store_false", help="report: write the HTML only")
    c.add_argument(
        "--role",
        help="briefing: who it is for, a role the system holds or end_user (Principle 1)",
    )
    c.add_argument(
        "--all",
        action="store_true",
        help="sarif: every finding, not only those above the appetite without a decision",
    )
    c = command("library", cmd_library, "the threat library: coverage of the pinned taxonomies")
    c.add_argument("action", choices=["coverage"])
    _library_arg(c)
    c.add_argument("--out", metavar="PATH", help="write the Markdown matrix here, not to stdout")
    c = command("import", cmd_import, "a starter system file from another tool's file")
    c.add_argument("format", choices=IMPORTERS, help="what the file is")
    c.add_argument("file", help="the file to read (JSON)")
    c.add_argument("--out", required=True, metavar="PATH", help="the system file to write")
    c.add_argument("--force", action="store_true", help="overwrite an existing file")
    _portfolio_command(command)
    return p


def _starter_names() -> str:
    """The starters `saikit init` has, for its --help."""
    from kit.resources import starters

    return ", ".join(starters())


def _portfolio_command(command) -> None:
    c = command(
        "portfolio",
        cmd_portfolio,
        "run every system file under the folders, then write one dashboard over all of them",
    )
    c.add_argument("dirs", nargs="+", metavar="DIR", help="folders of system files (or files)")
    _library_arg(c)
    c.add_argument(
        "--runs",
        "--out",
        dest="out",
        metavar="STORE",
        help="portfolio store (default: ./portfolio)",
    )
    c.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    c.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on this Dask cluster (tcp://HOST:PORT) instead of local processes; "
        "needs pip install 'saikit[dask]' and the files at the same paths on every worker",
    )
    c.add_argument("--force", action="store_true", help="run every notebook even if unchanged")


def _system_arg(c: argparse.ArgumentParser) -> None:
    c.add_argument("system", nargs="?", help="system file (default: the bundled support-assistant)")


def _out_arg(c: argparse.ArgumentParser) -> None:
    # `--runs` names the run store in every command (as in `export --runs`); `--out`, its old
    # name here, stays as a hidden alias so existing scripts keep working.
    c.add_argument(
        "--runs", dest="out", metavar="DIR", help="run store (default: ./runs/<system id>)"
    )
    c.add_argument("--out", dest="out", help=argparse.SUPPRESS)


def _library_arg(c: argparse.ArgumentParser) -> None:
    c.add_argument(
        "--library",
        action="append",
        default=[],
        metavar="DIR",
        help="an extra threat-library directory (repeatable)",
    )


def system_path(args) -> Path:
    from kit.resources import default_system

    return Path(args.system) if args.system else default_system()


def load(args):
    """Load the system named on the command line, checked against the library and catalogue."""
    from kit.inputs import load_checked

    return load_checked(system_path(args), getattr(args, "library", []))


def cmd_check(args) -> int:
    from kit.model.schema import summary

    model, _ = load(args)
    s = summary(model)
    print(f"{system_path(args)}: ok — {s['system']}")
    print(
        f"  assets: {sum(s['assets'].values())} ({', '.join(f'{k} {v}' for k, v in s['assets'].items())})"
    )
    print(
        f"  flows: {s['flows']}  controls: {s['controls']}  attestations: {s['attestations']}  "
        f"decisions: {s['decisions']}"
    )
    return 0


def cmd_lab(args) -> int:
    from kit.workshop.lab import run_lab

    return run_lab(
        args.system,
        port=args.port,
        open_browser=not args.no_browser,
        out=args.out,
        library_dirs=args.library,
    )


def cmd_schema(args) -> int:
    from kit.model.schema import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def cmd_init(args) -> int:
    from kit.errors import did_you_mean, fail
    from kit.files import write_atomic
    from kit.resources import starters

    available = starters()
    if args.template not in available:
        raise fail(
            "--template",
            None,
            "",
            f"unknown template '{args.template}'"
            f"{did_you_mean(args.template, available)}; available: {', '.join(sorted(available))}",
        )
    target = Path(args.path or f"{args.template}.yaml")
    if os.path.lexists(target) and not args.force:
        raise fail(str(target), None, "", "file exists; pass --force to overwrite it")
    write_atomic(target, available[args.template].read_text(encoding="utf-8"), make_folder=False)
    print(f"wrote {target} from the '{args.template}' starter; next: saikit check {target}")
    return 0


def cmd_threats(args) -> int:
    from kit.analysis import analyse_model

    model, library = load(args)
    if args.why_not:
        return _why_not(model, library, args.why_not)
    result = analyse_model(model, library)
    reg = result.register
    shown = reg if args.all else reg.head(25)
    print(f"{model.system.name}: {len(reg)} findings, risk appetite {model.system.risk_appetite}")
    print(
        table(
            shown,
            ["residual_band", "residual_score", "inherent_score", "finding_id", "treatment"],
            ["residual", "score", "inherent", "finding", "treatment"],
        )
    )
    if len(shown) < len(reg):
        print(f"... {len(reg) - len(shown)} more (--all)")
    for d in result.assessment.stale_decisions:
        print(
            f"note: decision for '{d.finding}' matches no finding raised now; review or remove it"
        )
    for fid in result.assessment.overdue_reviews:
        print(f"note: accepted risk '{fid}' is past its review date")
    from kit.risk.scoring import needing_decision_sentence

    print(needing_decision_sentence(reg["treatment"]))
    return 0


def _why_not(model, library, threat_id: str) -> int:
    from kit.errors import did_you_mean
    from kit.graph import build
    from kit.threats.engine import why_not

    if threat_id not in library.threats:
        print(
            escape_unsafe(
                f"error: --why-not: unknown threat '{threat_id}'"
                f"{did_you_mean(threat_id, library.threats)}"
            ),
            file=sys.stderr,
        )
        return 2
    print(f"{threat_id} on {model.system.name}:")
    for line in why_not(build(model), library, threat_id):
        print(escape_unsafe(f"  {line}"))
    return 0


def cmd_check_library(args) -> int:
    from kit.threats.coverage import unknown_references
    from kit.threats.examples import check_examples, example_counts
    from kit.threats.library import load_library
    from kit.threats.taxonomy import load_taxonomies

    library = load_library(args.library)
    problems = check_examples(library) + unknown_references(library, load_taxonomies())
    counts = example_counts(library)
    fires, quiet = sum(f for f, _ in counts.values()), sum(q for _, q in counts.values())
    bare = sorted(t for t, (f, q) in counts.items() if not f or not q)
    print(
        f"{len(library.threats)} threats, {len(library.controls)} controls; examples: {fires} "
        f"that must fire, {quiet} that must stay quiet"
    )
    for tid in bare:
        print(f"note: {tid} has no {'fires' if not counts[tid][0] else 'quiet'} example")
    if problems:
        raise InputError(problems)
    return 0


def cmd_comply(args) -> int:
    from kit.analysis import analyse_model
    from kit.compliance.assessment import assess, gaps, summary, totals, write_csv
    from kit.errors import did_you_mean, fail

    model, library = load(args)
    roles = [*model.system.roles, "end_user"]  # End-users' duties are listed too (5.2.1-4)
    if args.role and args.role not in roles:
        raise fail(
            "--role",
            None,
            "",
            f"'{args.role}' is not a role this system holds"
            f"{did_you_mean(args.role, roles)}; roles held: {', '.join(roles)}",
        )
    facts = _run_facts(args, model)
    df = assess(analyse_model(model, library), facts)
    if args.role:
        df = df[df["role"] == args.role].reset_index(drop=True)
    written = write_csv(df, args.csv) if args.csv else None
    last = facts.last_run_time if facts else None
    print(
        f"{model.system.name}: {df['provision'].nunique()} provisions × "
        f"{df['role'].nunique()} role(s); run history: {f'last run {last:%Y-%m-%d}' if last else 'none'}"
    )
    s = summary(df).assign(principle=lambda d: "P" + d["principle"].astype(str))
    counts = list(STATUSES)
    print(
        table(
            s,
            ["principle", "role", *counts],
            ["principle", "role", "met", "partial", "not met", "n.a.", "not assessed"],
        )
    )
    rolled = totals(df)
    print(
        f"provisions ({sum(rolled.values())}, each at its worst status across the roles it binds): "
        + ", ".join(f"{k} {rolled[k]}" for k in counts)
    )
    g = gaps(df)
    print(f"\ngaps ({len(g)}), shall before should, in lifecycle order:")
    if len(g):
        print(
            table(
                g,
                ["provision", "role", "modal", "status", "source", "reason"],
                ["provision", "role", "modal", "status", "source", "reason"],
            )
        )
    if written:
        print(f"wrote {written} ({len(df)} rows)")
    return 0


def _run_facts(args, model):
    """Run-history facts from the system's run store, or None when it has no audit trail."""
    from kit import audit
    from kit.compliance.facts import run_facts
    from kit.inputs import config_sha256
    from kit.runs.store import store_for

    store = store_for(model.system.id, args.out)
    if not store.audit_path.exists():
        return None
    return run_facts(audit.read(store.audit_path), model, config_sha256(model))


def table(df, columns: list[str], headers: list[str]) -> str:
    """A plain fixed-width text table of some columns of a DataFrame."""
    rows = [headers] + [[str(v) for v in r] for r in df[columns].itertuples(index=False)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _store(args, system_arg: str = "system"):
    from kit.resources import default_system
    from kit.runs.store import store_for_file

    path = getattr(args, system_arg, None)
    return store_for_file(Path(path) if path else default_system(), args.out)


def cmd_run(args) -> int:
    from kit.runs.runner import progress_printer, run

    result = run(
        system_path(args),
        out=args.out,
        jobs=args.jobs,
        force=args.force,
        library_dirs=args.library,
        notebook_dirs=args.notebooks,
        progress=progress_printer(),
        timeout=args.timeout,
    )
    for note in result.notes:
        print(f"note: {note}")
    head = _audit_head(result.run_dir.parent)
    if result.status == "up to date":
        print(f"up to date: nothing changed since run {result.run_dir.name}; no notebook executed")
        print(head)
        return 0
    for change in result.changes[:20]:
        print(f"  change: {change}")
    if result.status == "failed":
        for f in result.failures:
            print(f"error: notebook {f.name} failed at {f.error}", file=sys.stderr)
        print(
            f"run failed; the executed notebooks are in {result.run_dir}; latest is unchanged",
            file=sys.stderr,
        )
        print(head)
        return 1
    print(f"published {result.run_dir} (ran {len(result.ran)}, reused {len(result.skipped)})")
    print(head)
    return 0


def _audit_head(store_root: Path) -> str:
    """'audit head: <hash>', the newest entry of a store's trail, for the user to keep elsewhere
    and give to `saikit audit verify --expect` later."""
    from kit import audit
    from kit.runs.store import Store

    newest = audit.newest(Store(store_root).audit_path)
    return f"audit head: {newest['hash'] if newest else 'none'}"


def cmd_runs(args) -> int:
    store = _store(args)
    latest = store.latest()
    runs = store.runs()
    if not runs:
        print(f"no runs in {store.root}; start with: saikit run")
        return 0
    from kit.risk.scoring import needing_decision
    from kit.runs.rundata import RunData

    owner = store.owner()
    if owner:
        print(f"runs of {owner}{'' if owner.exists() else ' (file no longer there)'}")
    for r in runs:
        run = RunData(r)
        m, findings = run.manifest, run.findings
        actions = needing_decision(f["treatment"] for f in findings.values())["open"]
        mark = "*" if latest and r.name == latest.name else " "
        print(
            f"{mark} {r.name}  config {m['config_sha256'][:12]}  ran {len(m['notebooks_run'])}"
            f"  reused {len(m['notebooks_skipped'])}  findings {len(findings)}  open actions {actions}"
        )
    return 0


def cmd_diff(args) -> int:
    from kit.runs.diff import diff_runs, render_diff

    if args.a and _is_system_file(args.a):  # `saikit diff system.yaml [A] [B]`
        if args.system:
            from kit.errors import fail

            raise fail(args.a, None, "", "a system file given twice (also --system)")
        args.system, args.a, args.b = args.a, args.b, None
        if args.a and not args.b:  # `saikit diff system.yaml B`: B against the one before
            args.a, args.b = None, args.a
    store = _store(args, "system")
    b = store.resolve(args.b, -1)
    a = store.resolve(args.a, -2) if args.a else _before(store, b)
    print(f"runs of {args.system or 'the bundled example'} in {store.root}")
    print(render_diff(diff_runs(a, b)))
    return 0


def _is_system_file(name: str) -> bool:
    """Whether a name given where a run is expected is a system file rather than a run."""
    p = Path(name)
    return p.is_file() or (p.suffix.lower() in (".yaml", ".yml") and not p.is_dir())


def _before(store, run):
    from kit.errors import fail

    runs = store.runs()
    older = [r for r in runs if r.name < run.name]
    if not older:
        raise fail(str(store.root), None, "", f"no run before {run.name} to compare with")
    return older[-1]


def cmd_audit(args) -> int:
    import re

    from kit import audit
    from kit.errors import fail

    store = _store(args)
    if args.expect is not None and args.action != "verify":
        raise fail("--expect", None, "", "only `saikit audit verify` takes a head to expect")
    if args.expect is not None and not re.fullmatch(audit.HASH_PATTERN, args.expect):
        raise fail(
            "--expect",
            None,
            "",
            f"'{args.expect}' is not an audit hash: give the 64 lower-case hex digits "
            "`saikit run` printed as 'audit head'",
        )
    if args.action == "show":
        for e in audit.read(store.audit_path):
            print(
                escape_unsafe(
                    f"{e.get('seq', '?'):>4}  {e.get('time', '?')}  {e.get('user', '?')}  "
                    f"{e.get('event', '?')}  {e.get('status', '')}"
                    f"  {e.get('run', '')}  {'; '.join(e.get('changes', [])[:3])}"
                )
            )
        return 0
    breaks, notes = store.verify(args.expect)
    for note in notes:
        print(escape_unsafe(f"note: {store.root}: {note}"))
    if breaks:
        for b in breaks:
            print(escape_unsafe(f"error: {store.audit_path}: {b}"), file=sys.stderr)
        return 1
    entries = audit.read(store.audit_path)
    summary = (
        f"{store.audit_path}: {len(entries)} entries, chain intact, every run "
        f"({len(store.runs())}) matches its record; audit head: "
        f"{entries[-1]['hash'] if entries else 'none'}"
    )
    if args.expect:
        [seq] = [e["seq"] for e in entries if e["hash"] == args.expect]
        newer = len(entries) - seq
        after = f"{newer} entr{'y' if newer == 1 else 'ies'} after it" if newer else "the newest"
        summary += f"; expected head found at seq {seq}, {after}"
    print(summary)
    return 0


def cmd_graph(args) -> int:
    from kit.graph import build
    from kit.graph.analyses import analyses

    model, _ = load(args)
    g = build(model)
    results = analyses(g)
    print(f"{model.system.name}: {len(model.assets)} assets, {len(model.flows)} flows")
    for name, found in results.items():
        print(f"\n{name.replace('_', ' ')}: {len(found) or 'none'}")
        if isinstance(found, dict):
            for asset, items in found.items():
                print(f"  {asset}: {'; '.join(items)}")
        else:
            for c in found:
                weak = [w for w in ("authenticated", "encrypted") if not c[w]]
                print(f"  {c['flow']}{'  (not ' + ' or '.join(weak) + ')' if weak else ''}")
    if args.png:
        import io

        from kit.files import write_atomic
        from kit.graph.plots import draw_graph

        png = io.BytesIO()
        fig = draw_graph(g, gaps=results["inventory_gaps"])
        fig.savefig(png, format="png", dpi=120)
        written = write_atomic(Path(args.png), png.getvalue(), make_folder=False)
        w, h = (round(v * 120) for v in fig.get_size_inches())
        print(f"\nwrote {written.resolve()} (PNG picture of the asset graph, {w} × {h} px)")
    return 0


def cmd_hash(args) -> int:
    from kit.model.hashes import check_artifacts, record_hashes

    model, _ = load(args)
    path = system_path(args)
    checks = check_artifacts(path, model)
    if not checks:
        print(f"{path}: no asset names an artifact file; nothing to hash")
        return 0
    for c in checks:
        if c.status == "changed":
            what = f"expected {c.expected[:12]}… ({c.expected_from}), now {c.sha256[:12]}…"
        elif c.status in ("missing", "unreadable"):
            what = c.detail or "file not found"
        else:
            what = c.sha256
        print(f"{c.status:<10}  {c.asset}  {c.path}  {what}")
    sidecar = record_hashes(path, model, checks, update=args.update)
    print(f"recorded in {sidecar}")
    # --update accepts a change against the record; a hash written in the system file stays
    # the expected value until someone edits the file.
    problems = [
        c
        for c in checks
        if c.finding_id
        and not (args.update and c.status == "changed" and c.expected_from == "record")
    ]
    for c in problems:
        hint = "; update sha256 in the system file" if c.expected_from == "system file" else ""
        print(f"finding: {c.finding_id}{hint}")
    return 1 if problems else 0


def cmd_export(args) -> int:
    if args.format in INTERCHANGE_EXPORTS:  # other tools' formats, from a system file or a run
        for path in _export_interchange(args):
            print(f"wrote {path}")
        return 0
    if args.format in RUN_EXPORTS:  # these read a published run, not the system file
        target = _export_run(args)
    else:
        model, library = load(args)
        target = EXPORTERS[args.format](args, model, library)
    written = target if isinstance(target, list) else [target]
    for path in written:
        print(f"wrote {path}")
    if args.format == "report" and args.pdf and not any(p.suffix == ".pdf" for p in written):
        from kit.export.pdf import PDF_HOWTO

        print(f"note: the PDF was skipped: {PDF_HOWTO}")
    return 0


def export_timestamp(args):
    """The --timestamp of an export (or $SOURCE_DATE_EPOCH) as an aware datetime, or None."""
    import datetime as dt
    import os

    from kit.errors import fail

    if args.timestamp:
        try:
            stamp = dt.datetime.fromisoformat(args.timestamp)
        except ValueError:
            raise fail(
                "--timestamp",
                None,
                "",
                f"'{args.timestamp}' is not an ISO-8601 time, e.g. 2026-01-31T09:00:00+00:00",
            ) from None
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch and epoch.isdigit() else None


def _export_bom(args, model, library) -> Path:
    from kit.export.bom import write_bom
    from kit.graph import build

    target = (
        Path(args.out)
        if args.out
        else _system_export_dir(args, model) / (f"{system_path(args).stem}.bom.json")
    )
    written = write_bom(build(model), target, timestamp=export_timestamp(args))
    return _recorded(args, model, "bom", written)


def _export_graphml(args, model, library) -> Path:
    from kit.export.graphml import write_graphml
    from kit.graph import build

    target = (
        Path(args.out)
        if args.out
        else _system_export_dir(args, model) / (f"{system_path(args).stem}.graphml")
    )
    return _recorded(args, model, "graphml", write_graphml(build(model), target))


def _system_export_dir(args, model) -> Path:
    """Where an export of the system file goes by default: beside the run exports, in
    `<runs>/exports/<run-id>/` when the latest run is of this very configuration, else in
    `<runs>/exports/config-<first 12 hex of its SHA-256>/`."""
    from kit.inputs import config_sha256
    from kit.runs.rundata import RunData
    from kit.runs.store import store_for

    store = store_for(model.system.id, args.runs)
    digest = config_sha256(model)
    latest = store.latest()
    same = latest and RunData(latest).manifest.get("config_sha256") == digest
    folder = store.root / "exports" / (latest.name if same else f"config-{digest[:12]}")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _recorded(args, model, fmt: str, written: Path) -> Path:
    """Record an export of the system file in its run store's audit trail; return its path."""
    from kit.export.formats import record_system_export

    record_system_export(model, system_path(args), fmt, {written.name: written}, args.runs)
    return written


# `saikit export FORMAT`: each entry takes (args, model, library), writes, returns the path.
def _export_run(args, model=None, library=None) -> list[Path]:
    """Export a published run (report, xlsx, csv, pack, oscal, json); see kit.export.formats."""
    from kit.export.formats import export, resolve_run

    name, system_file = args.system, args.system_file
    if name and _is_system_file(name):  # `saikit export report system.yaml`: its latest run
        name, system_file = None, name
    run = resolve_run(name, system_file, args.runs)
    print(f"run {run.run_id} of {run.system_name} ({run.path})")
    written = export(
        run, args.format, args.out, timestamp=export_timestamp(args), pdf=args.pdf, role=args.role
    )
    if (
        args.format == "report"
        and args.pdf
        and not any(p.suffix == ".pdf" for p in written.values())
    ):
        from kit.export.pdf import PDF_HOWTO

        print(f"note: PDF skipped: {PDF_HOWTO}")
    return list(written.values())


# Exports of a published run rather than of the system file.
RUN_EXPORTS = ("report", "xlsx", "csv", "pack", "oscal", "json", "briefing")

EXPORTERS = {
    "bom": _export_bom,
    "graphml": _export_graphml,
    **dict.fromkeys(RUN_EXPORTS, _export_run),
}


def cmd_library(args) -> int:
    """Print (or write) the coverage matrix; 1 when an in-scope item has no threat or control,
    or a threat references an ID no pinned taxonomy has."""
    from kit.files import write_atomic
    from kit.threats.coverage import coverage, coverage_markdown
    from kit.threats.library import load_library
    from kit.threats.taxonomy import load_taxonomies

    taxonomies = load_taxonomies()
    cov = coverage(load_library(args.library), taxonomies)
    text = coverage_markdown(cov, taxonomies)
    if args.out:
        print(f"wrote {write_atomic(args.out, text)}")
    else:
        print(escape_unsafe(text), end="")
    for tid, taxonomy, edition, item in cov.unknown:
        print(
            escape_unsafe(
                f"error: threat '{tid}' references {taxonomy} {edition} '{item}', "
                "which no pinned taxonomy lists"
            ),
            file=sys.stderr,
        )
    for row in cov.gaps:
        print(
            f"error: {row.taxonomy.id} {row.taxonomy.edition} {row.item.id} is in scope "
            "but nothing references it",
            file=sys.stderr,
        )
    return 1 if cov.unknown or cov.gaps else 0


# Other tools' formats (SARIF, OTM, TM-BOM, Threat Dragon, CISO Assistant, CycloneDX
# attestations, OSCAL POA&M), from a system file or a run: see kit.export.interchange.
INTERCHANGE_EXPORTS = (
    "sarif",
    "otm",
    "tmbom",
    "threat-dragon",
    "ciso-assistant",
    "cdx-attestations",
    "poam",
)


def _export_interchange(args, model=None, library=None) -> list[Path]:
    from kit.export.interchange import export_interchange, source_of

    source = source_of(
        args.format,
        args.system,
        system_file=args.system_file,
        runs=args.runs,
        library_dirs=args.library,
        timestamp=export_timestamp(args),
        all_findings=args.all,
    )
    return export_interchange(args.format, source, args.out)


EXPORTERS.update(dict.fromkeys(INTERCHANGE_EXPORTS, _export_interchange))

# `saikit import FORMAT FILE --out PATH`: a starter system file (kit.imports).
IMPORTERS = ("cyclonedx", "otm", "tmbom")


def cmd_import(args) -> int:
    from importlib import import_module

    module = import_module(f"kit.imports.{args.format}")
    written = getattr(module, f"import_{args.format}")(args.file, args.out, force=args.force)
    print(f"wrote {written}; fill in its TODO markers, then run `saikit check {written}`")
    return 0


def cmd_portfolio(args) -> int:
    from kit.portfolio.run import Bar, run_portfolio, summary_line

    result = run_portfolio(
        args.dirs,
        out=args.out,
        jobs=args.jobs,
        scheduler=args.scheduler,
        force=args.force,
        library_dirs=args.library,
        progress=Bar(),
    )
    for row in result.failed:
        for error in row["errors"] or [f"{row['path']}: failed"]:
            print(escape_unsafe(f"error: {error}"), file=sys.stderr)
    for row in result.rows:
        for note in row.get("notes", []):
            print(f"note: {note}")
    print(summary_line(result))
    return 1 if result.failed else 0
