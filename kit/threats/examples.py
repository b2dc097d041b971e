"""Run each threat's own examples: a minimal system that must raise it at a named asset, and a
near miss that must raise it nowhere. The test suite runs them for the shipped library and any
`--library` folder; so does `saikit check-library`."""

from __future__ import annotations

from kit.errors import Problem
from kit.graph import build
from kit.threats.engine import evaluate, why_not
from kit.threats.library import Example, Library


def run_example(library: Library, example: Example) -> str | None:
    """None when the example behaves as written; else what went wrong, in a sentence."""
    threat = library.threats[example.threat]
    alone = Library(
        threats={threat.id: threat},
        controls=library.controls,
        sources=library.sources,
        condition_keys=library.condition_keys,
        places=library.places,
    )
    graph = build(example.model)
    raised = sorted(m.asset_id for m in evaluate(graph, alone))
    if example.kind == "fires":
        if example.at in raised:
            return None
        reasons = [r for r in why_not(graph, alone, threat.id) if r.startswith(f"{example.at}:")]
        why = reasons[0] if reasons else "; ".join(why_not(graph, alone, threat.id))
        return f"example '{example.name}' must raise {threat.id} at '{example.at}', but {why}"
    if not raised:
        return None
    return (
        f"example '{example.name}' must not raise {threat.id}, but it is raised at "
        f"{', '.join(raised)}"
    )


def check_examples(library: Library, threats: list[str] | None = None) -> list[Problem]:
    """A located problem for every example (of `threats`, default all) that misbehaves."""
    out = []
    for tid in sorted(library.examples if threats is None else threats):
        for ex in library.examples.get(tid, []):
            wrong = run_example(library, ex)
            if wrong is not None:
                out.append(Problem(ex.file, ex.line, f"examples.{ex.kind}[{ex.index}]", wrong))
    return out


def example_counts(library: Library) -> dict[str, tuple[int, int]]:
    """Per threat, (fires examples, quiet examples)."""
    out = {}
    for tid in sorted(library.threats):
        found = library.examples.get(tid, [])
        out[tid] = (
            sum(e.kind == "fires" for e in found),
            sum(e.kind == "quiet" for e in found),
        )
    return out
