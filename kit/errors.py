"""One error type for everything a user can get wrong, with file, line and YAML path."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# Characters that hide or disguise text: C0 and C1 controls (tab, newline and carriage return
# aside), DEL, the bidirectional embeddings, overrides and isolates of "Trojan Source", line and
# paragraph separators (YAML counts them as line breaks, editors do not), surrogates and
# non-characters. Refused in input files; escaped wherever an error message shows them.
UNSAFE_CHARACTERS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff\ufffe\uffff]"
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in one input file."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return escape_unsafe(text)


class InputError(Exception):
    """Raised for bad user input; carries every problem found. The CLI prints them and exits 2."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def fail(file: str, line: int | None, path: str, message: str) -> InputError:
    """Return an InputError holding a single problem (for `raise fail(...)`)."""
    return InputError([Problem(str(file), line, path, message)])


def escape_unsafe(text: str) -> str:
    """`text` with every character UNSAFE_CHARACTERS matches (and carriage return) written as
    an escape, e.g. '\\u202e', so that a message shows it instead of obeying it."""
    return UNSAFE_CHARACTERS.sub(_escape, text.replace("\r", "\\r"))


def describe_character(char: str) -> str:
    """A readable name for one character: `U+202E RIGHT-TO-LEFT OVERRIDE ('\\u202e')`."""
    name = unicodedata.name(char, "")
    kind = "the control character" if unicodedata.category(char) == "Cc" else "the character"
    label = f"U+{ord(char):04X} {name}" if name else f"{kind} U+{ord(char):04X}"
    return f"{label} ('{_escape(char)}')"


def _escape(match_or_char) -> str:
    char = match_or_char if isinstance(match_or_char, str) else match_or_char.group()
    return ascii(char)[1:-1]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest choice, or '' when none is close."""
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def format_path(parts: Iterable[str | int]) -> str:
    """Render a path tuple as `assets[3].flows` ."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
