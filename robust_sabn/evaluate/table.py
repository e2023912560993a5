"""Rich tables of an evaluation record: accuracy per branch and attack, and AutoAttack's cascade."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from robust_sabn.adversarial.record import branch_results, settings_of
from robust_sabn.artifacts.result import ResultRecord
from robust_sabn.units import format_eps

_ATTACK_LABELS = {"pgd": "PGD", "pgd-l2": "PGD-L2", "cw": "CW", "fgsm": "FGSM"}


def percent(value: float | None) -> str:
    """A fraction in [0, 1] as "52.30%"; "-" when missing."""
    return "-" if value is None else f"{100 * value:.2f}%"


def attack_label(key: str) -> str:
    """A column header for a robust-accuracy key: "pgd-20" -> "PGD-20"."""
    if key.startswith("autoattack-"):
        return f"AutoAttack ({key.removeprefix('autoattack-')})"
    name, _, steps = key.rpartition("-")
    if steps.isdigit() and name in _ATTACK_LABELS:
        return f"{_ATTACK_LABELS[name]}-{steps}"
    return _ATTACK_LABELS.get(key, key)


def model_label(model: dict[str, Any] | None) -> str:
    """"small_cnn (saauxbn)", "robustbench:Name" or the class name, from a record's model field."""
    model = model or {}
    if "robustbench" in model:
        return f"robustbench:{model['robustbench']}"
    if "name" in model:
        return f"{model['name']} ({model['norm']})" if model.get("norm") else str(model["name"])
    return str(model.get("class", "model"))


def _title(record: ResultRecord) -> str:
    subject, settings = record.subject, settings_of(record)
    return (
        f"{model_label(subject.get('model'))} on {subject.get('dataset')} {subject.get('split')}, "
        f"n={settings.get('n_examples')}, {settings.get('threat_model', 'Linf')} "
        f"eps={format_eps(float(settings['eps']))}"
    )


def render_evaluation_table(record: ResultRecord) -> Table:
    """One row per branch: clean accuracy, then robust accuracy per attack, as percentages.

    AutoAttack's sanity flags, if any, are listed in the caption as "branch: flag".
    """
    branches = branch_results(record)
    keys = list(dict.fromkeys(k for b in branches.values() for k in b["robust_accuracy"]))
    title = _title(record)
    table = Table(title=title, min_width=len(title))  # the title on one line where it fits
    table.add_column("Branch")
    table.add_column("Clean", justify="right")
    for key in keys:
        table.add_column(attack_label(key), justify="right")
    for name, entry in branches.items():
        robust = entry["robust_accuracy"]
        cells = [percent(robust.get(k)) for k in keys]
        table.add_row(name, percent(entry["clean_accuracy"]), *cells)
    flags = [f"{name}: {flag}" for name, entry in branches.items()
             for flag in (entry.get("autoattack") or {}).get("flags", [])]
    if flags:
        table.caption = "AutoAttack flags:\n" + "\n".join(flags)
    return table


def render_cascade_table(record: ResultRecord) -> Table:
    """One row per branch: clean accuracy and the robust accuracy after each AutoAttack attack."""
    branches = {name: entry for name, entry in branch_results(record).items()
                if entry.get("autoattack")}
    steps = list(dict.fromkeys(s["attack"] for e in branches.values()
                               for s in e["autoattack"]["cascade"]))
    title = f"AutoAttack cascade: {_title(record)}"
    table = Table(title=title, min_width=len(title))
    table.add_column("Branch")
    table.add_column("Clean", justify="right")
    for step in steps:
        table.add_column(f"after {step}", justify="right")
    for name, entry in branches.items():
        after = {s["attack"]: s["robust_accuracy"] for s in entry["autoattack"]["cascade"]}
        cells = [percent(after.get(s)) for s in steps]
        table.add_row(name, percent(entry["clean_accuracy"]), *cells)
    return table
