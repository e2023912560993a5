"""The adversarial task's rows of the claims page (:mod:`robust_sabn.report.claims`).

Runs are read through :mod:`robust_sabn.adversarial.report.collect` and grouped by setup (suite,
dataset, model); within a setup, each norm's values by training seed are compared at the
training radius: clean accuracy of the clean branch, PGD-20 and AutoAttack accuracy of the
adversarial branch (a plain-BN model's one branch stands for both), and the rise of the
adversarial validation loss from its lowest epoch to the last (robust overfitting). The
clean-only control arm (:meth:`~robust_sabn.adversarial.report.collect.RunResults.is_control`)
is no norm's run here: it serves the gates. Torch-free.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from robust_sabn.adversarial.record import TASK
from robust_sabn.adversarial.report.collect import CLEAN, RunResults, eps_key
from robust_sabn.adversarial.report.collect import collect_run_results as collect_runs
from robust_sabn.adversarial.report.gradient_balance import run_balance
from robust_sabn.adversarial.report.overfitting import loss_rise
from robust_sabn.report.claims import not_run, paired_finding, paper_setup_row
from robust_sabn.report.findings import Claim, Finding, Records

_PAPER_SETUP = ("not run: the paper's setup needs a GPU and CIFAR-10 "
                "(suites/adversarial-cifar10.toml: PreAct ResNet-18, 200 epochs)")
_PAPER = "CIFAR-10, PreAct ResNet-18, eps 8/255"


def _claim(key: str, statement: str, paper: str, sign: int = 1, unit: str = "points"
           ) -> Claim:
    return Claim(key=key, task=TASK, statement=statement, paper=paper, sign=sign,
                 paper_setup=_PAPER_SETUP, unit=unit)


@dataclass(frozen=True)
class _Test:
    """A claim and how to read it: the two norms, the branch and metric compared."""

    claim: Claim
    row: str
    reference: str
    branch: str
    metric: str


TESTS = (
    _Test(_claim("adv-clean-auxbn", "AuxBN clean branch minus BN: clean accuracy (points)",
                 f"94.47 vs 84.84: +9.63 ({_PAPER})"), "auxbn", "bn", "clean", CLEAN),
    _Test(_claim("adv-clean-saauxbn", "SaAuxBN clean branch minus BN: clean accuracy (points)",
                 f"94.62 vs 84.84: +9.78 ({_PAPER})"), "saauxbn", "bn", "clean", CLEAN),
    _Test(_claim("adv-pgd-saauxbn-bn", "SaAuxBN adv branch minus BN: PGD-20 accuracy (points)",
                 f"43.14 vs 40.02: +3.12 ({_PAPER})"), "saauxbn", "bn", "adv", "pgd-20"),
    _Test(_claim("adv-pgd-auxbn-bn", "AuxBN adv branch minus BN: PGD-20 accuracy (points)",
                 f"41.60 vs 40.02: +1.58 ({_PAPER})"), "auxbn", "bn", "adv", "pgd-20"),
    _Test(_claim("adv-pgd-saauxbn-auxbn",
                 "SaAuxBN minus AuxBN, adv branch: PGD-20 accuracy (points)",
                 f"43.14 vs 41.60: +1.54 ({_PAPER})"), "saauxbn", "auxbn", "adv", "pgd-20"),
    _Test(_claim("adv-aa-saauxbn-bn", "SaAuxBN adv branch minus BN: AutoAttack accuracy (points)",
                 "not measured (the authors ran PGD only); their PGD gain implies > 0"),
          "saauxbn", "bn", "adv", "autoattack"),
    _Test(_claim("adv-aa-saauxbn-auxbn",
                 "SaAuxBN minus AuxBN, adv branch: AutoAttack accuracy (points)",
                 "not measured (the authors ran PGD only); their PGD gain implies > 0"),
          "saauxbn", "auxbn", "adv", "autoattack"),
    _Test(_claim("adv-overfitting", "SaAuxBN minus AuxBN: rise of the adversarial validation "
                 "loss, last epoch minus its lowest (nats)",
                 "rises less for SaAuxBN (a figure: test PGD loss after epoch ~75 of 200)", -1,
                 "nats"),
          "saauxbn", "auxbn", "adv", "overfitting"),
    _Test(_claim("adv-grad-imbalance", "SaAuxBN minus AuxBN: imbalance of the branch affines' "
                 "gradient norms (std / mean, training mean)",
                 "lower for SaAuxBN (abstract: \"promotes balanced gradient norms\"; no number)",
                 -1, "ratio"),
          "saauxbn", "auxbn", "both", "grad-imbalance"),
    _Test(_claim("adv-grad-cosine", "SaAuxBN minus AuxBN: mean pairwise cosine of the branch "
                 "affines' gradients (training mean)",
                 "not higher for SaAuxBN (abstract: \"preserving diverse gradient directions\"; "
                 "no number)", -1, "cosine"),
          "saauxbn", "auxbn", "both", "grad-cosine"),
)
GRADIENT_METRICS = ("grad-imbalance", "grad-cosine")


CLAIMS = tuple(test.claim for test in TESTS)
"""The adversarial claims, in the order of the claims page."""
POINTS = 100.0


def _suite_of(run: RunResults) -> str:
    return next((str(r.suite["name"]) for r in run.records if r.suite and r.suite.get("name")),
                "no suite")


def _training_eps(run: RunResults) -> float | None:
    for record in run.records:
        config = record.subject.get("config")
        if record.kind == "training" and isinstance(config, dict) and config.get("eps"):
            return float(config["eps"])
    return None


def _metric_key(run: RunResults, metric: str, eps: float | None) -> str | None:
    """The record key measuring ``metric`` (``autoattack``: standard first, then any
    cascade) on the run, or None."""
    if metric != "autoattack":
        return metric
    have = sorted({m for (_, m, e) in run.values if m.startswith("autoattack-")
                   and e is not None and eps is not None and abs(e - eps) < 1e-9})
    preferred = [m for m in have if m == "autoattack-standard"] + have
    return preferred[0] if preferred else None


def _values(runs: Sequence[RunResults], test: _Test, norm: str
            ) -> tuple[dict[int, float], str | None, int]:
    """By seed: the norm's value of the test's metric; the metric key read; test points."""
    found: dict[int, float] = {}
    key_used, points = None, 0
    for index, run in enumerate(r for r in runs if r.norm == norm and not r.is_control()):
        seed = run.seed if run.seed is not None else index
        if test.metric == "overfitting":
            value = loss_rise(run, test.branch)
        elif test.metric in GRADIENT_METRICS:
            value = run_balance(run, test.metric.removeprefix("grad-"))
        else:
            eps = _training_eps(run)
            key = _metric_key(run, test.metric, eps)
            value = run.value(test.branch, key, eps) if key else None
            if value is not None:
                key_used, points = key, _points(run, test.branch, key, eps)
        if value is not None:
            found[seed] = value
    return found, key_used, points


def _points(run: RunResults, branch: str, key: str | None, eps: float | None) -> int:
    """How many test points the run's value of ``key`` on ``branch`` is over."""
    resolved = run.resolve_branch(branch) or branch
    value = run.values.get((resolved, str(key), None if key == CLEAN else eps_key(eps or 0.0)))
    return value[1] if value else 0


def _setup_text(suite: str, runs: Sequence[RunResults], key: str | None, points: int) -> str:
    run = runs[0]
    kwargs = ", ".join(f"{k}={v}" for k, v in sorted(run.model_kwargs.items()))
    model = run.model + (f"({kwargs})" if kwargs else "")
    measured = "" if key is None else (
        f", {'clean' if key == CLEAN else key} on {points} test points" if points else "")
    return f"{suite}: {run.dataset}, {model}{measured}"


def _findings_for(test: _Test, setups: dict[tuple[str, str, str], list[RunResults]]
                  ) -> list[Finding]:
    findings = []
    scale, unit, digits = ((1.0, " nats", 3) if test.metric == "overfitting"
                           else (1.0, "", 3) if test.metric in GRADIENT_METRICS
                           else (POINTS, " %", 2))
    for (suite, _, _), runs in setups.items():
        row, key, points = _values(runs, test, test.row)
        reference, _, _ = _values(runs, test, test.reference)
        if not row or not reference:
            continue
        findings.append(paired_finding(test.claim, _setup_text(suite, runs, key, points), row,
                                       reference, suite=suite, scale=scale, digits=digits,
                                       unit=unit))
    return findings


def adversarial_findings(records: Records,
                         collect: Callable[[list[str]], list[RunResults]] | None = None
                         ) -> list[Finding]:
    """The adversarial claims' rows from ``records``: one per claim and setup that measured
    it, plus a ``not run`` row for the paper's CIFAR-10 setup when no record is from it."""
    paths = [str(p) for p, r in records if r.task == TASK and r.kind == "evaluation"]
    runs = [r for r in (collect or _collect)(paths) if not r.baseline] if paths else []
    setups: dict[tuple[str, str, str], list[RunResults]] = {}
    for run in runs:
        setups.setdefault((_suite_of(run), run.dataset, run.model), []).append(run)
    ran_paper = any(d == "cifar10" and m == "preact_resnet18" for _, d, m in setups)
    rows = []
    for test in TESTS:
        found = _findings_for(test, setups)
        if found:
            rows += paper_setup_row(test.claim, found, ran_paper)
        else:
            rows.append(not_run(test.claim, "not run: no adversarial evaluation records measure "
                                "it (`robust-sabn suite run adversarial-fmnist` on a CPU); "
                                + _PAPER_SETUP.removeprefix("not run: ")))
    return rows


def _collect(paths: list[str]) -> list[RunResults]:
    return collect_runs(paths).runs
