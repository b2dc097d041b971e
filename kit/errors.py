"""One error type for everything a user can get wrong, with file, line and YAML path."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import islice

# Characters that hide or disguise text: C0 and C1 controls (tab, newline and carriage return
# aside), DEL, the bidirectional embeddings, overrides and isolates of "Trojan Source", line and
# paragraph separators (YAML counts them as line breaks, editors do not), surrogates and
# non-characters. Refused in input files; escaped wherever an error message shows them.
UNSAFE_CHARACTERS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff\ufffe\uffff]"
)


# How many problems an InputError shows (the CLI prints them, then one line counting the rest),
# and how many a check that costs real work per problem collects before it stops.
MAX_SHOWN = 50
MAX_PROBLEMS = 1_000


@dataclass(frozen=True)
class Problem:
    """One thing wrong in one input file.

    `hint`, when set, is a suggestion not worked out yet: the message is `message`, then
    " (did you mean …?)" when a name is close, then `hint.after`. It is worked out only for the
    problems shown (`rendered`), so a file with thousands of misspellings costs no more than the
    few that are printed.
    """

    file: str
    line: int | None
    path: str
    message: str
    hint: Hint | None = None

    def rendered(self) -> Problem:
        """This problem with its hint worked out into the message."""
        if self.hint is None:
            return self
        text = self.message + did_you_mean(self.hint.word, self.hint.choices) + self.hint.after
        return replace(self, message=text, hint=None)

    def __str__(self) -> str:
        message = self.rendered().message
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where} {self.path}: {message}" if self.path else f"{where}: {message}"
        return escape_unsafe(text)


@dataclass(frozen=True)
class Hint:
    """A suggestion for a Problem: the name in `choices` closest to `word`, then `after`."""

    word: str
    choices: Suggestions
    after: str = ""


class InputError(Exception):
    """Raised for bad user input; carries the problems found. The CLI prints them and exits 2.

    Only the first MAX_SHOWN problems are shown (`shown`, with their suggestions worked out),
    then `more` says how many were left out. `uncounted` is how many problems were found beyond
    those in `problems` (counted but not kept), or None when the check stopped early (at
    MAX_PROBLEMS) and there may be more than it found.
    """

    def __init__(self, problems: Iterable[Problem], *, uncounted: int | None = 0):
        problems = list(problems)
        shown = [p.rendered() for p in problems[:MAX_SHOWN]]
        self.problems = shown + problems[MAX_SHOWN:]
        self.uncounted = uncounted
        lines = [str(p) for p in shown] + ([self.more] if self.more else [])
        super().__init__("\n".join(lines))

    def __reduce__(self):  # pickled whole (its args hold only the text)
        return _input_error, (self.problems, self.uncounted)

    @property
    def shown(self) -> list[Problem]:
        return self.problems[:MAX_SHOWN]

    @property
    def complete(self) -> bool:
        """Whether every problem was counted."""
        return self.uncounted is not None

    @property
    def more(self) -> str:
        """'… and 1,950 more problems' (or how far the check went), or '' when all are shown."""
        found = len(self.problems)
        if self.uncounted is None:
            return (
                f"… and at least {max(found - MAX_SHOWN, 1):,} more problems "
                f"(checking stopped after the first {found:,})"
            )
        left = found + self.uncounted - min(found, MAX_SHOWN)
        return f"… and {left:,} more problem{'s' if left != 1 else ''}" if left > 0 else ""


def _input_error(problems: list[Problem], uncounted: int | None) -> InputError:
    return InputError(problems, uncounted=uncounted)


def take(found: Iterable, limit: int = MAX_PROBLEMS) -> tuple[list, int]:
    """(the first `limit` of `found`, how many more there are): problems cheap to count but
    not to locate and keep are counted past the limit, not kept."""
    found = iter(found)
    kept = list(islice(found, limit))
    return kept, sum(1 for _ in found)


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


def did_you_mean(word: str, choices: Iterable[str] | Suggestions) -> str:
    """Return ' (did you mean 'x'?)' for the closest choice, or '' when none is close.

    The closest is what difflib.get_close_matches(word, choices, n=1, cutoff=0.6) picks. Pass a
    Suggestions built once when asking about many words among the same many choices.
    """
    if not isinstance(choices, Suggestions):
        choices = tuple(map(str, choices))
        choices = _suggestions(choices) if len(choices) <= 1_000 else Suggestions(choices)
    match = choices.nearest(str(word))
    return f" (did you mean '{match}'?)" if match is not None else ""


@lru_cache(maxsize=64)
def _suggestions(choices: tuple[str, ...]) -> Suggestions:
    return Suggestions(choices)


class Suggestions:
    """The valid name nearest to a misspelt one, among one fixed set of names.

    Gives exactly what difflib.get_close_matches(word, names, n=1, cutoff=0.6) gives (the best
    difflib ratio, ties to the greater name) for a fraction of the work on large sets, and
    remembers each word's answer. difflib's ratio is never above its quick_ratio (twice the
    letters two names share, counted with repeats, over their total length), and numpy computes
    that bound for all names at once; difflib then scores names in falling order of their bound
    and stops as soon as no name left can beat the best found.
    """

    SMALL = 64  # up to this many names, plain difflib is as quick

    def __init__(self, names: Iterable[str]):
        self.names = list(dict.fromkeys(map(str, names)))
        self._answers: dict[str, str | None] = {}
        self._table = None

    def __len__(self) -> int:
        return len(self.names)

    def nearest(self, word: str, cutoff: float = 0.6) -> str | None:
        """The closest name to `word` whose ratio is at least `cutoff`, or None."""
        key = f"{cutoff}\0{word}"
        if key not in self._answers:
            if len(self.names) <= self.SMALL:
                found = difflib.get_close_matches(word, self.names, n=1, cutoff=cutoff)
                self._answers[key] = found[0] if found else None
            else:
                self._answers[key] = self._search(word, cutoff)
        return self._answers[key]

    def _search(self, word: str, cutoff: float) -> str | None:
        import numpy as np

        alphabet, counts, lengths = self._letters()
        wanted = np.zeros(len(alphabet), counts.dtype)
        for char in word:
            column = alphabet.get(char)
            if column is not None:
                wanted[column] += 1
        shared = np.minimum(counts, wanted).sum(axis=1)
        bound = 2.0 * shared / (lengths + len(word))  # difflib's quick_ratio, name by name
        order = np.flatnonzero(bound >= cutoff)
        order = order[np.argsort(-bound[order], kind="stable")]
        matcher = difflib.SequenceMatcher()
        matcher.set_seq2(word)  # as get_close_matches does: the word is the second sequence
        best, best_score = None, -1.0
        for i, limit in zip(order.tolist(), bound[order].tolist(), strict=True):
            if limit < best_score:
                break  # no name left can reach the best score
            name = self.names[i]
            if limit == best_score and best is not None and name < best:
                continue  # it could only tie, and a tie goes to the greater name
            matcher.set_seq1(name)
            score = matcher.ratio()
            if score >= cutoff and (score, name) > (best_score, best or ""):
                best, best_score = name, score
        return best

    def _letters(self):
        """(column of each letter, letter counts per name, length of each name), built once."""
        if self._table is None:
            import numpy as np

            n = len(self.names)
            text = "".join(self.names).encode("utf-32-le", "surrogatepass")
            letters, column = np.unique(np.frombuffer(text, np.uint32), return_inverse=True)
            lengths = np.fromiter(map(len, self.names), np.int64, n)
            row = np.repeat(np.arange(n), lengths)
            cells = np.bincount(row * len(letters) + column.ravel(), minlength=n * len(letters))
            counts = cells.reshape(n, len(letters)).astype(np.int32)
            alphabet = {chr(c): i for i, c in enumerate(letters.tolist())}
            self._table = (alphabet, counts, lengths)
        return self._table


def format_path(parts: Iterable[str | int]) -> str:
    """Render a path tuple as `assets[3].flows` ."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
