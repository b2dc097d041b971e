"""Workshop mode: ipywidgets forms over a `Session`, redrawing the risk picture after each edit."""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as w

from kit.analysis import Analysis
from kit.errors import InputError, Problem
from kit.model.roundtrip import plain, show_value
from kit.model.schema import ASSET_TYPES, FLOW_KINDS
from kit.vocab import band
from kit.workshop.forms import (
    DECISION_STATUSES,
    EDITABLE_FIELDS,
    field_choices,
    field_shape,
    format_value,
    parse_value,
)
from kit.workshop.moved import moved_html
from kit.workshop.panels import Pictures, findings_html, heatmap_html, residual_summary
from kit.workshop.session import Session

# ---------------------------------------------------------------- the widgets

_CSS = """
<style>
.saikit-workshop { font-size: 13px; }
.saikit-workshop .sk-title { font-size: 18px; font-weight: 600; margin: 0 0 2px 0; }
.saikit-workshop .sk-sub { color: #666; font-size: 12px; }
.saikit-residual { font-size: 15px; padding: 6px 10px; border-radius: 6px; background: #f3f6fa;
  border-left: 5px solid #4e79a7; }
.saikit-status .sk-ok { color: #1b7f3b; } .saikit-status .sk-err { color: #b00020; }
.saikit-status .sk-note { color: #666; }
.sk-findings { border-collapse: collapse; width: 100%; }
.sk-findings th { text-align: left; border-bottom: 2px solid #ccc; padding: 3px 6px;
  font-weight: 600; }
.sk-findings td { border-bottom: 1px solid #eee; padding: 3px 6px; vertical-align: top;
  line-height: 1.3; }
.sk-findings .sk-id { display: block; }
.saikit-workshop .widget-html-content { line-height: 1.35; }
.sk-attrs td { padding: 0 6px 0 0; vertical-align: top; line-height: 1.3; }
.sk-attrs td:last-child { overflow-wrap: anywhere; }
.sk-band { padding: 1px 6px; border-radius: 8px; font-size: 11px; }
.sk-num { text-align: right; white-space: nowrap; }
.sk-id { color: #777; font-family: monospace; font-size: 11px; }
.sk-small { color: #666; font-size: 11px; }
.sk-up { color: #b00020; font-size: 11px; } .sk-down { color: #1b7f3b; font-size: 11px; }
.saikit-control { border-bottom: 1px solid #eee; padding: 3px 0; gap: 8px; }
.saikit-workshop .sk-bar { gap: 8px; }
.saikit-moved .sk-moved-h { font-weight: 600; margin-top: 6px; }
.saikit-moved ul { margin: 2px 0 4px 0; padding-left: 18px; }
.sk-heatmaps { display: flex; gap: 24px; flex-wrap: wrap; }
.sk-hm-title { font-weight: 600; font-size: 14px; margin-bottom: 4px; }
.sk-hm-grid { border-collapse: collapse; }
.sk-hm-grid td { width: 44px; height: 36px; text-align: center; font-size: 17px;
  font-weight: 700; color: #1a1a1a; border: 1px solid #fff; }
.sk-hm-axis { font-size: 13px; font-weight: 400; color: #444; padding: 0 6px; }
.sk-hm-label { font-size: 13px; font-weight: 400; color: #444; }
th.sk-hm-label[rowspan] { writing-mode: vertical-rl; transform: rotate(180deg); }
.sk-hm-legend { display: flex; flex-wrap: wrap; gap: 14px; margin-top: 6px; font-size: 13px; }
.sk-hm-key i { display: inline-block; width: 14px; height: 14px; margin-right: 5px;
  vertical-align: -2px; }
.sk-hm-key i.sk-hm-line { width: 22px; height: 7px; vertical-align: 4px; }
</style>
"""


CONTROLS_TAB, MOVED_TAB = 1, 5  # the tabs: attributes, controls, flows, decision, new asset, moved


class Workshop:
    """ipywidgets forms over a Session, with the risk picture redrawn after every change."""

    def __init__(self, session: Session):
        self.session = session
        self._before: Analysis | None = None
        self.pictures = Pictures()
        self._controls_for: str | None = None  # the asset the Controls tab shows
        self._control_names: tuple = ()  # (asset, controls) of the rows the tab holds
        self._quiet_controls = False  # rows being updated, not clicked
        self._quiet = False
        asset_ids = [a.id for a in session.model.assets]
        wide = w.Layout(width="98%")
        # header
        self.title = w.HTML()
        self.summary = w.HTML()
        self.summary.add_class("saikit-residual")
        self.status = w.HTML()
        self.status.add_class("saikit-status")
        self.undo_button = w.Button(description="Undo", icon="undo", tooltip="undo the last change")
        self.save_button = w.Button(
            description="Save",
            icon="save",
            button_style="primary",
            tooltip="write the changes to the system file and the audit trail",
        )
        self.undo_button.on_click(lambda _: self._do(self.session.undo, undo=True))
        self.save_button.on_click(lambda _: self._save())
        # the selected asset, shared by the attribute, control and flow tabs
        self.asset = w.Dropdown(options=asset_ids, description="Asset", layout=wide)
        self.asset.add_class("saikit-asset")
        self.asset.observe(lambda _: self._asset_changed(), names="value")
        # attributes
        self.field = w.Dropdown(
            options=list(EDITABLE_FIELDS), value="exposure", description="Field"
        )
        self.value = w.Combobox(
            description="Value", ensure_option=False, layout=w.Layout(width="60%")
        )
        self.apply_button = w.Button(description="Apply", icon="check")
        self.field.observe(lambda _: self._field_changed(), names="value")
        self.apply_button.on_click(
            lambda _: self._do(
                lambda: self.session.set_attribute(
                    self.asset.value,
                    self.field.value,
                    parse_value(self.field.value, self.value.value),
                )
            )
        )
        self.attributes = w.HTML()
        self.cascade = w.Checkbox(description="with its flows and controls", indent=False)
        self.remove_asset_button = w.Button(
            description="Remove asset", icon="trash", button_style="danger"
        )
        self.remove_asset_button.on_click(
            lambda _: self._do(
                lambda: self.session.remove_asset(self.asset.value, cascade=self.cascade.value)
            )
        )
        # controls
        self.controls = w.VBox()
        # flows
        self.flow_list = w.Select(rows=6, layout=wide)
        self.remove_flow_button = w.Button(description="Remove flow", icon="trash")
        self.remove_flow_button.on_click(
            lambda _: self._do(
                lambda: (
                    self.session.remove_flow(self.flow_list.value) if self.flow_list.value else None
                )
            )
        )
        self.flow_from = w.Dropdown(options=asset_ids, description="From")
        self.flow_kind = w.Dropdown(options=list(FLOW_KINDS), description="Kind")
        self.flow_to = w.Dropdown(options=asset_ids, description="To")
        self.flow_boundary = w.Checkbox(description="crosses a trust boundary", indent=False)
        self.add_flow_button = w.Button(description="Add flow", icon="plus")
        self.add_flow_button.on_click(
            lambda _: self._do(
                lambda: self.session.add_flow(
                    {
                        "from": self.flow_from.value,
                        "to": self.flow_to.value,
                        "kind": self.flow_kind.value,
                        "crosses_boundary": True if self.flow_boundary.value else None,
                    }
                )
            )
        )
        # decisions
        self.finding = w.Dropdown(description="Finding", layout=wide)
        self.finding.observe(lambda _: self._finding_changed(), names="value")
        self.decision_status = w.Dropdown(
            options=list(DECISION_STATUSES), value="accepted", description="Status"
        )
        self.justification = w.Textarea(
            description="Why", layout=w.Layout(width="98%", height="70px")
        )
        self.owner = w.Text(description="Owner")
        self.review_by = w.DatePicker(description="Review by")
        self.record_button = w.Button(description="Record decision", icon="gavel")
        self.record_button.on_click(
            lambda _: self._do(
                lambda: self.session.record_decision(
                    self.finding.value,
                    self.decision_status.value,
                    self.justification.value,
                    self.owner.value,
                    self.review_by.value,
                )
            )
        )
        # new asset
        self.new_id = w.Text(description="Id", placeholder="lower-case-slug")
        self.new_type = w.Dropdown(options=list(ASSET_TYPES), description="Type")
        self.new_name = w.Text(description="Name")
        self.new_exposure = w.Dropdown(
            options=field_choices("exposure"), value="internal", description="Exposure"
        )
        self.new_sensitivity = w.Dropdown(
            options=field_choices("sensitivity"), value="internal", description="Sensitivity"
        )
        self.new_source = w.Dropdown(
            options=field_choices("source"), value="internal", description="Source"
        )
        self.add_asset_button = w.Button(description="Add asset", icon="plus")
        self.add_asset_button.on_click(lambda _: self._add_asset())
        # pictures and table
        self.findings = w.HTML()
        self.picture = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.heatmap = w.HTML()
        self.ui = self._layout()
        self._asset_changed()
        self._field_changed()
        self.refresh()
        if session.reformats:
            self._say(
                "note",
                "saving will also re-indent "
                + ", ".join(session.reformats)
                + ": ruamel.yaml cannot reproduce its layout exactly",
            )

    @classmethod
    def open(cls, system_path: str = "", out: str | None = None, library_dirs=()) -> Workshop:
        """A workshop on a system file (the bundled example when empty)."""
        return cls(Session.open(system_path, out=out or None, library_dirs=library_dirs))

    def show(self) -> None:
        """Display the workshop in the notebook."""
        from IPython.display import display

        display(self.ui)

    # ------------------------------------------------------------ layout

    def _layout(self) -> w.Widget:
        header = w.VBox(
            [
                w.HTML(_CSS),
                self.title,
                _bar(self.summary, self.undo_button, self.save_button),
                self.status,
            ]
        )
        attributes = w.VBox(
            [
                w.HBox([self.field, self.value]),
                self.apply_button,
                self.attributes,
                _bar(self.remove_asset_button, self.cascade),
            ]
        )
        flows = w.VBox(
            [
                w.HTML("<b>Flows to and from this asset</b>"),
                self.flow_list,
                self.remove_flow_button,
                w.HTML("<b>Add a flow</b>"),
                self.flow_from,
                self.flow_kind,
                self.flow_to,
                self.flow_boundary,
                self.add_flow_button,
            ]
        )
        decision = w.VBox(
            [
                self.finding,
                self.decision_status,
                self.justification,
                self.owner,
                self.review_by,
                self.record_button,
            ]
        )
        new_asset = w.VBox(
            [
                self.new_id,
                self.new_type,
                self.new_name,
                self.new_exposure,
                self.new_sensitivity,
                self.new_source,
                self.add_asset_button,
            ]
        )
        self.moved = w.HTML()
        self.moved.add_class("saikit-moved")
        moved = w.VBox(
            [
                w.HTML(
                    "<b>What moved since the workshop began</b><div class='sk-small'>what a "
                    "rerun would report; saving keeps it as a note in the run store</div>"
                ),
                self.moved,
            ]
        )
        self.tabs = w.Tab(children=[attributes, self.controls, flows, decision, new_asset, moved])
        self.tabs.observe(lambda _: self._show_tab(), names="selected_index")
        names = ["Attributes", "Controls", "Flows", "Decision", "New asset", "Moved"]
        for i, name in enumerate(names):
            self.tabs.set_title(i, name)
        editor = w.VBox([self.asset, self.tabs], layout=w.Layout(width="46%", min_width="420px"))
        risk = w.VBox(
            [
                w.HTML("<b>Top findings by residual risk</b>"),
                self.findings,
                w.HTML("<b>Risk heatmaps</b>"),
                self.heatmap,
            ],
            layout=w.Layout(width="54%", padding="0 0 0 12px"),
        )
        picture = w.VBox([w.HTML("<b>Assets and flows</b>"), self.picture])
        root = w.VBox([header, w.HBox([editor, risk]), picture])
        root.add_class("saikit-workshop")
        return root

    # ------------------------------------------------------------ refreshing

    def refresh(self) -> None:
        """Redraw everything from the session's current state."""
        s = self.session
        a = s.analysis
        info = residual_summary(a)
        unsaved = s.unsaved
        self.title.value = (
            f"<div class='sk-title'>Workshop: {html.escape(s.model.system.name)}</div>"
            f"<div class='sk-sub'>{html.escape(str(s.path))} · risk appetite "
            f"{html.escape(info['appetite'])} · "
            f"{f'<b>{unsaved} unsaved change(s)</b>' if unsaved else 'all changes saved'}</div>"
        )
        self.summary.value = (
            f"<b>Residual risk: total {info['total']}, highest {info['highest']}</b>"
            f" ({html.escape(str(info['highest_band']))}) · {info['findings']} findings · "
            f"{info['actions']} need action"
        )
        self.undo_button.disabled = not s.can_undo
        self.save_button.disabled = not unsaved
        ids = [x.id for x in s.model.assets]
        selected = self.asset.value if self.asset.value in ids else ids[0]
        for dropdown in (self.asset, self.flow_from, self.flow_to):
            current = dropdown.value
            if list(dropdown.options) != ids:
                dropdown.options = ids
            dropdown.value = current if current in ids else ids[0]
        self.asset.value = selected
        options = [
            (f"{f.residual_score:>2} {band(f.residual_score)} · {f.id}", f.id)
            for f in a.assessment.findings
        ]
        # New labels, same choice: the decision form keeps what is being typed into it.
        keep, self._quiet = self.finding.value, True
        try:
            if list(self.finding.options) != options:
                self.finding.options = options
            if keep in {v for _, v in options}:
                self.finding.value = keep
        finally:
            self._quiet = False
        if self.finding.value != keep:
            self._finding_changed()
        self.findings.value = findings_html(a, self._before)
        self._asset_panels()
        self.picture.value = self.pictures.assets(a)  # drawn only when what it shows changed
        self.heatmap.value = heatmap_html(a)
        self._show_moved()

    def _asset_changed(self) -> None:
        if self.asset.value:
            self.flow_from.value = self.asset.value
            self._asset_panels()
            self._field_changed()

    def _field_changed(self) -> None:
        if not self.asset.value:
            return
        self.value.options = field_choices(self.field.value)
        self.value.value = format_value(
            self.session.asset_value(self.asset.value, self.field.value)
        )
        shape = field_shape(self.field.value)
        self.value.placeholder = "comma-separated" if shape == "list" else "empty: back to default"

    def _finding_changed(self) -> None:
        if self._quiet:
            return
        found = next(
            (f for f in self.session.analysis.assessment.findings if f.id == self.finding.value),
            None,
        )
        d = found.decision if found else None
        self.decision_status.value = d.status if d else "accepted"
        self.justification.value = (d.justification or "") if d else ""
        self.owner.value = (d.owner or "") if d else ""
        self.review_by.value = d.review_by if d else None

    def _asset_panels(self) -> None:
        s, asset_id = self.session, self.asset.value
        if asset_id not in s.model.asset_by_id:
            return
        asset = s.model.asset_by_id[asset_id]
        written = s.doc["assets"][[a.id for a in s.model.assets].index(asset_id)]
        rows = "".join(
            f"<tr><td class='sk-id'>{html.escape(str(k))}</td>"
            f"<td>{html.escape(show_value(plain(v)))}</td></tr>"
            for k, v in written.items()
            if k != "id" and not isinstance(v, dict)
        )
        self.attributes.value = (
            f"<div class='sk-small'>{html.escape(asset.type)} as written:</div>"
            f"<table class='sk-attrs'>{rows}</table>"
        )
        flows = [f.id for f in s.model.flows if asset_id in (f.source, f.target)]
        if list(self.flow_list.options) != flows:
            self.flow_list.options = flows
        self._controls_for = None  # the Controls tab is redrawn when it is showing
        self._show_controls()

    def _show_tab(self) -> None:
        self._show_controls()
        self._show_moved()

    def _show_moved(self) -> None:
        """Compare with the start of the workshop, when the What moved tab is showing."""
        if self.tabs.selected_index == MOVED_TAB:
            self.moved.value = moved_html(self.session.moved())

    def _show_controls(self) -> None:
        """Redraw the Controls tab for the selected asset, if it is showing and out of date.

        When the asset and its list of controls stay the same, the rows are updated in place
        (making widgets is the slow part of drawing the tab).
        """
        asset_id = self.asset.value
        if self.tabs.selected_index != CONTROLS_TAB or self._controls_for == asset_id:
            return
        self._controls_for = asset_id
        plan = self._control_plan(asset_id)
        names = (asset_id, [control for control, _, _ in plan])
        if names == self._control_names:
            self._quiet_controls = True
            try:
                for (_, status, label), row in zip(plan, self.controls.children[1:], strict=True):
                    toggle, text = row.children
                    if toggle.value != status:
                        toggle.value = status
                    if text.value != label:
                        text.value = label
            finally:
                self._quiet_controls = False
            return
        self._control_names = names
        header = w.HTML(
            f"<div class='sk-small'>Controls on <b>{html.escape(asset_id)}</b>: those applied "
            "here and those that would lower a finding this asset is part of "
            "(L = likelihood, I = impact).</div>"
        )
        self.controls.children = [header] + [
            self._control_row(asset_id, control, status, label) for control, status, label in plan
        ]

    def _control_plan(self, asset_id: str) -> list[tuple[str, str, str]]:
        """(control, status, label HTML) for each control applied to the asset or lowering a
        finding it is part of; the controls that lower the most findings come first."""
        s = self.session
        asset_type = s.model.asset_by_id[asset_id].type
        library = s.library.controls
        applied = {u.control for u in s.model.controls if asset_id in u.assets}
        offered = {c for c in library if c in applied or asset_type in library[c].applies_to}
        effects: dict[str, dict[tuple[str, str], int]] = {}  # control → (threat, shift) → findings
        for f in s.analysis.assessment.findings:
            # (what a finding's evidence names is worked out on demand: only where it matters)
            if offered.intersection(m.control for m in f.match.threat.controls) and (
                asset_id in f.match.related_assets
            ):
                for mit in f.match.threat.controls:
                    shift = " ".join(
                        f"{k}−{-v}" for k, v in (("L", mit.likelihood), ("I", mit.impact)) if v
                    )
                    per = effects.setdefault(mit.control, {})
                    per[(f.match.threat.id, shift)] = per.get((f.match.threat.id, shift), 0) + 1
        names = sorted(
            (c for c in set(effects) | applied if c in offered),
            key=lambda c: (-sum(effects.get(c, {}).values()), c),
        )
        plan = []
        for control in names:
            lowers = "; ".join(
                f"{threat}{f' ×{n}' if n > 1 else ''} {shift}"
                for (threat, shift), n in sorted(effects.get(control, {}).items())
            )
            label = (
                f"<b>{html.escape(library[control].name)}</b> "
                f"<span class='sk-id'>{html.escape(control)}</span><div class='sk-small'>"
                f"{'lowers ' + html.escape(lowers) if lowers else 'lowers no finding here'}</div>"
            )
            plan.append((control, s.control_status(control, asset_id) or "none", label))
        return plan

    def _control_row(self, asset_id: str, control: str, status: str, label: str) -> w.HBox:
        description = self.session.library.controls[control].description
        toggle = w.ToggleButtons(
            options=[
                ("not applied", "none"),
                ("planned", "planned"),
                ("implemented", "implemented"),
            ],
            value=status,
            style={"button_width": "auto"},
            layout=w.Layout(flex="0 0 auto"),
            tooltips=[description] * 3,
        )

        def changed(change) -> None:
            if self._quiet_controls:
                return
            new = None if change["new"] == "none" else change["new"]
            self._do(lambda: self.session.set_control(control, asset_id, new))

        toggle.observe(changed, names="value")
        row = w.HBox(
            [toggle, w.HTML(label, layout=w.Layout(flex="1 1 auto"))],
            layout=w.Layout(align_items="center"),
        )
        row.add_class("saikit-control")
        row.add_class(f"saikit-control-{control}")
        return row

    # ------------------------------------------------------------ actions

    def control_toggle(self, control: str) -> w.ToggleButtons:
        """The toggle of a control in the Controls tab of the selected asset (for scripting;
        it opens the tab, as a user would)."""
        self.tabs.selected_index = CONTROLS_TAB
        for row in self.controls.children:
            if f"saikit-control-{control}" in row._dom_classes:
                return row.children[0]
        raise KeyError(control)

    def _do(self, action: Callable[[], str | None], undo: bool = False) -> None:
        before = self.session.analysis
        try:
            change = action()
        except InputError as exc:
            self._say("err", "; ".join(_short(p) for p in exc.problems) + " (nothing changed)")
            self._asset_panels()  # put toggles back to the state that stands
            return
        if change is None:
            self._say("note", "nothing to undo" if undo else "nothing changed")
            return
        self._before = before
        self.refresh()
        self._say("ok", ("undone: " if undo else "") + change)

    def _save(self) -> None:
        try:
            entries = self.session.save()
        except InputError as exc:
            self._say("err", "; ".join(str(p) for p in exc.problems))
            return
        self.refresh()
        self._say(
            "ok",
            f"saved {self.session.path.name}; {len(entries)} change(s) in the audit trail; "
            f"what moved is noted in {self.session.notes[-1]}"
            if entries
            else "nothing to save",
        )

    def _add_asset(self) -> None:
        data = {
            "id": self.new_id.value.strip(),
            "type": self.new_type.value,
            "name": self.new_name.value.strip(),
            "exposure": self.new_exposure.value,
            "sensitivity": self.new_sensitivity.value,
            "source": self.new_source.value,
        }
        defaults = {"exposure": "internal", "sensitivity": "internal", "source": "internal"}
        self._do(
            lambda: self.session.add_asset({k: v for k, v in data.items() if defaults.get(k) != v})
        )
        if self.new_id.value.strip() in self.session.model.asset_by_id:
            self.asset.value = self.new_id.value.strip()
            self.new_id.value = ""

    def _say(self, kind: str, text: str) -> None:
        self.status.value = f"<span class='sk-{kind}'>{html.escape(text)}</span>"


def _bar(*children: w.Widget) -> w.HBox:
    box = w.HBox(list(children), layout=w.Layout(align_items="center"))
    box.add_class("sk-bar")
    return box


def _short(problem: Problem) -> str:
    return f"{problem.path}: {problem.message}" if problem.path else problem.message
