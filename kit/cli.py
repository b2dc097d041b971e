"""The `saikit` command line. Each subcommand is a thin shell over one kit function."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__
from .errors import InputError


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
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
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
    command("schema", cmd_schema, "print the JSON Schema of system files")
    c = command("init", cmd_init, "write a commented starter system file")
    c.add_argument("--template", required=True, help="starter name (see --list)")
    c.add_argument("path", nargs="?", help="where to write it (default: <template>.yaml)")
    c.add_argument("--force", action="store_true", help="overwrite an existing file")
    return p


def _system_arg(c: argparse.ArgumentParser) -> None:
    c.add_argument("system", nargs="?", help="system file (default: the bundled support-assistant)")


def _library_arg(c: argparse.ArgumentParser) -> None:
    c.add_argument(
        "--library", action="append", default=[], metavar="DIR",
        help="an extra threat-library directory (repeatable)",
    )


def system_path(args) -> Path:
    from .resources import default_system

    return Path(args.system) if args.system else default_system()


def load(args):
    """Load the system named on the command line, checked against the library and catalogue."""
    from .inputs import load_checked

    return load_checked(system_path(args), getattr(args, "library", []))


def cmd_check(args) -> int:
    from .model import summary

    model, _ = load(args)
    s = summary(model)
    print(f"{system_path(args)}: ok — {s['system']}")
    print(f"  assets: {sum(s['assets'].values())} ({', '.join(f'{k} {v}' for k, v in s['assets'].items())})")
    print(f"  flows: {s['flows']}  controls: {s['controls']}  attestations: {s['attestations']}  "
          f"decisions: {s['decisions']}")
    return 0


def cmd_schema(args) -> int:
    from .model import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def cmd_init(args) -> int:
    from .errors import did_you_mean, fail
    from .resources import starters

    available = starters()
    if args.template not in available:
        raise fail("--template", None, "", f"unknown template '{args.template}'"
                   f"{did_you_mean(args.template, available)}; available: {', '.join(sorted(available))}")
    target = Path(args.path or f"{args.template}.yaml")
    if target.exists() and not args.force:
        raise fail(str(target), None, "", "file exists; pass --force to overwrite it")
    target.write_text(available[args.template].read_text(encoding="utf-8"), encoding="utf-8")
    print(f"wrote {target} from the '{args.template}' starter; next: saikit check {target}")
    return 0


def cmd_threats(args) -> int:
    from .analysis import analyse_model

    model, library = load(args)
    result = analyse_model(model, library)
    reg = result.register
    shown = reg if args.all else reg.head(25)
    print(f"{model.system.name}: {len(reg)} findings, risk appetite {model.system.risk_appetite}")
    print(table(shown, ["residual_band", "residual_score", "inherent_score", "finding_id", "treatment"],
                ["residual", "score", "inherent", "finding", "treatment"]))
    if len(shown) < len(reg):
        print(f"... {len(reg) - len(shown)} more (--all)")
    for d in result.assessment.stale_decisions:
        print(f"note: decision for '{d.finding}' matches no finding raised now; review or remove it")
    for fid in result.assessment.overdue_reviews:
        print(f"note: accepted risk '{fid}' is past its review date")
    actions = int((reg["treatment"] == "action required").sum()) if len(reg) else 0
    print(f"{actions} finding(s) above the appetite need a decision")
    return 0


def table(df, columns: list[str], headers: list[str]) -> str:
    """A plain fixed-width text table of some columns of a DataFrame."""
    rows = [headers] + [[str(v) for v in r] for r in df[columns].itertuples(index=False)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
