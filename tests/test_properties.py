"""Property-based tests of the loaders: whatever a file holds, the kit loads it or refuses it with
its own InputError, naming a real file and a real line, and never raises anything else.

Inputs come from four sources per loader, so that some get deep into validation and some fail
early: documents built from the schema's own vocabulary (field names, asset types, flow kinds,
IDs), valid files with random edits to their data, valid files with random edits to their text,
and arbitrary bytes. A document that loads must also survive analysis (system files) or threat
evaluation (library files). Examples are derandomised: CI runs the same ones every time.
"""

from __future__ import annotations

import copy
import datetime as dt
import shutil
import tempfile
import typing
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kit.compliance.catalogue import load_catalogue
from kit.errors import UNSAFE_CHARACTERS, InputError
from kit.model import schema as kit_model
from kit.model import yamlio
from kit.resources import examples
from kit.threats import files as kit_files
from kit.threats import library as kit_library
from kit.threats.conditions import ASSET_ATTRIBUTES

EXAMPLES = {
    "parse": 500,
    "system_generated": 300,
    "system_mutated": 200,
    "system_text": 200,
    "system_bytes": 100,
    "library_threats": 200,
    "library_conditions": 150,
    "library_controls": 100,
    "library_text": 100,
}


def _settings(name: str):
    return settings(
        max_examples=EXAMPLES[name],
        derandomize=True,
        database=None,
        deadline=dt.timedelta(seconds=10),  # ~100x the slowest honest example: catches blow-ups
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# ---------------------------------------------------------------- vocabulary from the schema


def _literals(annotation) -> list:
    found: list = []
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    for arg in typing.get_args(annotation):
        found += _literals(arg)
    return found


MODELS = [
    kit_model.SystemModel,
    kit_model.System,
    kit_model.Asset,
    kit_model.Flow,
    kit_model.ControlUse,
    kit_model.Attestation,
    kit_model.Decision,
    kit_model.Provenance,
    kit_model.DueDiligence,
]
FIELDS = sorted({info.alias or name for m in MODELS for name, info in m.model_fields.items()})
ENUMS = sorted(
    {str(v) for m in MODELS for info in m.model_fields.values() for v in _literals(info.annotation)}
)
IDS = ["train-data", "scorer", "score-api", "a", "b", "model-2", "Scorer", "score_api"]
CONTROL_IDS = ["rate-limiting", "authentication", "input-validation", "rate-limitng"]
PROVISIONS = ["5.1.3-1", "5.2.2-2", "5.1.1-1", "5.9.9-9", "5.1.3-1.3"]
AWKWARD = [
    "",
    " ",
    "..",
    "../x",
    "/etc/passwd",
    "<script>alert(1)</script>",
    "=1+1",
    "@SUM(A1)",
    "{{ 7*7 }}",
    "yes",
    "no",
    "~",
    "null",
    "1e3",
    "0x1F",
    ".inf",
    "2026-01-01",
    "2026-13-45",
    "a: b",
    "- x",
    "&a",
    "*a",
    "!!python/name:os.system",
    "\u202e",
    "\x1b[2J",
    "\u200b",
    "x" * 300,
]
SCALARS = st.one_of(
    st.sampled_from(ENUMS + IDS + CONTROL_IDS + PROVISIONS + AWKWARD),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.dates(),
    st.text(max_size=20),
)
KEYS = st.one_of(st.sampled_from(FIELDS), st.text(max_size=10), st.integers(-5, 5))


def _values(max_leaves: int = 12):
    return st.recursive(
        SCALARS,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
        max_leaves=max_leaves,
    )


def _entry(required: dict, fields: list[str]):
    """A mapping shaped like one list entry of the system file, often but not always valid."""
    value = SCALARS | st.sampled_from(ENUMS + IDS) | _values(3)
    optional = {f: value for f in fields if f not in required}
    return st.fixed_dictionaries(required, optional=optional)


def _fields(m) -> list[str]:
    return [info.alias or name for name, info in m.model_fields.items()]


ASSET = _entry(
    {
        "id": st.sampled_from(IDS) | SCALARS,
        "type": st.sampled_from(kit_model.ASSET_TYPES + ("modle",)),
    },
    _fields(kit_model.Asset),
)
FLOW = _entry(
    {
        "from": st.sampled_from(IDS),
        "to": st.sampled_from(IDS),
        "kind": st.sampled_from(kit_model.FLOW_KINDS + ("feeds",)),
    },
    _fields(kit_model.Flow),
)
SYSTEM = _entry(
    {
        "id": st.sampled_from(IDS) | SCALARS,
        "name": st.text(max_size=20) | SCALARS,
        "purpose": st.text(max_size=20),
        "ai_type": st.sampled_from(ENUMS),
        "roles": st.lists(st.sampled_from(ENUMS), max_size=3),
    },
    _fields(kit_model.System),
)
CONTROL_USE = _entry(
    {
        "control": st.sampled_from(CONTROL_IDS),
        "assets": st.lists(st.sampled_from(IDS), max_size=3),
        "status": st.sampled_from(["implemented", "planned", "done"]),
    },
    _fields(kit_model.ControlUse),
)
ATTESTATION = _entry(
    {
        "provision": st.sampled_from(PROVISIONS),
        "status": st.sampled_from(ENUMS),
        "date": st.dates() | SCALARS,
    },
    _fields(kit_model.Attestation),
)
DECISION = _entry(
    {
        "finding": st.sampled_from(["evasion@scorer", "x@y", "evasion", "@"]),
        "status": st.sampled_from(ENUMS),
    },
    _fields(kit_model.Decision),
)
SYSTEM_DOCUMENTS = st.fixed_dictionaries(
    {"system": SYSTEM | _values(), "assets": st.lists(ASSET, max_size=6) | _values()},
    optional={
        "flows": st.lists(FLOW, max_size=6),
        "controls": st.lists(CONTROL_USE, max_size=3),
        "attestations": st.lists(ATTESTATION, max_size=3),
        "decisions": st.lists(DECISION, max_size=3),
        "extra": _values(),
    },
) | _values(20)


# ---------------------------------------------------------------- editing valid inputs

TOKENS = [
    ":",
    ": ",
    "- ",
    "-",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a ",
    "*a",
    "!!python/object:os ",
    "!x ",
    "'",
    '"',
    "#",
    "\n",
    "\n  ",
    "\t",
    "  ",
    "---\n",
    "? ",
    "|",
    ">",
    "%YAML 1.1\n",
    "<<: ",
    "\\",
    "\u202e",
    "\x00",
    "\ufeff",
    "é",
    "\U0001f600",
    "~",
    "@",
    "`",
]


def _edit_data(doc, data, edits: int):
    """Apply `edits` random changes to a parsed document: replace, delete, add or copy."""
    for _ in range(edits):
        node = doc
        while isinstance(node, (dict, list)) and node and data.draw(st.integers(0, 3)) > 0:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            child = node[data.draw(st.sampled_from(keys))]
            if not isinstance(child, (dict, list)):
                break
            node = child
        if not isinstance(node, (dict, list)):
            continue
        action = data.draw(st.sampled_from(["replace", "delete", "add", "copy"]))
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if action == "add" or not keys:
            value = data.draw(_values(6))
            if isinstance(node, dict):
                node[data.draw(KEYS)] = value
            else:
                node.append(value)
        elif action == "replace":
            node[data.draw(st.sampled_from(keys))] = data.draw(_values(6))
        elif action == "delete":
            del node[data.draw(st.sampled_from(keys))]
        elif isinstance(node, list):
            node.append(copy.deepcopy(node[data.draw(st.sampled_from(keys))]))
    return doc


def _edit_text(text: str, data, edits: int) -> str:
    """Apply `edits` random changes to YAML text: insert a token, delete a span, copy a line."""
    for _ in range(edits):
        pos = data.draw(st.integers(0, len(text)))
        action = data.draw(st.sampled_from(["insert", "delete", "line"]))
        if action == "insert":
            token = data.draw(st.sampled_from(TOKENS) | st.text(max_size=4))
            text = text[:pos] + token + text[pos:]
        elif action == "delete":
            text = text[:pos] + text[pos + data.draw(st.integers(1, 12)) :]
        else:
            lines = text.splitlines(keepends=True)
            if lines:
                i = data.draw(st.integers(0, len(lines) - 1))
                lines.insert(data.draw(st.integers(0, len(lines))), lines[i])
            text = "".join(lines)
    return text


def _dump(doc) -> str:
    return yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=120)


def _parse(text: str):
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


# ---------------------------------------------------------------- the property, checked


def _check_problems(exc: InputError, files: dict[str, str | bytes | None]) -> None:
    """Every problem names one of the input files (or folders) and, if a line, a line in it."""
    assert exc.problems
    for p in exc.problems:
        assert p.file in files, (p.file, list(files))
        content = files[p.file]
        if p.line is not None:
            assert content is not None, f"a line for a file with no text: {p}"
            newline = b"\n" if isinstance(content, bytes) else "\n"
            lines = content.count(newline) + 1
            assert 1 <= p.line <= lines, f"line {p.line} of {lines}: {p}"
        assert not UNSAFE_CHARACTERS.search(str(p)), f"unescaped control character in {str(p)!r}"


@pytest.fixture(scope="module")
def workdir():
    base = Path(tempfile.mkdtemp(prefix="saikit-properties-"))
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def full_library():
    return kit_library.load_library()


@pytest.fixture(scope="module")
def ids():
    return set(kit_library.load_library().controls), set(load_catalogue().ids)


def _load_system(folder: Path, system: str | bytes, decisions: str | bytes | None, ids, library):
    """load_system on these files: the model, or None when refused with InputError."""
    from kit.analysis import analyse_model

    path = folder / "system.yaml"
    _write(path, system)
    files: dict[str, str | bytes | None] = {str(path): system}
    if decisions is not None:
        _write(folder / "decisions.yaml", decisions)
        files[str((folder / "decisions.yaml").resolve())] = decisions
    try:
        model = kit_model.load_system(path, controls=ids[0], provisions=ids[1])
    except InputError as exc:
        _check_problems(exc, files)
        event(_refused_at(exc))
        return None
    analyse_model(model, library)  # what loads must also be analysable
    event("loaded and analysed")
    return model


def _refused_at(exc: InputError) -> str:
    """Which stage refused the input, for the statistics (pytest --hypothesis-show-statistics)."""
    if all(not p.path for p in exc.problems):
        return "refused while reading the file"
    if any(
        "unknown" in p.message or "loop" in p.message or "duplicate asset" in p.message
        for p in exc.problems
    ):
        return "refused by a reference check"
    return "refused by the schema"


def _write(path: Path, content: str | bytes) -> None:
    if isinstance(content, str):
        content = content.encode("utf-8", "surrogatepass")
    path.write_bytes(content)


def _fresh(workdir: Path) -> Path:
    return Path(tempfile.mkdtemp(dir=workdir))


# ---------------------------------------------------------------- YAML reader


@_settings("parse")
@given(
    text=st.one_of(
        st.text(max_size=200),
        st.lists(st.sampled_from(TOKENS + FIELDS[:10] + IDS), max_size=40).map("".join),
    )
)
def test_yaml_reader_returns_a_document_or_its_own_error(text):
    try:
        doc = yamlio.parse(text, "f.yaml")
    except InputError as exc:
        _check_problems(exc, {"f.yaml": text})
    else:
        assert isinstance(doc, yamlio.Document)


# ---------------------------------------------------------------- system loader

CREDIT = examples()["credit-risk"].read_text(encoding="utf-8")
SUPPORT = _parse(examples()["support-assistant"].read_text(encoding="utf-8"))
SUPPORT["system"]["decisions_file"] = "decisions.yaml"
SUPPORT_DECISIONS = _parse(
    examples()["support-assistant"]
    .with_name("support-assistant.decisions.yaml")
    .read_text(encoding="utf-8")
)


@_settings("system_generated")
@given(doc=SYSTEM_DOCUMENTS)
def test_system_loader_on_documents_built_from_the_schema(doc, workdir, ids, full_library):
    _load_system(_fresh(workdir), _dump(doc), None, ids, full_library)


@_settings("system_mutated")
@given(data=st.data())
def test_system_loader_on_valid_files_with_their_data_edited(data, workdir, ids, full_library):
    system, decisions = copy.deepcopy(SUPPORT), copy.deepcopy(SUPPORT_DECISIONS)
    target = data.draw(st.sampled_from(["system", "decisions", "both"]))
    if target != "decisions":
        system = _edit_data(system, data, data.draw(st.integers(1, 4)))
    if target != "system":
        decisions = _edit_data(decisions, data, data.draw(st.integers(1, 3)))
    _load_system(_fresh(workdir), _dump(system), _dump(decisions), ids, full_library)


@_settings("system_text")
@given(data=st.data())
def test_system_loader_on_valid_files_with_their_text_edited(data, workdir, ids, full_library):
    text = _edit_text(CREDIT, data, data.draw(st.integers(1, 5)))
    _load_system(_fresh(workdir), text, None, ids, full_library)


@_settings("system_bytes")
@given(
    raw=st.one_of(
        st.binary(max_size=400), st.binary(max_size=40).map(lambda b: CREDIT.encode()[:2000] + b)
    )
)
def test_system_loader_on_arbitrary_bytes(raw, workdir, ids, full_library):
    _load_system(_fresh(workdir), raw, None, ids, full_library)


# ---------------------------------------------------------------- threat-library loader


@pytest.fixture(scope="module")
def small_shipped(workdir):
    """A stand-in for the shipped library: all its controls and two of its threats.

    Each example loads the shipped library beside the generated one; the whole shipped set
    would make every example ten times slower without testing anything more of the loader.
    """
    shipped = kit_library.shipped_directory()
    small = workdir / "shipped"
    (small / "threats").mkdir(parents=True)
    shutil.copy(shipped / "controls.yaml", small / "controls.yaml")
    for name in ("evasion.yaml", "model-extraction.yaml"):
        shutil.copy(shipped / "threats" / name, small / "threats" / name)
    mp = pytest.MonkeyPatch()
    mp.setattr(kit_files, "shipped_directory", lambda: small)
    mp.setattr(kit_library, "shipped_directory", lambda: small)
    # the unchanging stand-in is parsed once, not once per example
    load_file, parsed = yamlio.load_file, {}

    def cached(path, *args, **kwargs):
        if Path(path).parent in (small, small / "threats"):
            if path not in parsed:
                parsed[path] = load_file(path, *args, **kwargs)
            return copy.deepcopy(parsed[path])
        return load_file(path, *args, **kwargs)

    mp.setattr(yamlio, "load_file", cached)
    yield small
    mp.undo()


@pytest.fixture(scope="module")
def graph():
    from kit.graph import build
    from kit.inputs import load_checked

    model, _ = load_checked(examples()["credit-risk"])
    return build(model)


SHIPPED_THREATS = {
    p.name: _parse(p.read_text(encoding="utf-8"))
    for p in sorted(kit_library.shipped_directory().glob("threats/*.yaml"))
}
SHIPPED_TEXTS = {
    p.name: p.read_text(encoding="utf-8")
    for p in sorted(kit_library.shipped_directory().glob("threats/*.yaml"))
}
SHIPPED_CONTROLS = _parse(
    (kit_library.shipped_directory() / "controls.yaml").read_text(encoding="utf-8")
)
ATTRIBUTES = sorted(ASSET_ATTRIBUTES) + ["exposur", "owner.name"]


def _conditions():
    attribute = st.fixed_dictionaries(
        {"attribute": st.sampled_from(ATTRIBUTES)},
        optional={
            "equals": SCALARS,
            "in": st.lists(SCALARS, max_size=3),
            "exists": st.booleans(),
            "contains": SCALARS,
            "beyond": st.sampled_from(ATTRIBUTES),
        },
    )
    walk_keys = st.sampled_from(["upstream", "downstream", "neighbour"])

    def extend(inner):
        walk = st.fixed_dictionaries(
            {},
            optional={
                "kinds": st.lists(st.sampled_from(kit_model.FLOW_KINDS + ("feeds",)), max_size=3),
                "depth": st.integers(-1, 60),
                "where": inner,
                "flow": st.dictionaries(
                    st.sampled_from(["crosses_boundary", "encrypted", "secret"]),
                    st.booleans(),
                    max_size=2,
                ),
            },
        )
        return st.one_of(
            st.builds(lambda k, w: {k: w}, walk_keys, walk),
            st.builds(lambda c: {"all": c}, st.lists(inner, max_size=3)),
            st.builds(lambda c: {"any": c}, st.lists(inner, max_size=3)),
            st.builds(lambda c: {"not": c}, inner),
            st.dictionaries(
                st.sampled_from(["all", "any", "not", "attribute", "where"]), inner, max_size=2
            ),
        )

    return st.recursive(attribute | SCALARS, extend, max_leaves=6)


def _load_library(workdir: Path, graph, files: dict[str, str | bytes]) -> None:
    """load_library on a generated directory: a Library or the kit's own error, nothing else."""
    from kit.threats.engine import evaluate

    folder = _fresh(workdir)
    written: dict[str, str | bytes | None] = {str(folder): None}
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        _write(path, content)
        written[str(path)] = content
    try:
        library = kit_library.load_library([folder])
    except InputError as exc:
        _check_problems(exc, written)
        event(_refused_at(exc))
        return
    evaluate(graph, library)  # a library that loads must evaluate
    event("loaded and evaluated")


@_settings("library_threats")
@given(data=st.data())
def test_library_loader_on_threats_with_their_data_edited(data, workdir, small_shipped, graph):
    threat = copy.deepcopy(SHIPPED_THREATS[data.draw(st.sampled_from(sorted(SHIPPED_THREATS)))])
    threat["id"] = f"house-{threat['id']}"
    threat = _edit_data(threat, data, data.draw(st.integers(1, 4)))
    _load_library(workdir, graph, {"threats/house.yaml": _dump(threat)})


@_settings("library_conditions")
@given(data=st.data())
def test_library_loader_on_conditions_built_from_the_language(data, workdir, small_shipped, graph):
    threat = copy.deepcopy(SHIPPED_THREATS["evasion.yaml"])
    threat["id"] = "house-evasion"
    threat["when"] = data.draw(_conditions())
    if data.draw(st.booleans()):
        threat["factors"] = [
            {"when": data.draw(_conditions()), "likelihood": 1, "reason": "generated factor"}
        ]
    _load_library(workdir, graph, {"threats/house.yaml": _dump(threat)})


@_settings("library_controls")
@given(data=st.data())
def test_library_loader_on_controls_with_their_data_edited(data, workdir, small_shipped, graph):
    controls = copy.deepcopy(SHIPPED_CONTROLS)
    controls["controls"] = [dict(c, id=f"house-{c['id']}") for c in controls["controls"][:6]]
    controls = _edit_data(controls, data, data.draw(st.integers(1, 4)))
    _load_library(workdir, graph, {"controls.yaml": _dump(controls)})


@_settings("library_text")
@given(data=st.data())
def test_library_loader_on_threat_files_with_their_text_edited(data, workdir, small_shipped, graph):
    text = SHIPPED_TEXTS[data.draw(st.sampled_from(sorted(SHIPPED_TEXTS)))]
    text = text.replace("\nid: ", "\nid: house-", 1)
    text = _edit_text(text, data, data.draw(st.integers(1, 5)))
    name = data.draw(st.sampled_from(["threats/house.yaml", "controls.yaml"]))
    raw: str | bytes = text
    if data.draw(st.integers(0, 9)) == 0:  # now and then, broken bytes at the end
        raw = text.encode("utf-8")[:-3] + data.draw(st.binary(max_size=8))
    _load_library(workdir, graph, {name: raw})
