"""The NAS task's claims rows and report title from scoring records: SaBN minus BN and SaBN
minus the BN-with-affine control arm, paired by search seed, on the analog table column."""

from __future__ import annotations

from pathlib import Path

import pytest

from robust_sabn.artifacts.result import write_result
from robust_sabn.nas.claims import NAS_MEAN, NAS_MEAN_AFFINE, nas_findings
from robust_sabn.nas.records import score_record
from robust_sabn.nas.space import Genotype
from robust_sabn.report.findings import REPRODUCED

CELL = Genotype.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
                      "nor_conv_3x3~1|skip_connect~2|")
# table accuracy of the found cell per norm and search seed
TABLE = {"bn": [0.60, 0.62, 0.64], "bn_affine": [0.80, 0.81, 0.83], "saauxbn": [0.85, 0.86, 0.87]}


def _records(root: Path) -> list:
    found = []
    for norm, values in TABLE.items():
        for seed, value in enumerate(values):
            path = root / "nx" / f"darts-{norm}-seed{seed}" / "score.json"
            path.parent.mkdir(parents=True)
            record = score_record(CELL, subject={"algorithm": "darts", "norm": norm,
                                                 "seed": seed},
                                  retrained={}, retrain=None,
                                  table_scores={"analog-nasbench": {"cifar10": value}},
                                  wall_time_s=1.0)
            write_result(path, record)
            found.append((path, record))
    return found


def test_saauxbn_is_compared_with_bn_and_with_the_affine_control(tmp_path: Path) -> None:
    findings = {f.claim.key: f for f in nas_findings(_records(tmp_path)) if f.suite == "nx"}
    mean, affine = findings[NAS_MEAN.key], findings[NAS_MEAN_AFFINE.key]
    # SaBN - BN: +25, +24, +23 points; SaBN - BN+affine: +5, +5, +4 points
    assert mean.ours.startswith("+24.00 [") and mean.verdict == REPRODUCED
    assert affine.ours.startswith("+4.67 [") and "(86.00 vs 81.33 %, 3 seeds)" in affine.ours
    assert affine.verdict == REPRODUCED
    assert affine.setup == "nx: cifar10, darts, analog-nasbench table"


def test_the_affine_row_is_not_run_without_the_control_arm(tmp_path: Path) -> None:
    records = [(p, r) for p, r in _records(tmp_path) if r.subject["norm"] != "bn_affine"]
    finding, = [f for f in nas_findings(records) if f.claim.key == NAS_MEAN_AFFINE.key
                and f.verdict == "not run" and "BN+affine" in f.ours]
    assert finding.verdict == "not run"
    assert "both BN+affine and SaBN" in finding.ours
    assert "(a suite with norms bn_affine and saauxbn);" in finding.ours


@pytest.mark.parametrize("kind", ["bn", "bn_affine"])
def test_bn_affine_cell_norm_has_one_affine_and_bn_none(kind: str) -> None:
    from robust_sabn.nas.ops import make_cell_norm

    names = {n for n, _ in make_cell_norm(kind, 4, 5).named_parameters()}
    assert bool(names) is (kind == "bn_affine")


def test_report_title_names_the_norms_the_records_hold(tmp_path: Path) -> None:
    from robust_sabn.nas.report import render_nas_report

    path = render_nas_report(_records(tmp_path), tmp_path / "nx.md", command="c",
                             suite_command=None, warnings=[], title="nx")
    first = path.read_text().splitlines()[0]
    assert first == "# nx: weight-sharing NAS with BN, BN+affine and SaAuxBN in the supernet"
