"""The NAS task's rows of the claims page (:mod:`robust_sabn.report.claims`): the found cell's
accuracy with SaBN (the paper's NAS SaBN, our ``saauxbn``) minus BN in the supernet (paired by
search seed) and its spread over search seeds, per suite, algorithm and scoring method, read
from the scoring records (``accuracy`` with condition ``method`` = ``retrain`` (mean over
retraining seeds) or ``table``; see :mod:`robust_sabn.nas.records`). Torch-free.
"""

from __future__ import annotations

from pathlib import Path
from statistics import mean, stdev

from robust_sabn.artifacts.result import ResultRecord
from robust_sabn.nas.plugin import nas_norm
from robust_sabn.report.claims import (
    not_run,
    paper_setup_row,
    setup_findings,
    suite_of,
    values_by_setup,
)
from robust_sabn.report.findings import (
    CONTRADICTED,
    NOT_RESOLVED,
    REPRODUCED,
    Claim,
    Finding,
    Key,
    Records,
)

TASK = "nas"
_PAPER_SETUP = ("not run: the paper's setup needs a GPU, CIFAR-100 / ImageNet16-120 and the "
                "NAS-Bench-201 table file (suites/nas-cifar.toml)")
NAS_MEAN = Claim("nas-mean", TASK, "SaBN minus BN in the supernet: accuracy of the found "
                 "cell (points; the paper: DARTS)",
                 "71.56 vs 44.05: +27.51 (NAS-Bench-201, CIFAR-100); ImageNet16-120 45.85 vs "
                 "36.47", 1, _PAPER_SETUP)
NAS_SPREAD = Claim("nas-spread", TASK, "SaBN vs BN in the supernet: spread of the found "
                   "cell's accuracy over search seeds (std, points; the paper: DARTS)",
                   "1.39 vs 7.47 (CIFAR-100); 0.72 vs 7.06 (ImageNet16-120)", -1, _PAPER_SETUP)
NAS_MEAN_AFFINE = Claim("nas-mean-affine", TASK, "SaBN minus BN with an affine in the "
                        "supernet (the control arm): accuracy of the found cell (points)",
                        "not in the paper (its BN has no affine); > 0 if SaBN's gain is more "
                        "than having an affine", 1, _PAPER_SETUP)
CLAIMS = (NAS_MEAN, NAS_MEAN_AFFINE, NAS_SPREAD)
MIN_SPREAD_SEEDS = 3
"""Fewest search seeds per norm for the spread test (with 2, Brown-Forsythe degenerates)."""


def _rows(path: Path, record: ResultRecord) -> list[tuple[Key, str, int, float]]:
    subject = record.subject
    suite, algorithm = suite_of(path, record), subject.get("algorithm")
    norm, seed = nas_norm(str(subject.get("norm")), warn=False), int(subject.get("seed") or 0)
    rows: list[tuple[Key, str, int, float]] = []
    retrain = record.find("accuracy", method="retrain")
    if retrain:
        rows.append(((suite, algorithm, "retrained", retrain[0].condition.get("dataset")),
                     norm, seed, mean(m.value for m in retrain)))
    for m in record.find("accuracy", method="table"):
        rows.append(((suite, algorithm, f"{m.condition.get('table')} table",
                      m.condition.get("dataset")), norm, seed, m.value))
    return rows


def _spread_finding(setup: Key, saauxbn: dict[int, float], bn: dict[int, float]) -> Finding:
    """Std of SaBN (the paper's NAS SaBN: ``saauxbn``) vs BN over search seeds,
    Brown-Forsythe test of equal spread."""
    from robust_sabn.report.stats import spread_difference_p

    text = _setup_text(setup)
    if len(saauxbn) < MIN_SPREAD_SEEDS or len(bn) < MIN_SPREAD_SEEDS:
        return Finding(NAS_SPREAD, text, f"{len(saauxbn)} vs {len(bn)} seeds: a spread test needs "
                       f"at least {MIN_SPREAD_SEEDS} per norm", NOT_RESOLVED, str(setup[0]),
                       power="none: too few seeds for a spread test")
    a, b = list(saauxbn.values()), list(bn.values())
    p = spread_difference_p(a, b)
    smaller = stdev(a) < stdev(b)
    verdict = NOT_RESOLVED if not p < 0.05 else REPRODUCED if smaller else CONTRADICTED
    ours = (f"std {100 * stdev(a):.2f} vs {100 * stdev(b):.2f} ({len(a)} vs {len(b)} seeds; "
            f"Brown-Forsythe p = {p:.2g})")
    return Finding(NAS_SPREAD, text, ours, verdict, str(setup[0]),
                   power="not computed (Brown-Forsythe test of spread)", p_value=p)


def _setup_text(setup: Key) -> str:
    return f"{setup[0]}: {setup[3]}, {setup[1]}, {setup[2]}"


def nas_findings(records: Records) -> list[Finding]:
    """Found-cell accuracy of SaBN minus BN (paired by search seed) and its spread, per
    suite, algorithm and scoring method."""
    values = values_by_setup(records, TASK, _rows)
    ran_paper = any(k[3] in ("cifar100", "ImageNet16-120") and "table" in str(k[2])
                    for k in values)
    rows = setup_findings(NAS_MEAN, values, "saauxbn", "bn",
                          _setup_text, ran_paper,
                          "no NAS evaluation records with both BN and SaBN (`robust-sabn suite "
                          "run nas-fmnist` on a CPU)", scale=100.0, unit=" %")
    rows += setup_findings(NAS_MEAN_AFFINE, values, "saauxbn", "bn_affine",
                           _setup_text, False,
                           "no NAS evaluation records with both BN+affine and SaBN (a suite "
                           "with norms bn_affine and saauxbn)", scale=100.0, unit=" %")
    spread = [_spread_finding(k, n["saauxbn"], n["bn"]) for k, n in values.items()
              if n.get("saauxbn") and n.get("bn")]
    if not spread:
        return [*rows, not_run(NAS_SPREAD, "not run: no NAS evaluation records with both BN "
                               "and SaBN; " + _PAPER_SETUP.removeprefix("not run: "))]
    return rows + paper_setup_row(NAS_SPREAD, spread, ran_paper)
