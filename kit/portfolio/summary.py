"""One system's row in the portfolio: its residual risk, open actions, compliance and reviews.

A row is plain JSON data, computed by `summarise` from the three things a run records (the
canonical configuration, the risk register and the provision table), so the same function
serves a system assessed in this process (`assess_system`, no kernel) and a published run read
back from its folder (`summary_of_run`). Nothing here computes risk or compliance: it counts
what kit.analysis and kit.compliance decided.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from kit.vocab import (
    BANDS,
    MET,
    NOT_ASSESSED,
    NOT_MET,
    OPEN_ACTIONS,
    PARTIAL,
    REVIEW_OVERDUE,
    SEVERITY,
)


def summarise(config: dict, register: pd.DataFrame, provisions: pd.DataFrame | None) -> dict:
    """A system's portfolio row from its canonical configuration, register and provision table.

    Returns a dict: system, name, owner, risk_appetite, findings, bands (findings per residual
    band), worst_band, open_actions (finding rows someone must act on now), overdue_reviews
    (decisions past their review date, with their owners), principles ({principle number:
    share of its provisions met, each counted once at its worst status over the roles it binds,
    "not applicable" left out}).
    """
    from kit.compliance.plots import counts as provision_counts

    system = config.get("system", {})
    counts = register["residual_band"].value_counts()
    bands = {b: int(counts.get(b, 0)) for b in BANDS}
    present = [b for b in BANDS if bands[b]]
    todo = register.loc[
        register["treatment"].isin(OPEN_ACTIONS),
        ["finding_id", "residual_band", "residual_score", "treatment"],
    ].astype({"residual_score": int})
    overdue = register.loc[
        register["treatment"] == REVIEW_OVERDUE, ["finding_id", "decision_owner", "review_by"]
    ]
    principles: dict[str, float | None] = {}
    if provisions is not None and len(provisions):
        per = provision_counts(provisions).set_index("principle")
        applicable = per[[MET, PARTIAL, NOT_MET, NOT_ASSESSED]].sum(axis=1)
        share = per[MET] / applicable.where(applicable > 0)
        principles = {
            str(int(n)): None if pd.isna(v) else round(float(v), 4) for n, v in share.items()
        }
    return {
        "system": system.get("id", ""),
        "name": system.get("name", ""),
        "owner": system.get("owner") or "",
        "risk_appetite": system.get("risk_appetite", ""),
        "findings": int(len(register)),
        "bands": bands,
        "worst_band": max(present, key=SEVERITY.__getitem__) if present else "",
        "open_actions": todo.to_dict("records"),
        "overdue_reviews": [
            {
                "finding_id": finding,
                "decision_owner": owner or system.get("owner") or "",
                "review_by": review_by,
            }
            for finding, owner, review_by in overdue.itertuples(index=False, name=None)
        ],
        "principles": principles,
    }


def assess_system(path: str | os.PathLike, library_dirs=()) -> dict:
    """Assess a system file in this process (model, graph, threats, risk, compliance; no kernel)
    and return its portfolio row. Raises InputError for a bad file."""
    from kit.analysis import analyse_model
    from kit.compliance.assessment import assess
    from kit.inputs import canonical_config, load_checked

    model, library = load_checked(path, library_dirs)
    analysis = analyse_model(model, library)
    return summarise(canonical_config(model), analysis.register, assess(analysis))


def summary_of_run(run_dir: str | os.PathLike) -> dict:
    """The portfolio row of a published run, read from its folder (kit.runs.rundata)."""
    from kit.runs.rundata import load_run

    run = load_run(Path(run_dir))
    return summarise(run.config, run.register, run.provisions)
