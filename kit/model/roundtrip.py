"""Round-trip YAML editing: change a system file and keep its comments, key order and quoting."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.scalarstring import ScalarString, SingleQuotedScalarString
from ruamel.yaml.tokens import CommentToken

from kit.files import read_bounded
from kit.model import yamlio

# Indentation styles tried when reading a file; the first that reproduces it exactly is kept.
_INDENTS = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0), (2, 4, 0))


# ---------------------------------------------------------------- YAML round trip


def make_yaml(indent: tuple[int, int, int]) -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a long line the user wrote
    y.indent(mapping=indent[0], sequence=indent[1], offset=indent[2])
    return y


def dump(doc: Any, indent: tuple[int, int, int]) -> str:
    out = io.StringIO()
    make_yaml(indent).dump(doc, out)
    return out.getvalue()


@dataclass(frozen=True)
class YamlFile:
    """One file as read for round-trip editing."""

    path: Path
    text: str  # as on disk when read (or last saved), with "\n" line ends
    newline: str  # the line end the file uses on disk
    indent: tuple[int, int, int]
    reproduced: bool  # whether an unedited dump equals `text` (False: saving also reformats)

    @classmethod
    def read(cls, path: Path) -> tuple[YamlFile, CommentedMap]:
        text, newline = read_text(path)
        doc = make_yaml(_INDENTS[0]).load(text)
        for indent in _INDENTS:
            if _reproduces(doc, indent, text):
                return cls(path, text, newline, indent, True), doc
        return cls(path, text, newline, _INDENTS[0], False), doc


class _Differs(Exception):
    pass


class _Matching(io.StringIO):
    """A stream that compares what is written with `text` as it comes, and stops the dump at
    the first difference: a wrong indentation is told from its first lines, not a whole dump."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text, self.at = text, 0

    def write(self, s: str) -> int:
        end = self.at + len(s)
        if self.text[self.at : end] != s:
            raise _Differs
        self.at = end
        return len(s)


def _reproduces(doc, indent: tuple[int, int, int], text: str) -> bool:
    """Whether dumping `doc` with `indent` gives back `text` exactly."""
    out = _Matching(text)
    try:
        make_yaml(indent).dump(doc, out)
    except _Differs:
        return False
    return out.at == len(text)


def read_text(path: Path) -> tuple[str, str]:
    """A file's text with "\n" line ends, and the line end it uses (read as every input file is:
    kit.files.read_bounded)."""
    raw = read_bounded(path, yamlio.MAX_FILE_BYTES)
    newline = "\r\n" if b"\r\n" in raw else "\n"
    return raw.decode("utf-8-sig").replace("\r\n", "\n"), newline


# ruamel.yaml keeps the comment lines that follow a value on that value (on the last scalar of
# a block, or on the sequence entry of a one-line item), so appending or removing an entry would
# carry them to the wrong place. These helpers move them along instead. A slot is
# (container, key, index in its comment list) of the token holding the text after a value.

Slot = tuple[Any, Any, int]


def _slot_after(container, key) -> Slot:
    """Where the text after `container[key]` is kept."""
    value = container[key]
    if isinstance(value, (CommentedMap, CommentedSeq)) and len(value) and not value.fa.flow_style():
        last = list(value)[-1] if isinstance(value, CommentedMap) else len(value) - 1
        return _slot_after(value, last)
    return container, key, 2 if isinstance(container, CommentedMap) else 0


def _tail_slot(node) -> Slot | None:
    """Where the text after a whole block mapping or sequence is kept (None: not a block)."""
    if not isinstance(node, (CommentedMap, CommentedSeq)) or not len(node) or node.fa.flow_style():
        return None
    return _slot_after(node, list(node)[-1] if isinstance(node, CommentedMap) else len(node) - 1)


def _token(slot: Slot | None) -> CommentToken | None:
    if slot is None:
        return None
    container, key, pos = slot
    items = container.ca.items.get(key)
    token = items[pos] if items and len(items) > pos else None
    return token if isinstance(token, CommentToken) else None


def _take(slot: Slot | None) -> str:
    """Remove and return the comment lines after a value's line (its own comment stays)."""
    token = _token(slot)
    if token is None or "\n" not in token.value:
        return ""
    own, rest = token.value.split("\n", 1)
    token.value = own + "\n"
    return rest


def _put(slot: Slot | None, rest: str) -> None:
    """Add comment lines after a value's line."""
    if not rest or slot is None:
        return
    token = _token(slot)
    if token is not None:
        if token.value.endswith("\n\n") and rest.startswith("\n"):
            rest = rest[1:]  # one blank line between blocks is enough
        token.value += rest
        return
    container, key, pos = slot
    items = container.ca.items.setdefault(key, [None, None, None, None])
    items[pos] = CommentToken("\n" + rest, CommentMark(0), None)


def append_item(seq: CommentedSeq, item) -> None:
    """Append to a block sequence, keeping the comment lines that followed its last item."""
    rest = _take(_tail_slot(seq))
    seq.append(item)
    _put(_tail_slot(seq), rest)


def delete_item(holder: CommentedMap, key: str, index: int) -> None:
    """Delete item `index` of the list `holder[key]`, with the comments written directly above it.

    The comment lines after it head the next item, so they stay; where that leaves two blank
    lines in a row, one goes. A list left empty is removed with its key.
    """
    seq = holder[key]
    rest = _take(_slot_after(seq, index))
    del seq[index]  # ruamel drops the item's own comments above it and renumbers the rest
    if not len(seq):  # an emptied section goes, and the comments after it move up
        del_key(holder, key)
        _put(_tail_slot(holder), rest)
        return
    if index == 0:
        rest = rest.lstrip("\n")
        if rest and len(seq):
            head = seq.ca.items.setdefault(0, [None, None, None, None])
            head[1] = [CommentToken(rest, CommentMark(0), None), *(head[1] or [])]
        return
    before = _slot_after(seq, index - 1)
    _put(before, rest)
    token = _token(before)
    after = (seq.ca.items.get(index) or [None, None])[1] if index < len(seq) else seq.ca.end
    if (
        token is not None
        and token.value.endswith("\n\n")
        and after
        and isinstance(after[0], CommentToken)
        and after[0].value.startswith("\n")
    ):
        after[0].value = after[0].value[1:]
        if not after[0].value:
            del after[0]


def set_key(mapping: CommentedMap, key: str, value) -> None:
    """Set a key in place, or add it after the last one, carrying the trailing comment along."""
    if key in mapping:
        old = mapping[key]
        if isinstance(old, ScalarString) and isinstance(value, str) and "\n" not in value:
            value = type(old)(value)  # keep the quoting the user chose
        elif (
            isinstance(old, CommentedSeq)
            and isinstance(value, CommentedSeq)
            and len(old)
            and not any(isinstance(v, (dict, list)) for v in value)
        ):
            if old.fa.flow_style():
                value.fa.set_flow_style()
            else:
                value.fa.set_block_style()
        mapping[key] = value
        return
    rest = _take(_tail_slot(mapping))
    mapping[key] = value
    _put(_tail_slot(mapping), rest)


def append_to(holder: CommentedMap, key: str, item) -> None:
    """Append an item to the list under `key`, making the list when it is missing or empty."""
    seq = holder.get(key)
    if isinstance(seq, CommentedSeq) and len(seq):
        append_item(seq, item)
    else:
        set_key(holder, key, CommentedSeq([item]))


def del_key(mapping: CommentedMap, key: str) -> None:
    if key not in mapping:
        return
    last = list(mapping)[-1] == key
    rest = _take(_tail_slot(mapping)) if last else ""
    del mapping[key]
    mapping.ca.items.pop(key, None)
    _put(_tail_slot(mapping), rest)


_STR = "tag:yaml.org,2002:str"
_RESOLVER = yamlio.Loader  # how the kit's loader reads a plain scalar (YAML 1.1: `yes` is true)


def yaml_value(value):
    """Plain Python data as round-trip nodes (lists of scalars in flow style).

    Text that the kit's loader would read as something else when written plain (`yes`, `1.0`,
    `2026-01-01`, `~`) is written in quotes, so it reads back as the text it is.
    """
    if isinstance(value, str) and not isinstance(value, ScalarString):
        tag = _RESOLVER.resolve(_RESOLVER, yaml.ScalarNode, value, (True, False))
        return value if tag == _STR else SingleQuotedScalarString(value)
    if isinstance(value, dict):
        out = CommentedMap()
        for k, v in value.items():
            out[k] = yaml_value(v)
        return out
    if isinstance(value, (list, tuple)):
        seq = CommentedSeq(yaml_value(v) for v in value)
        if all(not isinstance(v, (dict, list, tuple)) for v in value):
            seq.fa.set_flow_style()
        return seq
    return value


def plain(value):
    """Round-trip nodes as plain data (for reading values back)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, ScalarString):
        return str(value)
    return value


def data_of(node) -> tuple[Any, int]:
    """A round-trip document as plain data (as `plain`), and how many values it holds, counted
    as kit.model.yamlio counts them (a mapping, a key, a list, a scalar are a value each).

    Quicker than `plain` on a whole document: it reads ruamel.yaml's containers through the
    built-in dict and list, not their Python-level accessors.
    """
    count = 0

    def walk(value):
        nonlocal count
        count += 1
        if isinstance(value, dict):
            count += len(value)
            return {str(k): walk(v) for k, v in dict.items(value)}
        if isinstance(value, list):
            return [walk(v) for v in list.__iter__(value)]
        if isinstance(value, ScalarString):
            return str(value)
        return value

    return walk(node), count


def show_value(value) -> str:
    if value is None or value == [] or value == "":
        return "(default)"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
