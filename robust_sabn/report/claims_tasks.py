"""The GAN, NAS and style rows of the claims page (:mod:`robust_sabn.report.claims`).

Kept here rather than in each task's folder while those tasks are still being built; each reads
the task's evaluation records as published in its records module (``robust_sabn.gan.workflow``,
``robust_sabn.nas.records``, ``robust_sabn.style.evaluate``):

* GAN: ``fid`` and ``is`` per generator, norm and seed (condition ``features``);
* NAS: ``accuracy`` of the found cell per algorithm, norm and search seed, by ``method``
  (``retrain``: the mean over retraining seeds; ``table``: the lookup of one table);
* style: ``content_loss`` and ``style_loss`` on the validation split at the last step, per norm
  and seed (condition ``features``).

Setups are told apart by suite (``record.suite["name"]``, else the folder above the run's).
Torch-free.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from statistics import mean, stdev
from typing import Any

from robust_sabn.artifacts.result import ResultRecord
from robust_sabn.report.claims import (
    CONTRADICTED,
    NOT_RESOLVED,
    REPRODUCED,
    Claim,
    Finding,
    Records,
    not_run,
    paired_finding,
    paper_setup_row,
)
from robust_sabn.report.stats import spread_difference_p

Key = tuple[Any, ...]
"""A setup: (suite, then what else must match for two records to be compared)."""


def suite_of(path: Path, record: ResultRecord) -> str:
    """The suite a record belongs to: its ``suite["name"]``, else its run folder's parent."""
    name = (record.suite or {}).get("name")
    return str(name) if name else path.parent.parent.name


def _by_setup(records: Records, task: str,
              read: Callable[[Path, ResultRecord], list[tuple[Key, str, int, float]]]
              ) -> dict[Key, dict[str, dict[int, float]]]:
    """setup -> norm -> seed -> value, from ``read(path, record)`` rows (setup, norm, seed,
    value) of the task's evaluation records."""
    found: dict[Key, dict[str, dict[int, float]]] = {}
    for path, record in records:
        if record.task == task and record.kind == "evaluation" and record.status == "ok":
            for setup, norm, seed, value in read(path, record):
                found.setdefault(setup, {}).setdefault(norm, {})[seed] = value
    return found


def _subject(record: ResultRecord, key: str) -> Any:
    return record.subject.get(key)


def _findings(claim: Claim, values: dict[Key, dict[str, dict[int, float]]], row: str,
              reference: str, setup_text: Callable[[Key], str], ran_paper: bool,
              missing: str, **display: Any) -> list[Finding]:
    found = [paired_finding(claim, setup_text(setup), norms[row], norms[reference], **display)
             for setup, norms in values.items() if norms.get(row) and norms.get(reference)]
    if not found:
        return [not_run(claim, f"not run: {missing}; "
                        + claim.paper_setup.removeprefix("not run: "))]
    return paper_setup_row(claim, found, ran_paper)


# --- GAN -----------------------------------------------------------------------------------

_GAN_SETUP = ("not run: the paper's setup needs a GPU, CIFAR-10 and the Inception weights "
              "(suites/gan-cifar10.toml, 50k iterations, 50k samples)")
GAN_CLAIMS = (
    Claim("gan-fid", "gan", "SaBN minus CCBN generator: FID (lower is better)",
          "SNGAN 8.97 vs 10.18: -1.21; AutoGAN -1.40; BigGAN -0.54 (CIFAR-10, Inception)", -1,
          _GAN_SETUP),
    Claim("gan-is", "gan", "SaBN minus CCBN generator: Inception Score",
          "SNGAN 8.89 vs 8.76: +0.13; AutoGAN +0.29; BigGAN +0.10 (CIFAR-10, Inception)", 1,
          _GAN_SETUP),
)


def gan_findings(records: Records) -> list[Finding]:
    """FID and IS of SaBN minus CCBN per suite, generator and feature extractor."""
    rows = []
    for claim, metric in zip(GAN_CLAIMS, ("fid", "is"), strict=True):
        def read(path: Path, record: ResultRecord, metric: str = metric
                 ) -> list[tuple[Key, str, int, float]]:
            return [((suite_of(path, record), _subject(record, "generator"),
                      _subject(record, "dataset"), m.condition.get("features"), m.n),
                     str(_subject(record, "norm")), int(_subject(record, "seed") or 0), m.value)
                    for m in record.find(metric)]

        values = _by_setup(records, "gan", read)
        ran_paper = any(k[2] == "cifar10" and k[3] == "inception" for k in values)
        rows += _findings(claim, values, "sabn", "ccbn",
                          lambda k: f"{k[0]}: {k[2]}, {k[1]}, {k[3]} features, {k[4]} samples",
                          ran_paper, "no GAN evaluation records with both CCBN and SaBN "
                          "(`robust-sabn suite run gan-fmnist` on a CPU)", digits=2)
    return rows


# --- NAS -----------------------------------------------------------------------------------

_NAS_SETUP = ("not run: the paper's setup needs a GPU, CIFAR-100 / ImageNet16-120 and the "
              "NAS-Bench-201 table file (suites/nas-cifar.toml)")
NAS_MEAN = Claim("nas-mean", "nas", "SaBN minus BN in the supernet: accuracy of the found "
                 "cell (points; the paper: DARTS)",
                 "71.56 vs 44.05: +27.51 (NAS-Bench-201, CIFAR-100); ImageNet16-120 45.85 vs "
                 "36.47", 1, _NAS_SETUP)
NAS_SPREAD = Claim("nas-spread", "nas", "SaBN vs BN in the supernet: spread of the found "
                   "cell's accuracy over search seeds (std, points; the paper: DARTS)",
                   "1.39 vs 7.47 (CIFAR-100); 0.72 vs 7.06 (ImageNet16-120)", -1, _NAS_SETUP)


def _nas_rows(path: Path, record: ResultRecord) -> list[tuple[Key, str, int, float]]:
    suite, algorithm = suite_of(path, record), _subject(record, "algorithm")
    norm, seed = str(_subject(record, "norm")), int(_subject(record, "seed") or 0)
    rows: list[tuple[Key, str, int, float]] = []
    retrain = [m.value for m in record.find("accuracy", method="retrain")]
    if retrain:
        dataset = record.find("accuracy", method="retrain")[0].condition.get("dataset")
        rows.append(((suite, algorithm, "retrained", dataset), norm, seed, mean(retrain)))
    for m in record.find("accuracy", method="table"):
        rows.append(((suite, algorithm, f"{m.condition.get('table')} table",
                      m.condition.get("dataset")), norm, seed, m.value))
    return rows


MIN_SPREAD_SEEDS = 3
"""Fewest search seeds per norm for the spread test (with 2, Brown-Forsythe degenerates)."""


def _spread_finding(setup: Key, sabn: dict[int, float], bn: dict[int, float]) -> Finding:
    """Std of SaBN vs BN over search seeds, Brown-Forsythe test of equal spread."""
    text = f"{setup[0]}: {setup[3]}, {setup[1]}, {setup[2]}"
    if len(sabn) < MIN_SPREAD_SEEDS or len(bn) < MIN_SPREAD_SEEDS:
        return Finding(NAS_SPREAD, text, f"{len(sabn)} vs {len(bn)} seeds: a spread test needs "
                       f"at least {MIN_SPREAD_SEEDS} per norm", NOT_RESOLVED)
    a, b = list(sabn.values()), list(bn.values())
    p = spread_difference_p(a, b)
    smaller = stdev(a) < stdev(b)
    verdict = NOT_RESOLVED if not p < 0.05 else REPRODUCED if smaller else CONTRADICTED
    ours = (f"std {100 * stdev(a):.2f} vs {100 * stdev(b):.2f} ({len(a)} vs {len(b)} seeds; "
            f"Brown-Forsythe p = {p:.2g})")
    return Finding(NAS_SPREAD, text, ours, verdict)


def nas_findings(records: Records) -> list[Finding]:
    """Found-cell accuracy of SaBN minus BN (paired by search seed) and its spread, per
    suite, algorithm and scoring method."""
    values = _by_setup(records, "nas", _nas_rows)
    ran_paper = any(k[3] in ("cifar100", "ImageNet16-120") and "table" in str(k[2])
                    for k in values)
    rows = _findings(NAS_MEAN, values, "sabn", "bn",
                     lambda k: f"{k[0]}: {k[3]}, {k[1]}, {k[2]}", ran_paper,
                     "no NAS evaluation records with both BN and SaBN (`robust-sabn suite run "
                     "nas-fmnist` on a CPU)",
                     scale=100.0, unit=" %")
    spread = [_spread_finding(k, n["sabn"], n["bn"]) for k, n in values.items()
              if n.get("sabn") and n.get("bn")]
    if not spread:
        return [*rows, not_run(NAS_SPREAD, "not run: no NAS evaluation records with both BN "
                               "and SaBN; " + _NAS_SETUP.removeprefix("not run: "))]
    return rows + paper_setup_row(NAS_SPREAD, spread, ran_paper)


# --- style ---------------------------------------------------------------------------------

_STYLE_SETUP = ("not run: the paper's setup needs COCO, WikiArt and the VGG-19 weights "
                "(suites/style-coco-wikiart.toml, 160k iterations)")
STYLE_CLAIMS = (
    Claim("style-content", "style", "SaAdaIN minus AdaIN: validation content loss (lower is "
          "better)", "lower for SaAdaIN (a figure of training and validation losses; no number)",
          -1, _STYLE_SETUP),
    Claim("style-style", "style", "SaAdaIN minus AdaIN: validation style loss (lower is "
          "better)", "lower for SaAdaIN (a figure of training and validation losses; no number)",
          -1, _STYLE_SETUP),
)


def style_findings(records: Records) -> list[Finding]:
    """Validation content and style loss of SaAdaIN minus AdaIN at each run's last step, per
    suite and feature extractor."""
    rows = []
    for claim, metric in zip(STYLE_CLAIMS, ("content_loss", "style_loss"), strict=True):
        def read(path: Path, record: ResultRecord, metric: str = metric
                 ) -> list[tuple[Key, str, int, float]]:
            found = record.find(metric, split="val")
            last = max((int(m.condition.get("step") or 0) for m in found), default=0)
            return [((suite_of(path, record), _subject(record, "dataset"),
                      m.condition.get("features"), _subject(record, "encoder")),
                     str(_subject(record, "norm")), int(_subject(record, "seed") or 0), m.value)
                    for m in found if int(m.condition.get("step") or 0) == last]

        values = _by_setup(records, "style", read)
        ran_paper = any("coco" in str(k[1]).lower() and "vgg" in str(k[3]).lower()
                        for k in values)
        rows += _findings(claim, values, "saadain", "adain",
                          lambda k: f"{k[0]}: {k[1]}, {k[2]} ({k[3]})", ran_paper,
                          "no style evaluation records with both AdaIN and "
                          "SaAdaIN (`robust-sabn suite run style-offline` on a CPU)", digits=4)
    return rows
