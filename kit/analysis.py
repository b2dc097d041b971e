"""One call from a system file to its assessed risk picture: load → build → evaluate → assess.

The CLI, the notebooks and the workshop all go through here, so they cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from functools import cached_property

from kit import graph as graphs
from kit.inputs import load_checked
from kit.model.schema import SystemModel
from kit.risk.scoring import Assessment, assess, register
from kit.threats.engine import evaluate
from kit.threats.library import Library


@dataclass
class Analysis:
    """A system, its graph and its assessed findings."""

    model: SystemModel
    library: Library
    graph: graphs.AssetGraph
    assessment: Assessment

    @cached_property
    def register(self):
        return register(self.assessment, self.model)


@graphs.gc_paused  # many small acyclic objects: the cycle collector would rescan the model
def analyse_model(model: SystemModel, library: Library, today: dt.date | None = None) -> Analysis:
    """Assess an already-loaded model against a library."""
    g = graphs.build(model)
    return Analysis(model, library, g, assess(g, library, evaluate(g, library), today))


def analyse(path: str | os.PathLike, library_dirs=(), today: dt.date | None = None) -> Analysis:
    """Load a system file and assess it."""
    model, library = load_checked(path, library_dirs)
    return analyse_model(model, library, today)
