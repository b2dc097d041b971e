"""kit.errors: the nearest name for a misspelling, and how many problems an error shows."""

from __future__ import annotations

import difflib
import pickle
import random
import string

import pytest

from kit.errors import (
    MAX_PROBLEMS,
    MAX_SHOWN,
    Hint,
    InputError,
    Problem,
    Suggestions,
    did_you_mean,
)

SLUG = string.ascii_lowercase + string.digits + "-_."


def _typo(rng: random.Random, word: str) -> str:
    """`word` with one ordinary slip: a letter dropped, added, changed or swapped, or shouted."""
    i = rng.randrange(len(word))
    letter = rng.choice(SLUG)
    return rng.choice(
        [
            word[:i] + word[i + 1 :],
            word[:i] + letter + word[i:],
            word[:i] + letter + word[i + 1 :],
            word[:i] + word[i + 1 : i + 2] + word[i : i + 1] + word[i + 2 :],
            word.upper(),
        ]
    )


def _names(kind: str, rng: random.Random) -> list[str]:
    if kind == "numbered":  # many names alike but for their digits: the hard case
        return [f"asset-{i:06d}" for i in rng.sample(range(1_000_000), 1_000)]
    if kind == "words":  # names built from a few words, some repeated
        parts = (["customer", "model", "score", "vector", "agent"], ["prod", "dev", "eu", "v2"])
        return [
            f"{rng.choice(parts[0])}-{rng.choice(parts[1])}-{rng.randrange(60)}" for _ in range(800)
        ]
    return [  # random letters, and a few names beyond ASCII
        "".join(rng.choice(SLUG + "éßж") for _ in range(rng.randrange(2, 24))) for _ in range(1_000)
    ]


@pytest.mark.parametrize("kind", ["numbered", "words", "random"])
def test_suggestions_pick_what_difflib_picks(kind):
    rng = random.Random(kind)
    names = _names(kind, rng)
    suggest = Suggestions(names)
    assert len(suggest) > Suggestions.SMALL  # the quick path, not plain difflib
    words = [_typo(rng, rng.choice(names)) for _ in range(120)]
    words += ["".join(rng.choice(SLUG) for _ in range(rng.randrange(1, 12))) for _ in range(30)]
    for word in words:
        expected = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
        assert suggest.nearest(word) == (expected[0] if expected else None), word


def test_did_you_mean_reads_as_before():
    ids = ["score-api", "scorer", "train-data"]
    assert did_you_mean("scoreapi", ids) == " (did you mean 'score-api'?)"
    assert did_you_mean("zzz", ids) == ""
    assert did_you_mean("scoreapi", Suggestions(ids)) == " (did you mean 'score-api'?)"


class _Counting(Suggestions):
    """Suggestions that count the words they are asked about."""

    def __init__(self, names):
        super().__init__(names)
        self.asked = 0

    def nearest(self, word: str, cutoff: float = 0.6):
        self.asked += 1
        return super().nearest(word, cutoff)


def test_an_error_works_out_suggestions_only_for_the_problems_it_shows():
    names = _Counting([f"model-{i:05d}" for i in range(2_000)])
    problems = [
        Problem(
            "system.yaml",
            10 + i,
            f"flows[{i}].to",
            f"unknown asset 'modl-{i:05d}'",
            Hint(f"modl-{i:05d}", names),
        )
        for i in range(2_000)
    ]
    error = InputError(problems)
    assert names.asked == MAX_SHOWN
    assert len(error.problems) == 2_000
    assert error.shown[0].message == "unknown asset 'modl-00000' (did you mean 'model-00000'?)"
    assert error.shown[0].hint is None
    assert error.problems[MAX_SHOWN].message == f"unknown asset 'modl-{MAX_SHOWN:05d}'"
    assert error.more == f"… and {2_000 - MAX_SHOWN:,} more problems"
    lines = str(error).splitlines()
    assert len(lines) == MAX_SHOWN + 1
    assert (
        lines[1]
        == "system.yaml:11 flows[1].to: unknown asset 'modl-00001' (did you mean 'model-00001'?)"
    )
    assert lines[-1] == error.more


def test_an_error_says_when_checking_stopped_before_the_end():
    problems = [
        Problem("big.yaml", 9, f"flows[{i}]", "expected a mapping, got int")
        for i in range(MAX_PROBLEMS)
    ]
    error = InputError(problems, uncounted=None)
    assert error.more == (
        f"… and at least {MAX_PROBLEMS - MAX_SHOWN:,} more problems "
        f"(checking stopped after the first {MAX_PROBLEMS:,})"
    )
    assert InputError(problems[:3]).more == ""
    assert InputError(problems[: MAX_SHOWN + 1]).more == "… and 1 more problem"


def test_an_error_survives_pickling_whole():
    # a worker process sends its exceptions back pickled
    names = Suggestions(["score-api", "scorer"])
    problems = [
        Problem("s.yaml", i, "flows[0].to", "unknown asset 'scoreapi'", Hint("scoreapi", names))
        for i in range(60)
    ]
    error = InputError(problems, uncounted=5)
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error)
    assert [str(p) for p in copy.problems] == [str(p) for p in error.problems]
    assert copy.more == "… and 15 more problems"
