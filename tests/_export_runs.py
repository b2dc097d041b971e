"""Real `saikit run`s for the export tests, made once per test session and shared.

`example_run` runs the bundled example. `payload_run` runs a copy of it in which every
free-text field carries script, markup and spreadsheet-formula payloads.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from kit.resources import default_system
from kit.runs import runner

# Any of these, if it ran in a browser, sets window.__pwned.
PAYLOAD_HTML = (
    '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">'
    '"><svg onload=window.__pwned=1>[x](javascript:window.__pwned=1)'
)
FORMULAS = ('=HYPERLINK("http://example.invalid","x")', "+1+1", "-1+2", "@SUM(1,1)")
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

TEXT_FIELDS = {
    "system": ("name", "purpose", "business_requirement", "owner", "human_oversight"),
    "assets": ("name", "description", "owner", "custodian", "provider", "disposal"),
    "flows": ("description",),
    "controls": ("evidence", "owner"),
    "attestations": ("evidence", "owner", "note"),
    "decisions": ("justification", "owner"),
}

_cache: dict[str, Path] = {}


def payload(i: int) -> str:
    """The i-th payload: a formula trigger first, then the markup payloads."""
    return f"{FORMULAS[i % len(FORMULAS)]} {PAYLOAD_HTML}"


def payload_system(target: Path) -> Path:
    """Write the bundled example with every free-text field replaced by a payload."""
    source = default_system()
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    decisions_file = data["system"].pop("decisions_file", None)
    if decisions_file:
        extra = yaml.safe_load((source.parent / decisions_file).read_text(encoding="utf-8"))
        data["decisions"] = extra["decisions"]
    n = 0
    for section, fields in TEXT_FIELDS.items():
        items = [data[section]] if section == "system" else data.get(section, [])
        for item in items:
            for name in fields:
                item[name] = payload(n)
                n += 1
            if section == "assets" and item.get("due_diligence"):
                item["due_diligence"]["evidence"] = payload(n)
                n += 1
    data["system"]["prohibited_uses"] = [payload(n), payload(n + 1)]
    data["system"]["name"] = payload(0)[:200]
    target.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return target


def published_run(tmp_path_factory, key: str, system: Path | None = None) -> Path:
    """A published run of `system` (the bundled example by default), made once per session."""
    if key not in _cache:
        root = tmp_path_factory.mktemp(key)
        if system is None and key == "payload":
            system = payload_system(root / "payload.yaml")
        result = runner.run(
            system or default_system(), out=root / "runs", jobs=3, progress=lambda line: None
        )
        assert result.status == "published", [f.error for f in result.failures]
        _cache[key] = result.run_dir
    return _cache[key]
