"""Safe, bounded YAML reading that remembers the line of every value.

Built on PyYAML's event stream (libyaml when present), never on a constructor that can make
arbitrary objects. Duplicate keys, over-deep nesting, oversized files, alias expansion bombs and
control or text-direction characters (see kit.errors.UNSAFE_CHARACTERS) are refused with a
message that names the file, the line and the YAML path.
"""

from __future__ import annotations

import codecs
import contextlib
import contextvars
import os
from array import array
from dataclasses import dataclass, field
from typing import Any

import yaml

from kit.errors import UNSAFE_CHARACTERS, describe_character, fail, format_path
from kit.files import read_bounded

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 64
# Values in one document, aliases expanded, each counted once (a mapping, a key, a list, a scalar
# are a value each): bounds the work any later stage can be made to do. A system file at the
# 10 MiB bound holds 1 to 1.5 million; reading up to this bound takes seconds at most.
MAX_NODES = 2_000_000
MAX_RAW = 10_000  # scalars whose text Document.raw keeps (it only improves messages)
# UTF-32 first: its little-endian mark begins with UTF-16's
_OTHER_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_resolver = yaml.resolver.Resolver()
_constructor = yaml.constructor.SafeConstructor()


@dataclass
class Document:
    """A parsed YAML document: plain Python data plus the line of every path in it."""

    file: str
    data: Any
    # as written, for scalars YAML did not keep as text, when the text says more than the value
    # does (`yes`, `~`, `1e3`; not `42`, see `written`); the first MAX_RAW of them
    raw: dict[tuple, str] = field(default_factory=dict)
    values: int = 0  # values in the document, aliases expanded
    root_line: int | None = None
    # the line of each entry: per mapping (by its path) key → line, per list an array of lines
    keys: dict[tuple, dict] = field(default_factory=dict, repr=False)
    items: dict[tuple, array] = field(default_factory=dict, repr=False)

    def line(self, path: tuple) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            parent, last = path[:-1], path[-1]
            found = self.keys.get(parent)
            if found is not None and last in found:
                return found[last]
            lines = self.items.get(parent)
            if lines is not None and type(last) is int and 0 <= last < len(lines):
                return lines[last]
            path = parent
        return self.root_line

    def written(self, path: tuple, value: Any) -> str | None:
        """How the scalar `value` at `path` was written, when YAML read it as something other
        than text (a number, true/false, null); None for text and containers."""
        found = self.raw.get(tuple(path))
        if found is None and type(value) in (int, float):
            return str(value)  # written as it reads back
        return found


def read_text(path: str | os.PathLike, max_bytes: int = MAX_FILE_BYTES) -> str:
    """Read a UTF-8 file, refusing anything but a regular file (links followed), files over
    `max_bytes` and undecodable bytes with a located message (see kit.files.read_bounded)."""
    name = str(path)
    raw = read_bounded(path, max_bytes)
    for bom, encoding in _OTHER_BOMS:
        if raw.startswith(bom):
            raise fail(name, 1, "", f"file is encoded as {encoding}; save it as UTF-8")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise fail(
            name, line, "", f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None


def load_file(
    path: str | os.PathLike, max_bytes: int = MAX_FILE_BYTES, max_values: int | None = None
) -> Document:
    """Read and parse one YAML file into a Document (or take it from `in_memory`)."""
    held = _held(path)
    if isinstance(held, Document):
        return held
    if held is None:
        return parse(read_text(path, max_bytes), str(path), max_values)
    if len(held.encode("utf-8")) > max_bytes:
        raise fail(str(path), None, "", f"file would be over the limit of {max_bytes:,} bytes")
    return parse(held, str(path), max_values)


# Files whose contents are in memory, by real path: their text as it would be saved, or a
# Document already made from their data (see `in_memory`).
_IN_MEMORY: contextvars.ContextVar[dict[str, str | Document] | None] = contextvars.ContextVar(
    "saikit_yaml_in_memory", default=None
)


@contextlib.contextmanager
def in_memory(files: dict[str | os.PathLike, str | Document]):
    """Within the block, `load_file` reads these files from memory instead of from disk.

    Each value is the text the file would hold (parsed and checked as text read from disk is)
    or a Document made by `document_of`. This is how an edit not yet saved is validated exactly
    as `saikit check` would load the saved file, without writing a scratch copy. The files
    must exist on disk (whoever loads them may look for them there first).
    """
    token = _IN_MEMORY.set({os.path.realpath(p): v for p, v in files.items()})
    try:
        yield
    finally:
        _IN_MEMORY.reset(token)


def _held(path: str | os.PathLike) -> str | Document | None:
    files = _IN_MEMORY.get()
    return files.get(os.path.realpath(path)) if files else None


def document_of(data: Any, file: str, values: int | None = None) -> Document:
    """A Document of plain data already in memory (an edited round-trip document), for
    `in_memory`. It knows no lines: a problem found in it is reported without one (validate the
    text to get them).

    Without `values` its values are counted and its text checked as `parse` would check them.
    A caller that knows the count, and that every string in the data was checked already (read
    from text `parse` accepted, or checked with `refuse_unsafe` as it came in), passes it.
    """
    if values is not None:
        if values > MAX_NODES:
            raise fail(file, None, "", f"document holds more than {MAX_NODES:,} values")
        doc = Document(file, data)
        doc.values = values
        return doc
    count, todo = 0, [(data, 1)]
    while todo:
        value, depth = todo.pop()
        count += 1
        if count > MAX_NODES:
            raise fail(file, None, "", f"document holds more than {MAX_NODES:,} values")
        if isinstance(value, str):
            _refuse_unsafe_value(value, file)
        elif isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise fail(file, None, "", f"nesting is deeper than {MAX_DEPTH} levels")
            if isinstance(value, dict):
                count += len(value)  # the keys
                for key in value:
                    if isinstance(key, str):
                        _refuse_unsafe_value(key, file)
            items = value.values() if isinstance(value, dict) else value
            todo.extend((item, depth + 1) for item in items)
    doc = Document(file, data)
    doc.values = count
    return doc


def _refuse_unsafe_value(text: str, file: str, path: str = "") -> None:
    found = UNSAFE_CHARACTERS.search(text)
    if found:
        raise fail(
            file,
            None,
            path,
            f"{describe_character(found.group())}: control and text-direction characters are "
            "not allowed; remove it",
        )


def refuse_unsafe(value: Any, file: str, path: str = "") -> None:
    """Refuse control and text-direction characters in a value about to go into a document
    (every string in it, keys too), as `parse` refuses them in a file's text."""
    if isinstance(value, str):
        _refuse_unsafe_value(value, file, path)
    elif isinstance(value, dict):
        for k, v in value.items():
            refuse_unsafe(k, file, path)
            refuse_unsafe(v, file, path)
    elif isinstance(value, (list, tuple)):
        for v in value:
            refuse_unsafe(v, file, path)


def parse(text: str, file: str = "<string>", max_values: int | None = None) -> Document:
    """Parse YAML text into a Document; raise InputError on anything unsafe or malformed.

    `max_values` (default MAX_NODES) bounds the values of the document, aliases expanded.
    """
    doc = Document(file, None)
    if not text.strip() or all(
        not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()
    ):
        raise fail(file, 1, "", "file is empty; expected a YAML mapping")
    _refuse_unsafe_characters(text, file)
    try:
        _Builder(doc, max_values).run(yaml.parse(text, Loader=Loader))
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow; it has no mark
        line = text.count("\n", 0, exc.position) + 1
        what = f"{exc.reason} (character #x{exc.character:04x})"
        raise fail(file, line, "", f"YAML error: {what}") from None
    except yaml.MarkedYAMLError as exc:
        if "maximum nesting depth" in str(exc.problem) and Loader is not yaml.SafeLoader:
            # newer libyaml stops deep nesting before we see an event; the pure-Python parser
            # (iterative too) lets our own bound report it with its path
            _Builder(Document(file, None), max_values).run(yaml.parse(text, Loader=yaml.SafeLoader))
        mark = exc.problem_mark or exc.context_mark
        if exc.context_mark and "end of stream" in str(exc.problem):
            mark = exc.context_mark  # where the unclosed quote or bracket began, not the file's end
        last = text.count("\n") + (0 if text.endswith("\n") else 1)
        line = (
            min(mark.line + 1, last) if mark else None
        )  # the end of the stream is on the last line
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        if "mapping values are not allowed" in what:
            what += " (a value that contains ': ' must be put in quotes)"
        raise fail(file, line, "", f"YAML syntax error: {what}") from None
    except yaml.YAMLError as exc:
        raise fail(file, None, "", f"YAML error: {exc}") from None
    return doc


def _refuse_unsafe_characters(text: str, file: str) -> None:
    """Refuse control and bidirectional-override characters anywhere in the text, comments too:
    they can make what a reviewer reads differ from what the kit reads."""
    found = UNSAFE_CHARACTERS.search(text)
    if found:
        start = found.start()
        line = text.count("\n", 0, start) + 1
        column = start - (text.rfind("\n", 0, start) + 1) + 1
        raise fail(
            file,
            line,
            "",
            f"{describe_character(found.group())} at column {column}: "
            "control and text-direction characters are not allowed; remove it",
        )


# A frame: a mapping or list being built, as a list (quicker to make than an object, and a big
# document has millions): the container, whether it is a list, its path, its size so far in
# values (itself included), its anchor, its start event, the line of each entry (a mapping's
# keys → line, a list's array of lines; None while it has none) and, for a mapping, the key
# whose value comes next.
_CONTAINER, _IS_LIST, _PATH, _SIZE, _ANCHOR, _START, _LINES, _KEY = range(8)


class _Builder:
    """Turns a YAML event stream into plain data, iteratively (no recursion limit to hit).

    Every value is counted once as it arrives (an alias as the values it stands for), so the
    bound on values stops a document as soon as it passes it. Paths are worked out only for
    containers and errors; a list keeps its items' lines in a compact array.
    """

    def __init__(self, doc: Document, max_values: int | None = None):
        self.doc = doc
        self.limit = MAX_NODES if max_values is None else max_values
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.nodes = 0
        self.aliases = 0

    def run(self, events) -> None:
        stack: list[list] = []
        documents = 0
        scalar_event, plain, missing = yaml.ScalarEvent, _PLAIN, _NO_KEY
        sequence_start, sequence_end = yaml.SequenceStartEvent, yaml.SequenceEndEvent
        mapping_start, mapping_end = yaml.MappingStartEvent, yaml.MappingEndEvent
        for event in events:
            kind = type(event)
            if kind is scalar_event:
                if event.tag is not None and event.tag != "!":
                    self._check_tag(event, stack)
                if event.style == '"':  # only escapes make characters the raw check cannot see
                    self._check_text(event, stack)
                self.nodes += 1
                if self.nodes > self.limit:
                    self._count(0, event)
                text = event.value
                if event.tag is not None or not event.implicit[0]:
                    value = self._scalar(event, stack)
                elif (value := plain.get(text, missing)) is not missing:  # null, true, false
                    self._keep_raw(stack, text)
                elif (
                    len(text) < 19 and text.isdigit() and text.isascii() and text[0] != "0"
                ) or text == "0":
                    value = int(text)  # a decimal integer, as the resolver would read it
                else:
                    value = self._scalar(event, stack)
                self._place(stack, value, 1, event.anchor, event)
            elif kind is sequence_start or kind is mapping_start:
                if not stack:
                    path = ()
                elif (parent := stack[-1])[_IS_LIST]:
                    path = parent[_PATH] + (len(parent[_CONTAINER]),)
                elif parent[_KEY] is _NO_KEY:  # a mapping or list as a key: _place refuses it
                    path = parent[_PATH]
                else:
                    path = parent[_PATH] + (parent[_KEY],)
                if len(stack) >= MAX_DEPTH:
                    raise fail(
                        self.doc.file,
                        event.start_mark.line + 1,
                        format_path(path[:8]) + ("…" if len(path) > 8 else ""),
                        f"nesting is deeper than {MAX_DEPTH} levels",
                    )
                if event.tag is not None and event.tag != "!":
                    self._check_tag(event, stack)
                self.nodes += 1
                if self.nodes > self.limit:
                    self._count(0, event)
                is_list = kind is sequence_start
                container = [] if is_list else {}
                stack.append([container, is_list, path, 1, event.anchor, event, None, missing])
            elif kind is sequence_end or kind is mapping_end:
                container, is_list, path, size, anchor, start, lines, _ = stack.pop()
                if lines is not None:
                    (self.doc.items if is_list else self.doc.keys)[path] = lines
                if stack and (parent := stack[-1])[_IS_LIST] and not anchor:  # _place, quicker
                    parent[_SIZE] += size
                    if parent[_LINES] is None:
                        parent[_LINES] = array("I")
                    parent[_LINES].append(start.start_mark.line + 1)
                    parent[_CONTAINER].append(container)
                else:
                    self._place(stack, container, size, anchor, start)
            elif kind is yaml.AliasEvent:
                if event.anchor not in self.anchors:
                    raise fail(
                        self.doc.file,
                        event.start_mark.line + 1,
                        format_path(self._child_path(stack)),
                        f"unknown alias '*{event.anchor}'",
                    )
                value, size = self.anchors[event.anchor]
                self.aliases += 1
                self._count(size, event)
                self._place(stack, value, size, None, event)
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise fail(
                        self.doc.file,
                        event.start_mark.line + 1,
                        "",
                        "more than one YAML document; expected exactly one",
                    )
        self.doc.values = self.nodes

    def _count(self, values: int, event) -> None:
        self.nodes += values
        if self.nodes > self.limit:
            limit = self.limit
            raise fail(
                self.doc.file,
                event.start_mark.line + 1,
                "",
                f"document expands to more than {limit:,} values through its aliases "
                "(alias expansion bomb?)"
                if self.aliases
                else f"document holds more than {limit:,} values; the limit is {limit:,}",
            )

    def _child_path(self, stack: list[list]) -> tuple:
        """The path of the value the next event makes (for a mapping's key: the mapping's)."""
        if not stack:
            return ()
        frame = stack[-1]
        if frame[_IS_LIST]:
            return frame[_PATH] + (len(frame[_CONTAINER]),)
        if frame[_KEY] is _NO_KEY:  # this event is a key
            return frame[_PATH]
        return frame[_PATH] + (frame[_KEY],)

    def _check_tag(self, event, stack: list[list]) -> None:
        if event.tag not in _ALLOWED_TAGS:
            raise fail(
                self.doc.file,
                event.start_mark.line + 1,
                format_path(self._child_path(stack)),
                f"YAML tag '{event.tag}' is not allowed; plain YAML only",
            )

    def _check_text(self, event, stack: list[list]) -> None:
        # escapes in quoted text ("\u202e", "\x1b") make characters the raw check cannot see
        found = UNSAFE_CHARACTERS.search(event.value)
        char = found.group() if found else "\r" if "\r" in event.value else None
        if char:
            raise fail(
                self.doc.file,
                event.start_mark.line + 1,
                format_path(self._child_path(stack)),
                f"text contains {describe_character(char)}: control and text-direction "
                "characters are not allowed; remove it",
            )

    def _scalar(self, event, stack: list[list]) -> Any:
        tag, text = event.tag, event.value
        if tag is None or tag == "!":
            if not event.implicit[0]:  # quoted, or a block: text
                return text
            for candidate, pattern in _IMPLICIT.get(text[:1], _WILDCARD):
                if pattern.match(text):
                    tag = candidate
                    break
            else:
                return text  # plain text: the common case
        builder = _BUILDERS.get(tag)
        if builder is None:  # text, a timestamp (pydantic parses dates; times need no magic)
            return text
        try:
            if tag == _FLOAT and _DECIMAL.issuperset(text):
                value = float(text)  # what the builder makes of it, for less work
            else:
                node = yaml.ScalarNode(tag, text, event.start_mark, event.end_mark, event.style)
                value = builder(_constructor, node)
        except (ValueError, yaml.YAMLError):
            raise fail(
                self.doc.file,
                event.start_mark.line + 1,
                format_path(self._child_path(stack)),
                f"cannot read {_shorten(text)!r} as {tag.rsplit(':', 1)[-1]}",
            ) from None
        if type(value) not in (int, float) or text != str(value):  # see Document.written
            self._keep_raw(stack, text)
        return value

    def _keep_raw(self, stack: list[list], text: str) -> None:
        if len(self.doc.raw) < MAX_RAW:
            self.doc.raw[self._child_path(stack)] = text

    def _place(self, stack: list[list], value: Any, size: int, anchor, event) -> None:
        if anchor:
            self.anchors[anchor] = (value, size)
        line = event.start_mark.line + 1
        if not stack:
            self.doc.data = value
            self.doc.root_line = line
            return
        frame = stack[-1]
        frame[_SIZE] += size
        if frame[_IS_LIST]:
            if frame[_LINES] is None:
                frame[_LINES] = array("I")
            frame[_LINES].append(line)
            frame[_CONTAINER].append(value)
            return
        if frame[_KEY] is not _NO_KEY:  # the value of the key before
            frame[_CONTAINER][frame[_KEY]] = value
            frame[_KEY] = _NO_KEY
            return
        path = frame[_PATH]
        if isinstance(value, (dict, list)):
            raise fail(self.doc.file, line, format_path(path), "a key must be a plain value")
        key = value if isinstance(value, (str, int, bool)) or value is None else str(value)
        lines = frame[_LINES]
        if lines is None:
            lines = frame[_LINES] = {}
        elif key in lines:
            raise fail(
                self.doc.file,
                line,
                format_path(path + (key,)),
                f"duplicate key '{key}' (first set on line {lines[key]})",
            )
        lines[key] = line
        frame[_KEY] = key


def _unreadable(constructor, node):
    raise ValueError(node.tag)


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_NO_KEY = object()
_ALLOWED_TAGS = {
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp")
}
# What builds a scalar of each allowed tag that does not stay text. A scalar tagged seq or map
# has none (their builders would return a generator): it cannot be read.
_BUILDERS = {
    f"tag:yaml.org,2002:{name}": _constructor.yaml_constructors[f"tag:yaml.org,2002:{name}"]
    for name in ("int", "float", "bool", "null")
}
_BUILDERS.update(dict.fromkeys(("tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"), _unreadable))
_FLOAT = "tag:yaml.org,2002:float"
_DECIMAL = frozenset("0123456789.eE+-")
# How YAML reads the plain scalars that are neither text nor numbers (Resolver's bool and null)
_PLAIN = {
    text: value
    for value, texts in (
        (None, ("", "~", "null", "Null", "NULL")),
        (True, ("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")),
        (False, ("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")),
    )
    for text in texts
}
# The resolver's implicit tags by a plain scalar's first character, as Resolver.resolve reads
# them: a plain scalar none of these match is text.
_WILDCARD = tuple(_resolver.yaml_implicit_resolvers.get(None, []))
_IMPLICIT = {
    first: tuple(found) + _WILDCARD
    for first, found in _resolver.yaml_implicit_resolvers.items()
    if first is not None
}
