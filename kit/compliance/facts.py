"""What the run history shows, for the compliance checks that read it (5.1.3-1.1, 5.1.3-2,
5.2.4-1, 5.2.4-3).

The history is the audit trail's entries, read by the caller: this module only interprets them,
so the compliance stage needs nothing from the runner. Two views of it:

- `run_facts`: the history as it stands (what `saikit comply` reports between runs);
- `facts_for_run`: the history as it will stand once the run being made is recorded (what a
  run's notebooks and tables report: that run models the current configuration).

`history_digest` is the part of the history a run's results depend on, as one hash; the runner
puts it in every notebook's fingerprint, so a new communication pack makes the last run stale.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kit.model.schema import SystemModel


@dataclass(frozen=True)
class RunFacts:
    """What the run history shows.

    config_sha256: fingerprint of the configuration now; last_run_config_sha256 and
    last_run_time: those of the last published run; audited_prompts: IDs of prompts whose current
    version or sha256 appears in the audit trail; communicated_findings: finding IDs included in
    a communication pack exported from any run; briefed: the date of the latest role briefing
    exported for each audience (5.1.1), as (role, ISO date) pairs.
    """

    config_sha256: str | None
    last_run_config_sha256: str | None
    last_run_time: dt.datetime | None
    audited_prompts: frozenset[str] = frozenset()
    communicated_findings: frozenset[str] = frozenset()
    briefed: tuple[tuple[str, str], ...] = ()


def prompt_digests(model: SystemModel) -> dict[str, str | None]:
    """{prompt asset ID: the sha256 or version that identifies its text now}."""
    return {a.id: a.sha256 or a.version for a in model.assets if a.type == "prompt"}


def _published(entries: Iterable[dict]) -> list[dict]:
    return [e for e in entries if e.get("event") == "run" and e.get("status") == "published"]


def _audited_pairs(entries: Iterable[dict]) -> set[tuple[str, str]]:
    """(prompt ID, digest) pairs that published runs recorded."""
    return {
        (asset, digest)
        for e in _published(entries)
        for asset, digest in (e.get("prompts") or {}).items()
        if digest
    }


def _communicated(entries: Iterable[dict]) -> frozenset[str]:
    return frozenset(
        f
        for e in entries
        if e.get("event") == "export" and e.get("format") == "pack"
        for f in e.get("findings", [])
    )


def _briefed(entries: Iterable[dict]) -> tuple[tuple[str, str], ...]:
    """(role, date) of the latest briefing exported for each audience."""
    latest: dict[str, str] = {}
    for e in entries:
        if e.get("event") == "export" and e.get("format") == "briefing" and e.get("role"):
            latest[e["role"]] = max(latest.get(e["role"], ""), str(e.get("time", ""))[:10])
    return tuple(sorted(latest.items()))


def run_facts(entries: list[dict], model: SystemModel, config_hash: str) -> RunFacts:
    """The history as it stands, for a model whose configuration hashes to `config_hash`."""
    published = _published(entries)
    last = published[-1] if published else None
    pairs = _audited_pairs(entries)
    audited = frozenset(a for a, d in prompt_digests(model).items() if d and (a, d) in pairs)
    return RunFacts(
        config_sha256=config_hash,
        last_run_config_sha256=last["config_sha256"] if last else None,
        last_run_time=dt.datetime.fromisoformat(last["time"]) if last else None,
        audited_prompts=audited,
        communicated_findings=_communicated(entries),
        briefed=_briefed(entries),
    )


def facts_for_run(entries: list[dict], model: SystemModel, config_hash: str) -> RunFacts:
    """The history once this run is recorded: it models the current configuration, now, and
    records the current prompts."""
    facts = run_facts(entries, model, config_hash)
    recorded = {a for a, d in prompt_digests(model).items() if d}
    return dataclasses.replace(
        facts,
        last_run_config_sha256=config_hash,
        last_run_time=dt.datetime.now(dt.UTC),
        audited_prompts=facts.audited_prompts | recorded,
    )


def history_digest(entries: list[dict]) -> str:
    """SHA-256 of what `facts_for_run` takes from the history: the findings communicated and
    the briefings exported.

    (Its other facts are the run itself: the configuration, the time, the current prompts.)
    Needs no model, so the runner's no-op check reaches it without loading anything.
    """
    taken = [sorted(_communicated(entries)), _briefed(entries)]
    return hashlib.sha256(json.dumps(taken).encode()).hexdigest()
