"""A starter system file built from another tool's file, written only once `saikit check` passes.

The story of an import: read the source (kit.model.yamlio: bounded, safe, every value's line
known; JSON is YAML) → map it to assets and flows (one module per format) → write the starter
with a TODO marker on every guess → load it as `saikit check` does → put it in place (never over
an existing file without `force`).

Example: ``write(Starter("otm", "model.otm.json", system={...}), Path("system.yaml"))``
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kit.errors import UNSAFE_CHARACTERS, InputError, fail
from kit.files import write_atomic
from kit.model import yamlio
from kit.model.schema import ACYCLIC_FLOWS, FLOW_RULES, Asset, Flow

# When the source says nothing of a flow's kind: the first kind the two asset types allow.
KIND_PREFERENCE = (
    "serves",
    "prompts",
    "invokes",
    "retrieves",
    "writes",
    "trains",
    "indexes",
    "logs_to",
    "fine_tunes",
    "depends_on",
)
MAX_TEXT = 4000
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter when present
MAX_NAME = 200


# A UTF-16 surrogate pair written as two JSON escapes (an emoji): YAML reads only one character
# per escape, so the pair is joined before parsing.
_SURROGATE_PAIR = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", re.IGNORECASE)


def read_source(path: str | os.PathLike) -> yamlio.Document:
    """A JSON or YAML source file, read with the system file's bounds (size, depth, values).

    JSON is read by the json module (fast); the line of a value is worked out, by reading the
    file as YAML, only when a message needs one. JSON that does not read is refused at its line;
    a duplicate key or too deep nesting as the system file's reader reports them.
    """
    import json

    text = yamlio.read_text(path)
    if not text.lstrip().startswith(("{", "[")):
        return yamlio.parse(text, str(path))
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise fail(str(path), exc.lineno, "", f"not valid JSON: {exc.msg}") from None
    except (ValueError, RecursionError):  # a duplicate key, or too deep: YAML says where
        yamlio.parse(_join_surrogates(text), str(path))
        raise fail(str(path), None, "", "not valid JSON") from None
    return _JsonDocument(str(path), data, text=text)


@dataclass
class _JsonDocument(yamlio.Document):
    """A JSON file read by the json module; its lines are found when first asked for."""

    text: str = field(default="", repr=False)

    def line(self, path: tuple) -> int | None:
        if self.text:
            text, self.text = self.text, ""
            try:
                located = yamlio.parse(_join_surrogates(text), self.file)
            except InputError:  # JSON YAML cannot read (tab indentation): no lines
                return None
            self.keys, self.items, self.root_line = located.keys, located.items, located.root_line
        return super().line(path)


def list_at(doc: yamlio.Document, path: tuple) -> list:
    """The list at `path` in the source document ([] when absent); a located error otherwise."""
    value = doc.data
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail(doc.file, doc.line(path), ".".join(map(str, path)), "expected a list")
    return value


def need(doc: yamlio.Document, path: tuple, item, keys: tuple) -> None:
    """A located error unless the entry at `path` (section, index) is a mapping with `keys`."""
    where = f"{path[0]}[{path[1]}]"
    if not isinstance(item, dict):
        raise fail(doc.file, doc.line(path), where, "expected a mapping")
    for k in keys:
        if item.get(k) in (None, ""):
            raise fail(doc.file, doc.line(path), where, f"'{k}' is missing")


def _join_surrogates(text: str) -> str:
    """JSON's two-escape surrogate pairs (an emoji) as the character: YAML reads one per escape."""
    return _SURROGATE_PAIR.sub(
        lambda m: chr(0x10000 + ((int(m[1], 16) - 0xD800) << 10) + int(m[2], 16) - 0xDC00), text
    )


def _no_duplicates(pairs: list) -> dict:
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key '{clean(key, 80)}'")
        out[key] = value
    return out


def clean(text: Any, limit: int = MAX_TEXT) -> str | None:
    """Text from a source file made fit for a system file: no control or text-direction
    characters, whitespace runs kept, at most `limit` characters; None when empty."""
    if text is None:
        return None
    out = UNSAFE_CHARACTERS.sub("", str(text)).replace("\r", "").strip()
    return out[:limit] or None


def slug(text: Any, fallback: str = "item") -> str:
    """An ID a system file accepts (lower-case letters, digits, '-', '_', '.'; ≤ 80)."""
    out = re.sub(r"[^a-z0-9_.-]+", "-", str(text or "").lower()).strip("-_.")
    return (out or fallback)[:80].rstrip("-_.") or fallback


@dataclass
class Starter:
    """A system file being assembled from a source file, with its TODO markers."""

    fmt: str
    origin: str  # the source file, as named on the command line
    system: dict = field(default_factory=dict)
    assets: list[dict] = field(default_factory=list)
    flows: list[dict] = field(default_factory=list)
    todos: dict[tuple, list[str]] = field(default_factory=dict)  # ("asset", id) → markers
    notes: list[str] = field(default_factory=list)  # said once, at the top
    ids: dict[str, str] = field(default_factory=dict)  # source reference → asset ID
    types: dict[str, str] = field(default_factory=dict)  # asset ID → type
    _flows: set[tuple] = field(default_factory=set)  # (from, to, kind) already added
    _next: dict[tuple, dict[str, set]] = field(default_factory=dict)  # acyclic group → out-links

    def todo(self, where: tuple, text: str) -> None:
        self.todos.setdefault(where, []).append(text)

    def add_asset(self, ref: str, data: dict, *todos: str) -> str:
        """Add an asset for the source's `ref`; return its (unique) ID."""
        base = slug(data.get("id") or ref, "asset")
        aid, n = base, 2
        while aid in self.types:
            aid, n = f"{base[:76]}-{n}", n + 1
        asset = {"id": aid, **{k: v for k, v in data.items() if k != "id" and v not in (None, [])}}
        self.assets.append(asset)
        self.types[aid] = asset["type"]
        self.ids[ref] = aid
        for t in todos:
            self.todo(("asset", aid), t)
        return aid

    def type_of(self, aid: str) -> str:
        return self.types[aid]

    def add_flow(self, source: str, target: str, kind: str | None = None, **fields) -> bool:
        """Add a flow between two assets (by their IDs); guess its kind when `kind` is None or
        not allowed between their types. Returns False (and notes why) when no kind fits."""
        if source == target:
            self.notes.append(f"a flow from {source} to itself was left out")
            return False
        st, tt = self.type_of(source), self.type_of(target)
        guessed = kind is None or kind not in FLOW_RULES or not _allowed(kind, st, tt)
        candidates = KIND_PREFERENCE if guessed else (kind,)
        for k in candidates:
            if not _allowed(k, st, tt) or self._loops(source, target, k):
                continue
            if (source, target, k) in self._flows:
                return True  # already there
            self._flows.add((source, target, k))
            self.flows.append({"from": source, "to": target, "kind": k, **fields})
            for group in ACYCLIC_FLOWS:
                if k in group:
                    self._next.setdefault(tuple(sorted(group)), {}).setdefault(source, set()).add(
                        target
                    )
            if guessed:
                said = f"'{kind}' " if kind else ""
                self.todo(
                    ("flow", source, k, target),
                    f"flow kind guessed from the asset types ({st} → {tt}); the source "
                    f"{'said ' + said if said else 'gave none'}",
                )
            return True
        self.notes.append(
            f"a flow {source} → {target} was left out: no flow kind joins a {st} to a {tt}"
        )
        return False

    def _loops(self, source: str, target: str, kind: str) -> bool:
        """Whether adding source → target of `kind` would close a loop the schema forbids."""
        group = next((g for g in ACYCLIC_FLOWS if kind in g), None)
        if group is None:
            return False
        nxt = self._next.get(tuple(sorted(group)), {})
        seen, todo = set(), [target]
        while todo:
            node = todo.pop()
            if node == source:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(nxt.get(node, ()))
        return False


def _allowed(kind: str, source_type: str, target_type: str) -> bool:
    sources, targets = FLOW_RULES[kind]
    return source_type in sources and target_type in targets


# ---------------------------------------------------------------- checked asset and flow fields


def saikit_fields(data: Any, model: type[Asset] | type[Flow]) -> dict | None:
    """A saikit asset or flow carried whole in another format (saikit wrote it there), when it
    is still a valid one; else None, and the importer maps the source's own fields."""
    if not isinstance(data, dict):
        return None
    try:
        model.model_validate(data)
    except (ValueError, TypeError):
        return None
    return dict(data)


# ---------------------------------------------------------------- writing


def render(s: Starter) -> str:
    """The starter as YAML text with its TODO markers as comments."""
    lines = [
        f"# Imported by `saikit import {s.fmt}` from {_one_line(s.origin)}.",
        "# Every 'TODO' marks something the source could not say: check it, then delete the marker.",
    ]
    lines += [f"# NOTE: {_one_line(n)}" for n in s.notes]
    lines.append("")
    lines += _block({"system": s.system}, 0)
    for todo in s.todos.get(("system",), []):
        lines.append(f"  # TODO: {_one_line(todo)}")
    lines += ["", "assets:"]
    lines += _items(s.assets, [s.todos.get(("asset", a["id"]), []) for a in s.assets])
    lines += ["", "flows:" if s.flows else "flows: []"]
    keys = [("flow", f["from"], f["kind"], f["to"]) for f in s.flows]
    lines += _items(s.flows, [s.todos.get(k, []) for k in keys])
    return "\n".join(lines) + "\n"


def _items(items: list[dict], todos: list[list[str]]) -> list[str]:
    """A YAML list, indented by two, each item after its TODO comments (one dump for all)."""
    lines, n = [], -1
    for line in _block(items, 0) if items else []:
        if line.startswith("- "):
            n += 1
            lines += [f"  # TODO: {_one_line(t)}" for t in todos[n]]
        lines.append("  " + line)
    return lines


def _block(data, indent: int) -> list[str]:
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return [" " * indent + line for line in text.splitlines()]


def _one_line(text: str) -> str:
    return " ".join(str(clean(text, 400) or "").split())


def write(s: Starter, out: str | os.PathLike, *, force: bool = False) -> Path:
    """Write the starter to `out` once it loads as `saikit check` loads it; return the path.

    Refuses an existing `out` unless `force`. The file is written beside `out` first and renamed
    into place, so a starter that failed to load never replaces anything.
    """
    from kit.inputs import load_checked

    out = Path(out)
    if out.exists() and not force:
        raise fail(str(out), None, "", "exists; give --force to overwrite it")
    if out.exists() and not out.is_file():
        raise fail(str(out), None, "", "is not a file")
    trial = out.with_name(f".{out.name}.{os.getpid()}.import.yaml")
    write_atomic(trial, render(s))
    try:
        try:
            load_checked(trial)
        except InputError as exc:  # a mapping this module missed: say so, write nothing
            first = exc.shown[0] if exc.shown else "it does not load"
            raise fail(
                s.origin,
                None,
                "",
                f"the starter made from this file does not pass `saikit check` ({first.message} "
                f"at {first.path or 'the top'}); nothing was written. Please report this.",
            ) from None
        os.replace(trial, out)
    finally:
        trial.unlink(missing_ok=True)
    return out


# ---------------------------------------------------------------- guesses, each marked TODO

# Words in another tool's type or name → the saikit asset type they most likely mean; the first
# rule with a matching word wins.
TYPE_WORDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("vector_store", frozenset({"vector", "embeddings", "faiss", "pinecone", "chroma"})),
    ("log_store", frozenset({"log", "logs", "logging", "audit", "siem"})),
    ("prompt", frozenset({"prompt", "prompts"})),
    ("model", frozenset({"model", "llm", "ml", "classifier", "cnn", "transformer", "neural"})),
    ("agent", frozenset({"agent", "agents"})),
    ("tool", frozenset({"tool", "tools", "plugin", "function"})),
    (
        "user_group",
        frozenset(
            {
                "user",
                "users",
                "actor",
                "person",
                "human",
                "customer",
                "engineer",
                "admin",
                "administrator",
                "operator",
                "browser",
            }
        ),
    ),
    (
        "application",
        frozenset(
            {"application", "app", "frontend", "ui", "portal", "website", "webapp"}
            | {"notebook", "jupyter", "pipeline", "client"}
        ),
    ),
    (
        "dataset",
        frozenset(
            {
                "data",
                "dataset",
                "database",
                "db",
                "sql",
                "rds",
                "s3",
                "storage",
                "bucket",
                "blob",
                "store",
                "datastore",
                "dynamodb",
                "images",
                "vault",
                "key",
                "keys",
                "file",
                "files",
            }
        ),
    ),
    ("api", frozenset({"api", "gateway", "endpoint", "rest", "graphql"})),
    (
        "infrastructure",
        frozenset(
            {
                "server",
                "host",
                "vm",
                "container",
                "kubernetes",
                "k8s",
                "cluster",
                "network",
                "vpc",
                "cloud",
                "bastion",
                "compute",
                "ec2",
                "platform",
            }
        ),
    ),
    (
        "third_party_component",
        frozenset(
            {"library", "libraries", "package", "sdk", "third", "external", "vendor", "saas"}
        ),
    ),
)


def guess_type(*texts: Any, default: str = "application") -> str:
    """The asset type the words of `texts` (another tool's type, then its name) suggest."""
    for text in texts:
        words = set(re.split(r"[^a-z0-9]+", str(text or "").lower()))
        for kind, cue in TYPE_WORDS:
            if words & cue:
                return kind
    return default


def guess_ai_type(asset_types: set[str]) -> str:
    """The AI type an inventory suggests: agents make it agentic, prompts or vector stores
    generative, else predictive."""
    if "agent" in asset_types:
        return "agentic"
    if asset_types & {"prompt", "vector_store"}:
        return "generative"
    return "predictive"


def finish_system(s: Starter, name: Any, ref: Any, purpose: Any) -> None:
    """Fill the system section from what the source says, marking what it cannot."""
    known = s.system
    known.setdefault("id", slug(ref or name, "imported-system"))
    known.setdefault("name", clean(name, MAX_NAME) or known["id"])
    if not known.get("purpose"):
        known["purpose"] = clean(purpose) or f"Imported from {s.fmt}: say what the system is for."
        s.todo(("system",), "purpose: say what the system is for and the business need (5.1.2-1)")
    if "ai_type" not in known:
        known["ai_type"] = guess_ai_type({a["type"] for a in s.assets})
        s.todo(
            ("system",), "ai_type guessed from the asset types: predictive, generative or agentic?"
        )
    if "roles" not in known:
        known["roles"] = ["system_operator"]
        s.todo(("system",), "roles: which of developer, system_operator, data_custodian you hold")
    order = ("id", "name", "purpose", "ai_type", "roles")
    s.system = {k: known[k] for k in order} | {k: v for k, v in known.items() if k not in order}


def exposure_of(zone: dict) -> str:
    """The exposure a trust zone stands for: saikit's own zones by ID, others by their name
    (internet, public, partner…) or trust rating (≥ 75 internal, ≥ 25 partner, else public)."""
    zid, name = str(zone.get("id", "")), str(zone.get("name", "")).lower()
    for e in ("internal", "partner", "public"):
        if zid == f"zone-{e}":
            return e
    if any(w in name for w in ("internet", "public", "external", "dmz")):
        return "public"
    if any(w in name for w in ("partner", "third", "vendor")):
        return "partner"
    rating = (zone.get("risk") or {}).get("trustRating")
    if isinstance(rating, int | float):
        return "internal" if rating >= 75 else "partner" if rating >= 25 else "public"
    return "internal"
