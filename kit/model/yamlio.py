"""Safe, bounded YAML reading that remembers the line of every value.

Built on PyYAML's event stream (libyaml when present), never on a constructor that can make
arbitrary objects. Duplicate keys, over-deep nesting, oversized files, alias expansion bombs and
control or text-direction characters (see kit.errors.UNSAFE_CHARACTERS) are refused with a
message that names the file, the line and the YAML path.
"""

from __future__ import annotations

import codecs
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kit.errors import UNSAFE_CHARACTERS, describe_character, fail, format_path

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 10_000_000  # after alias expansion: bounds the work any later stage can be made to do
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
    lines: dict[tuple, int] = field(default_factory=dict)
    raw: dict[tuple, str] = field(
        default_factory=dict
    )  # as written, for values YAML did not keep as text

    def line(self, path: tuple) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


def read_text(path: str | os.PathLike, max_bytes: int = MAX_FILE_BYTES) -> str:
    """Read a UTF-8 file, refusing oversized files and undecodable bytes with a located message."""
    name = str(path)
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise fail(name, None, "", "file not found") from None
    except OSError as exc:
        raise fail(name, None, "", f"cannot read file: {exc.strerror}") from None
    if size > max_bytes:
        raise fail(name, None, "", f"file is {size:,} bytes; the limit is {max_bytes:,} bytes")
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise fail(name, None, "", f"cannot read file: {exc.strerror}") from None
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


def load_file(path: str | os.PathLike, max_bytes: int = MAX_FILE_BYTES) -> Document:
    """Read and parse one YAML file into a Document."""
    return parse(read_text(path, max_bytes), str(path))


def parse(text: str, file: str = "<string>") -> Document:
    """Parse YAML text into a Document; raise InputError on anything unsafe or malformed."""
    doc = Document(file, None)
    if not text.strip() or all(
        not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()
    ):
        raise fail(file, 1, "", "file is empty; expected a YAML mapping")
    _refuse_unsafe_characters(text, file)
    try:
        _Builder(doc).run(yaml.parse(text, Loader=Loader))
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow; it has no mark
        line = text.count("\n", 0, exc.position) + 1
        what = f"{exc.reason} (character #x{exc.character:04x})"
        raise fail(file, line, "", f"YAML error: {what}") from None
    except yaml.MarkedYAMLError as exc:
        if "maximum nesting depth" in str(exc.problem) and Loader is not yaml.SafeLoader:
            # newer libyaml stops deep nesting before we see an event; the pure-Python parser
            # (iterative too) lets our own bound report it with its path
            _Builder(Document(file, None)).run(yaml.parse(text, Loader=yaml.SafeLoader))
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


class _Builder:
    """Turns a YAML event stream into plain data, iteratively (no recursion limit to hit)."""

    def __init__(self, doc: Document):
        self.doc = doc
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.nodes = 0
        self.aliases = 0

    def run(self, events) -> None:
        # A frame: [container, path, size, anchor, pending_key, pending_key_line, keys, start_event]
        stack: list[list] = []
        documents = 0
        for event in events:
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise fail(
                        self.doc.file,
                        event.start_mark.line + 1,
                        "",
                        "more than one YAML document; expected exactly one",
                    )
                continue
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                path = self._child_path(stack, event)
                if len(stack) >= MAX_DEPTH:
                    raise fail(
                        self.doc.file,
                        event.start_mark.line + 1,
                        format_path(path[:8]) + ("…" if len(path) > 8 else ""),
                        f"nesting is deeper than {MAX_DEPTH} levels",
                    )
                self._check_tag(event, path)
                container: Any = {} if isinstance(event, yaml.MappingStartEvent) else []
                stack.append([container, path, 1, event.anchor, _NO_KEY, 0, {}, event])
                continue
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                container, path, size, anchor, *_, start = stack.pop()
                self._place(stack, container, size, anchor, start)
                continue
            if isinstance(event, yaml.ScalarEvent):
                path = self._child_path(stack, event)
                self._check_tag(event, path)
                self._check_text(event, path)
                self._place(stack, self._scalar(event, path), 1, event.anchor, event)
                continue
            if isinstance(event, yaml.AliasEvent):
                if event.anchor not in self.anchors:
                    raise fail(
                        self.doc.file,
                        event.start_mark.line + 1,
                        format_path(self._child_path(stack, event)),
                        f"unknown alias '*{event.anchor}'",
                    )
                value, size = self.anchors[event.anchor]
                self.aliases += 1
                self._place(stack, value, size, None, event)

    def _child_path(self, stack: list[list], event) -> tuple:
        if not stack:
            return ()
        frame = stack[-1]
        if isinstance(frame[0], list):
            return frame[1] + (len(frame[0]),)
        if frame[4] is _NO_KEY:  # this event is a key
            return frame[1]
        return frame[1] + (frame[4],)

    def _check_tag(self, event, path: tuple) -> None:
        tag = getattr(event, "tag", None)
        if tag and tag != "!" and tag not in _ALLOWED_TAGS:
            raise fail(
                self.doc.file,
                event.start_mark.line + 1,
                format_path(path),
                f"YAML tag '{tag}' is not allowed; plain YAML only",
            )

    def _check_text(self, event, path: tuple) -> None:
        # escapes in quoted text ("\u202e", "\x1b") make characters the raw check cannot see
        found = UNSAFE_CHARACTERS.search(event.value)
        char = found.group() if found else "\r" if "\r" in event.value else None
        if char:
            raise fail(
                self.doc.file,
                event.start_mark.line + 1,
                format_path(path),
                f"text contains {describe_character(char)}: control and text-direction "
                "characters are not allowed; remove it",
            )

    def _scalar(self, event, path: tuple) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = _resolver.resolve(yaml.ScalarNode, event.value, event.implicit)
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        builder = _constructor.yaml_constructors.get(tag)
        if builder is None or tag.endswith(":timestamp"):
            # timestamps stay strings: pydantic parses dates, and times need no YAML magic
            return event.value
        if tag != "tag:yaml.org,2002:str":
            self.doc.raw[path] = event.value
        try:
            return builder(_constructor, node)
        except (ValueError, yaml.YAMLError):
            raise fail(
                self.doc.file,
                event.start_mark.line + 1,
                format_path(path),
                f"cannot read {_shorten(event.value)!r} as {tag.rsplit(':', 1)[-1]}",
            ) from None

    def _place(self, stack: list[list], value: Any, size: int, anchor, event) -> None:
        self.nodes += size
        if self.nodes > MAX_NODES:
            raise fail(
                self.doc.file,
                event.start_mark.line + 1,
                "",
                f"document expands to more than {MAX_NODES:,} values through its aliases "
                "(alias expansion bomb?)"
                if self.aliases
                else f"document holds more than {MAX_NODES:,} values; the limit is {MAX_NODES:,}",
            )
        if anchor:
            self.anchors[anchor] = (value, size)
        line = event.start_mark.line + 1
        if not stack:
            self.doc.data = value
            self.doc.lines[()] = line
            return
        frame = stack[-1]
        frame[2] += size
        container = frame[0]
        if isinstance(container, list):
            self.doc.lines.setdefault(frame[1] + (len(container),), line)
            container.append(value)
            return
        if frame[4] is _NO_KEY:  # a key
            if isinstance(value, (dict, list)):
                raise fail(
                    self.doc.file, line, format_path(frame[1]), "a key must be a plain value"
                )
            key = value if isinstance(value, (str, int, bool)) or value is None else str(value)
            if key in frame[6]:
                raise fail(
                    self.doc.file,
                    line,
                    format_path(frame[1] + (key,)),
                    f"duplicate key '{key}' (first set on line {frame[6][key]})",
                )
            frame[6][key] = line
            frame[4], frame[5] = key, line
            return
        key = frame[4]
        self.doc.lines.setdefault(frame[1] + (key,), frame[5])
        container[key] = value
        frame[4] = _NO_KEY


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_NO_KEY = object()
_ALLOWED_TAGS = {
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp")
}
