"""`saikit run`: re-execute the workbook with papermill whenever the configuration changes.

The story of a run (5.1.3-1.1): load the system → fingerprint every notebook → pick the stale
ones → execute them in parallel → collect the tables → publish the run folder → audit it.
A run is staged in a folder beside the final one and renamed into place when complete; the
`latest` pointer moves last, so a run killed half-way leaves the last good run intact.
Papermill gets the system file's path and hash only: no configuration key becomes a parameter.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, audit, yamlio
from .errors import fail
from .resources import notebooks

# Kept free of pydantic, pandas and papermill at import time: a no-op rerun must start fast.
EDITION = "etsi-ts-104-223-v1.1.1"

KERNEL = "python3"
CELL_TIMEOUT_S = 600


# ---------------------------------------------------------------- fingerprints


def _sha256_files(paths) -> str:
    h = hashlib.sha256()
    for p in sorted(Path(p) for p in paths):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def notebook_info(path: Path) -> tuple[str, list[str]]:
    """(hash of the notebook's code cells, the inputs it declares it uses)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in nb["cells"]
        if c["cell_type"] == "code"
    ]
    uses = nb.get("metadata", {}).get("saikit", {}).get("uses", ["library", "catalogue"])
    return hashlib.sha256("\0".join(code).encode()).hexdigest(), list(uses)


def catalogue_sha256() -> str:
    """SHA-256 of the provision catalogue in force."""
    from importlib.resources import files

    return hashlib.sha256(
        files("kit").joinpath(f"catalogue/{EDITION}.yaml").read_bytes()
    ).hexdigest()


def library_files(library_dirs=()) -> list[Path]:
    """Every file of the threat library in force: the shipped one and the users' directories."""
    from importlib.resources import files

    out = []
    for d in (Path(str(files("kit.threat_library"))), *(Path(x) for x in library_dirs)):
        out += [p for p in [d / "controls.yaml", *sorted(d.glob("threats/*.yaml"))] if p.exists()]
    return out


def workbook_notebooks(extra_dirs=()) -> dict[str, Path]:
    """The notebooks a run executes: the shipped workbook (less the workshop) plus the users' own."""
    found = {n: p for n, p in notebooks().items() if n != "workshop"}
    for d in extra_dirs:
        base = Path(d)
        if not base.is_dir():
            raise fail(str(base), None, "", "notebook directory not found")
        for p in sorted(base.glob("*.ipynb")):
            if p.stem in found:
                raise fail(
                    str(p),
                    None,
                    "",
                    f"a notebook named '{p.stem}' is already in the workbook ({found[p.stem]})",
                )
            found[p.stem] = p
    return found


def fingerprints(config_hash: str, library_dirs, sources: dict[str, Path]) -> dict[str, str]:
    """Each notebook's fingerprint: its code cells, the configuration, what it uses, the kit version."""
    library_hash = _sha256_files(library_files(library_dirs))
    catalogue_hash = catalogue_sha256()
    out = {}
    for name, path in sources.items():
        code_hash, uses = notebook_info(path)
        parts = [code_hash, config_hash, __version__]
        parts += [library_hash] if "library" in uses else []
        parts += [catalogue_hash] if "catalogue" in uses else []
        out[name] = hashlib.sha256("|".join(parts).encode()).hexdigest()
    return out


# ---------------------------------------------------------------- the run store


@dataclass
class Store:
    """The runs of one system: `<root>/<run-id>/`, `<root>/latest`, `<root>/audit.jsonl`."""

    root: Path

    @property
    def audit_path(self) -> Path:
        return self.root / "audit.jsonl"

    @property
    def latest_link(self) -> Path:
        return self.root / "latest"

    def latest(self) -> Path | None:
        """The folder of the last good run, or None."""
        link = self.latest_link
        if not link.is_symlink() and not link.exists():
            return None
        target = self.root / os.readlink(link) if link.is_symlink() else None
        return target if target and (target / "manifest.json").exists() else None

    def runs(self) -> list[Path]:
        """Every complete run folder, oldest first."""
        if not self.root.is_dir():
            return []
        found = [
            p
            for p in self.root.iterdir()
            if p.is_dir()
            and not p.is_symlink()
            and not p.name.startswith(".")
            and (p / "manifest.json").exists()
        ]
        return sorted(found, key=lambda p: p.name)

    def resolve(self, name: str | None, default_index: int) -> Path:
        """A run by id, id prefix, or 'latest'; None picks runs()[default_index]."""
        runs = self.runs()
        if name == "latest":
            found = self.latest()
            if found:
                return found
        if name is None:
            if len(runs) < abs(default_index) + (0 if default_index < 0 else 1):
                raise fail(
                    str(self.root), None, "", "not enough runs to compare; run `saikit run` first"
                )
            return runs[default_index]
        matches = [r for r in runs if r.name.startswith(name)]
        if len(matches) != 1:
            from .errors import did_you_mean

            raise fail(
                str(self.root),
                None,
                "",
                f"no single run matches '{name}'{did_you_mean(name, [r.name for r in runs])}",
            )
        return matches[0]

    def stage(self, run_id: str) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".staging-{run_id}"
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "notebooks").mkdir(parents=True)
        return staging

    def publish(self, staging: Path, run_id: str) -> Path:
        final = self.root / run_id
        _fsync_tree(staging)
        os.rename(staging, final)
        return final

    def point_latest(self, run_dir: Path) -> None:
        tmp = self.root / f".latest-{os.getpid()}"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(run_dir.name, tmp)
        os.replace(tmp, self.latest_link)

    def anchors(self) -> dict[str, int]:
        """Audit hashes recorded in run manifests, for `audit.verify`."""
        out = {}
        for run in self.runs():
            m = json.loads((run / "manifest.json").read_text())
            if m.get("audit_prev"):
                out[m["audit_prev"]["hash"]] = m["audit_prev"]["seq"]
        return out


def _fsync_tree(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def default_store(model, out: str | os.PathLike | None) -> Store:
    """The run store for a system: --out, else ./runs/<system id>."""
    return Store(Path(out) if out else Path("runs") / model.system.id)


def store_for_file(system: Path, out: str | os.PathLike | None) -> Store:
    """The run store of a system file, reading only its id (no validation)."""
    if out:
        return Store(Path(out))
    data = yamlio.load_file(system).data
    section = data.get("system") if isinstance(data, dict) else None
    system_id = section.get("id") if isinstance(section, dict) else None
    if not isinstance(system_id, str) or "/" in system_id or system_id.startswith("."):
        return Store(Path("runs") / "unnamed")
    return Store(Path("runs") / system_id)


def input_files(system: Path) -> dict[str, str]:
    """SHA-256 of the system file and the decisions file it names, by path."""
    out = {str(system): hashlib.sha256(system.read_bytes()).hexdigest()}
    data = yamlio.load_file(system).data
    section = data.get("system") if isinstance(data, dict) else None
    name = section.get("decisions_file") if isinstance(section, dict) else None
    if isinstance(name, str) and (system.parent / name).is_file():
        path = (system.parent / name).resolve()
        out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def unchanged_since(previous: Path | None, system: Path, library_dirs, sources) -> bool:
    """Whether nothing the last good run read has changed: same bytes, same fingerprints.

    Decided from file hashes alone, without validating anything, so a no-op rerun is fast.
    """
    if previous is None:
        return False
    manifest = _read_json(previous / "manifest.json") or {}
    inputs = manifest.get("inputs") or {}
    if not inputs or manifest.get("kit_version") != __version__:
        return False
    for path, digest in inputs.items():
        p = Path(path)
        if not p.is_file() or hashlib.sha256(p.read_bytes()).hexdigest() != digest:
            return False
    if Path(manifest.get("system_path", "")) != system:
        return False
    expected = fingerprints(manifest["config_sha256"], library_dirs, sources)
    return expected == manifest.get("fingerprints") and all(
        (previous / "notebooks" / f"{n}.ipynb").exists() for n in expected
    )


# ---------------------------------------------------------------- execution


@dataclass
class NotebookResult:
    name: str
    ok: bool
    seconds: float
    attempts: int = 1
    error: str = ""


_PORT_CLASH = ("Address already in use", "Kernel died before replying", "ZMQError")


def execute_notebook(
    source: str, target: str, parameters: dict, cwd: str, timeout: int = CELL_TIMEOUT_S
) -> NotebookResult:
    """Execute one notebook with papermill; retry a kernel that dies on a port clash."""
    import papermill as pm

    name = Path(source).stem
    start = time.perf_counter()
    _kernel_log(Path(target).parent.parent / "logs" / f"{name}.log")
    for attempt in range(1, 4):
        try:
            pm.execute_notebook(
                source,
                target,
                parameters=parameters,
                cwd=cwd,
                kernel_name=KERNEL,
                progress_bar=False,
                log_output=False,
                execution_timeout=timeout,
            )
            return NotebookResult(name, True, time.perf_counter() - start, attempt)
        except pm.PapermillExecutionError as exc:
            src = exc.source.strip().splitlines()
            cell = src[0] if src else ""
            return NotebookResult(
                name,
                False,
                time.perf_counter() - start,
                attempt,
                f"cell {exc.cell_index} ({cell[:80]}): {exc.ename}: {exc.evalue}",
            )
        except Exception as exc:  # noqa: BLE001 - a kernel start failure is reported, not raised
            text = f"{type(exc).__name__}: {exc}"
            if attempt < 3 and any(s in text for s in _PORT_CLASH):
                continue
            return NotebookResult(name, False, time.perf_counter() - start, attempt, text)
    raise AssertionError("unreachable")


def _kernel_log(path: Path) -> None:
    """Send this worker's stderr, which kernels inherit, to a log file in the run folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)
    os.close(fd)


def execute_all(
    sources: dict[str, Path],
    names: list[str],
    staging: Path,
    parameters: dict,
    cwd: str,
    jobs: int,
    progress: Callable[[str], None],
    timeout: int = CELL_TIMEOUT_S,
) -> list[NotebookResult]:
    """Execute the named notebooks in parallel, at most `jobs` at once."""
    results = []
    with ProcessPoolExecutor(max_workers=max(1, min(jobs, len(names)))) as pool:
        futures = {}
        for name in names:
            progress(f"  running  {name}")
            futures[
                pool.submit(
                    execute_notebook,
                    str(sources[name]),
                    str(staging / "notebooks" / f"{name}.ipynb"),
                    parameters,
                    cwd,
                    timeout,
                )
            ] = name
        for future in as_completed(futures):
            r = future.result()
            mark = "ok  " if r.ok else "FAIL"
            progress(
                f"  {mark}     {r.name}  {r.seconds:.1f} s" + (f"  {r.error}" if r.error else "")
            )
            results.append(r)
    return sorted(results, key=lambda r: r.name)


# ---------------------------------------------------------------- collecting outputs


def collect(staging: Path, model, library, facts=None) -> dict[str, str]:
    """Write the run's tables (register, findings, provisions, config) into `staging`; return their names."""
    from .analysis import analyse_model
    from .inputs import canonical_config
    from .risk import band

    analysis = analyse_model(model, library)
    reg = analysis.register
    reg.to_csv(staging / "register.csv", index=False)
    findings = {
        f.id: {
            "residual_score": f.residual_score,
            "residual_band": band(f.residual_score),
            "inherent_score": f.score,
            "treatment": f.treatment,
            "threat": f.match.threat.name,
        }
        for f in analysis.assessment.findings
    }
    _write_json(staging / "findings.json", findings)
    _write_json(staging / "config.json", canonical_config(model))
    written = ["register.csv", "findings.json", "config.json"]
    try:
        from . import compliance
    except ImportError:  # the compliance stage is optional for a run
        return written
    table = compliance.assess(analysis, facts)
    table.to_csv(staging / "provisions.csv", index=False)
    _write_json(
        staging / "provisions.json",
        {f"{r.provision}/{r.role}": r.status for r in table.itertuples()},
    )
    return written + ["provisions.csv", "provisions.json"]


def _write_json(path: Path, data) -> None:
    path.write_text(
        json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def _file_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


# ---------------------------------------------------------------- configuration changes


def config_changes(old: dict | None, new: dict) -> list[str]:
    """What changed between two canonical configurations, one line per change."""
    if old is None:
        return ["first run"]
    out: list[str] = []
    for section, key in (
        ("assets", "id"),
        ("flows", None),
        ("controls", None),
        ("attestations", None),
        ("decisions", "finding"),
    ):
        before, after = _keyed(old.get(section, []), key), _keyed(new.get(section, []), key)
        for k in sorted(after.keys() - before.keys()):
            out.append(f"{section}: added {k}")
        for k in sorted(before.keys() - after.keys()):
            out.append(f"{section}: removed {k}")
        for k in sorted(before.keys() & after.keys()):
            changed = sorted(
                f for f in set(before[k]) | set(after[k]) if before[k].get(f) != after[k].get(f)
            )
            if changed:
                out.append(f"{section}: {k} changed {', '.join(changed)}")
    sys_changed = sorted(
        f
        for f in set(old["system"]) | set(new["system"])
        if old["system"].get(f) != new["system"].get(f)
    )
    if sys_changed:
        out.append(f"system: changed {', '.join(sys_changed)}")
    return out


def _keyed(items: list[dict], key: str | None) -> dict[str, dict]:
    return {str(i[key]) if key else _label(i): i for i in items}


def _label(item: dict) -> str:
    if "from" in item:  # the same form as kit.model.Flow.id
        return f"{item['from']}-{item['kind']}->{item['to']}"
    if "control" in item:
        return f"{item['control']} on {','.join(item['assets'])}"
    if "provision" in item:
        return f"{item['provision']}" + (f" ({item['role']})" if item.get("role") else "")
    return json.dumps(item, sort_keys=True)


# ---------------------------------------------------------------- the run


@dataclass
class RunResult:
    """What a run did."""

    status: str  # "published", "up to date" or "failed"
    run_dir: Path | None
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failures: list[NotebookResult] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)


def run(
    system: str | os.PathLike,
    *,
    out=None,
    jobs: int = 2,
    force: bool = False,
    library_dirs=(),
    notebook_dirs=(),
    progress: Callable[[str], None] = print,
    timeout: int = CELL_TIMEOUT_S,
) -> RunResult:
    """Run the workbook on a system file; rerun only what its changes make stale."""
    if timeout < 1:  # papermill reads 0 or less as "no limit"
        raise fail("--timeout", None, "", f"{timeout} is not a time limit: give at least 1 second")
    system = Path(system).resolve()
    library_dirs = [str(Path(d).resolve()) for d in library_dirs]
    sources = workbook_notebooks(notebook_dirs)
    store = store_for_file(system, out) if system.is_file() else Store(Path(out or "runs"))
    previous = store.latest()
    if unchanged_since(previous, system, library_dirs, sources):
        _append_up_to_date(store, previous)
        return RunResult("up to date", previous, [], sorted(sources))
    from .inputs import canonical_config, config_sha256, load_checked

    model, library = load_checked(system, library_dirs)
    config_hash = config_sha256(model)
    store = default_store(model, out)
    previous = store.latest()
    prints = fingerprints(config_hash, library_dirs, sources)
    stale = stale_notebooks(prints, previous, force)
    old_config = _read_json(previous / "config.json") if previous else None
    changes = config_changes(old_config, canonical_config(model))
    if not stale:
        _append_up_to_date(store, previous)
        return RunResult("up to date", previous, [], sorted(prints))
    run_id = _run_id(store, config_hash)
    with _stopped_by_os_errors(store, run_id, config_hash):
        staging = store.stage(run_id)
        progress(
            f"{model.system.name}: {len(stale)} notebook(s) to run, {len(prints) - len(stale)} unchanged"
        )
        parameters = {
            "system_path": str(system),
            "config_sha256": config_hash,
            "library_dirs": library_dirs,
            "run_store": str(store.root.resolve()),
        }
        results = execute_all(
            sources, stale, staging, parameters, str(system.parent), jobs, progress, timeout
        )
        failures = [r for r in results if not r.ok]
        skipped = sorted(set(prints) - set(stale))
        if failures:
            failed_dir = store.root / f"failed-{run_id}"
            os.rename(staging, failed_dir)
            audit.append(
                store.audit_path,
                "run",
                status="failed",
                run=failed_dir.name,
                config_sha256=config_hash,
                changes=changes,
                notebooks_run=stale,
                notebooks_failed=[f.name for f in failures],
            )
            return RunResult("failed", failed_dir, stale, skipped, failures, changes)
        for name in skipped:
            shutil.copy2(
                previous / "notebooks" / f"{name}.ipynb", staging / "notebooks" / f"{name}.ipynb"
            )
        collect(staging, model, library, facts_for_run(store, model, config_hash))
        entries = audit.read(store.audit_path)
        manifest = {
            "run": run_id,
            "system": model.system.id,
            "system_name": model.system.name,
            "system_path": str(system),
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "config_sha256": config_hash,
            "kit_version": __version__,
            "edition": EDITION,
            "inputs": input_files(system),
            "library_dirs": library_dirs,
            "fingerprints": prints,
            "notebooks_run": stale,
            "notebooks_skipped": skipped,
            "changes": changes,
            "outputs": _file_hashes(staging),
            "audit_prev": {"seq": entries[-1]["seq"], "hash": entries[-1]["hash"]}
            if entries
            else None,
            "prompts": {a.id: a.sha256 or a.version for a in model.assets if a.type == "prompt"},
        }
        _write_json(staging / "manifest.json", manifest)
        run_dir = store.publish(staging, run_id)
        audit.append(
            store.audit_path,
            "run",
            status="published",
            run=run_id,
            config_sha256=config_hash,
            changes=changes,
            notebooks_run=stale,
            notebooks_skipped=skipped,
            outputs=manifest["outputs"],
            prompts=manifest["prompts"],
        )
        store.point_latest(run_dir)
        return RunResult("published", run_dir, stale, skipped, [], changes)


@contextlib.contextmanager
def _stopped_by_os_errors(store: Store, run_id: str, config_hash: str):
    """Turn a failed write (a full disk, a read-only or missing folder) into a located error.

    The staged folder goes, to give its space back; the last good run and `latest` stay as they
    were, and the failure is audited when the trail can still be written.
    """
    try:
        yield
    except OSError as exc:
        shutil.rmtree(store.root / f".staging-{run_id}", ignore_errors=True)
        published = (store.root / run_id).is_dir()
        if not published:
            with contextlib.suppress(OSError):
                audit.append(
                    store.audit_path,
                    "run",
                    status="failed",
                    run=run_id,
                    config_sha256=config_hash,
                    error=str(exc),
                )
        path = exc.filename2 or exc.filename  # a copy names its source first, its target second
        where = f"{exc.strerror or exc} ({path})" if path else str(exc.strerror or exc)
        after = (
            f"run {run_id} was written but latest was not moved to it"
            if published
            else "nothing was published, the last good run and latest are unchanged"
        )
        raise fail(str(store.root), None, "", f"the run stopped: {where}; {after}") from None


def _append_up_to_date(store: Store, previous: Path) -> None:
    manifest = _read_json(previous / "manifest.json") or {}
    audit.append(
        store.audit_path,
        "run",
        status="up to date",
        run=previous.name,
        config_sha256=manifest.get("config_sha256"),
        notebooks_run=[],
        notebooks_skipped=sorted(manifest.get("fingerprints", {})),
    )


def stale_notebooks(prints: dict[str, str], previous: Path | None, force: bool) -> list[str]:
    """Notebooks whose fingerprint differs from the last good run's (all of them with force)."""
    if force or previous is None:
        return sorted(prints)
    old = _read_json(previous / "manifest.json").get("fingerprints", {})
    return sorted(
        n
        for n, fp in prints.items()
        if old.get(n) != fp or not (previous / "notebooks" / f"{n}.ipynb").exists()
    )


def run_facts(store: Store, model, config_hash: str):
    """What the run history shows, for the compliance checks that need it."""
    try:
        from .compliance import RunFacts
    except ImportError:
        return None
    entries = [e for e in audit.read(store.audit_path) if e.get("status") == "published"]
    last = entries[-1] if entries else None
    audited = set()
    for e in entries:
        for asset_id, digest in (e.get("prompts") or {}).items():
            asset = model.asset_by_id.get(asset_id)
            if asset is not None and digest and digest == (asset.sha256 or asset.version):
                audited.add(asset_id)
    communicated = set()
    for e in audit.read(store.audit_path):
        if e.get("event") == "export" and e.get("format") == "pack":
            communicated |= set(e.get("findings", []))
    return RunFacts(
        config_sha256=config_hash,
        last_run_config_sha256=last["config_sha256"] if last else None,
        last_run_time=dt.datetime.fromisoformat(last["time"]) if last else None,
        audited_prompts=frozenset(audited),
        communicated_findings=frozenset(communicated),
    )


def facts_for_run(store: Store, model, config_hash: str):
    """Run facts as they stand once this run is recorded: it models the current configuration."""
    import dataclasses

    facts = run_facts(store, model, config_hash)
    if facts is None:
        return None
    recorded = {a.id for a in model.assets if a.type == "prompt" and (a.sha256 or a.version)}
    return dataclasses.replace(
        facts,
        last_run_config_sha256=config_hash,
        last_run_time=dt.datetime.now(dt.UTC),
        audited_prompts=facts.audited_prompts | recorded,
    )


def _run_id(store: Store, config_hash: str) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = f"{stamp}-{config_hash[:8]}"
    run_id, n = base, 1
    while (store.root / run_id).exists() or (store.root / f"failed-{run_id}").exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def _read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def progress_printer(stream=sys.stdout) -> Callable[[str], None]:
    """A progress callback that prints and flushes each line."""

    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    return say
