"""The GAN task's rows of the claims page (:mod:`robust_sabn.report.claims`): FID and IS of
the SaBN generator minus the CCBN one, per suite, generator and feature extractor, paired by
training seed, read from the evaluation records (``eval.json``: ``fid`` and ``is`` with
condition ``features``; see :mod:`robust_sabn.gan.workflow`). Torch-free.
"""

from __future__ import annotations

from pathlib import Path

from robust_sabn.artifacts.result import ResultRecord
from robust_sabn.report.claims import (
    Claim,
    Finding,
    Key,
    Records,
    setup_findings,
    suite_of,
    values_by_setup,
)

TASK = "gan"
_PAPER_SETUP = ("not run: the paper's setup needs a GPU, CIFAR-10 and the Inception weights "
                "(suites/gan-cifar10.toml, 50k iterations, 50k samples)")
CLAIMS = (
    Claim("gan-fid", TASK, "SaBN minus CCBN generator: FID (lower is better)",
          "SNGAN 8.97 vs 10.18: -1.21; AutoGAN -1.40; BigGAN -0.54 (CIFAR-10, Inception)", -1,
          _PAPER_SETUP, unit="FID"),
    Claim("gan-is", TASK, "SaBN minus CCBN generator: Inception Score",
          "SNGAN 8.89 vs 8.76: +0.13; AutoGAN +0.29; BigGAN +0.10 (CIFAR-10, Inception)", 1,
          _PAPER_SETUP, unit="IS"),
)


GRADIENT_CLAIMS = (
    Claim("gan-grad-imbalance", TASK, "SaBN minus CCBN generator: imbalance of the class "
          "affines' gradient norms (std / mean, training mean)",
          "lower for SaBN (abstract: \"promotes balanced gradient norms\"; no number)", -1,
          _PAPER_SETUP, unit="ratio"),
    Claim("gan-grad-cosine", TASK, "SaBN minus CCBN generator: mean pairwise cosine of the "
          "class affines' gradients (training mean)",
          "not higher for SaBN (abstract: \"preserving diverse gradient directions\"; no "
          "number)", -1, _PAPER_SETUP, unit="cosine"),
)


def _gradient_findings(records: Records) -> list[Finding]:
    """The abstract's mechanism claim from the training records (``grad_imbalance``,
    ``grad_cosine``: means over the run's iterations, see :mod:`robust_sabn.nn.gradient_balance`)
    paired by seed, per suite, generator and dataset."""
    rows = []
    for claim, metric in zip(GRADIENT_CLAIMS, ("grad_imbalance", "grad_cosine"), strict=True):
        def read(path: Path, record: ResultRecord, metric: str = metric
                 ) -> list[tuple[Key, str, int, float]]:
            subject = record.subject
            return [((suite_of(path, record), subject.get("generator"), subject.get("dataset"),
                      m.n), str(subject.get("norm")), int(subject.get("seed") or 0), m.value)
                    for m in record.find(metric)]

        values = values_by_setup(records, TASK, read)
        ran_paper = any(k[2] == "cifar10" for k in values)
        rows += setup_findings(claim, values, "sabn", "ccbn",
                               lambda k: f"{k[0]}: {k[2]}, {k[1]}, mean over {k[3]} iterations",
                               ran_paper, "no GAN training records of both CCBN and SaBN with "
                               "the gradient balance logged", digits=3)
    return rows


def gan_findings(records: Records) -> list[Finding]:
    """FID and IS of SaBN minus CCBN per suite, generator and feature extractor, and the
    gradient balance of the class affines."""
    rows = []
    for claim, metric in zip(CLAIMS, ("fid", "is"), strict=True):
        def read(path: Path, record: ResultRecord, metric: str = metric
                 ) -> list[tuple[Key, str, int, float]]:
            subject = record.subject
            return [((suite_of(path, record), subject.get("generator"), subject.get("dataset"),
                      m.condition.get("features"), m.n),
                     str(subject.get("norm")), int(subject.get("seed") or 0), m.value)
                    for m in record.find(metric)]

        values = values_by_setup(records, TASK, read)
        ran_paper = any(k[2] == "cifar10" and k[3] == "inception" for k in values)
        rows += setup_findings(claim, values, "sabn", "ccbn",
                               lambda k: f"{k[0]}: {k[2]}, {k[1]}, {k[3]} features, {k[4]} "
                               "samples", ran_paper, "no GAN evaluation records with both CCBN "
                               "and SaBN (`robust-sabn suite run gan-fmnist` on a CPU)", digits=2)
    return rows + _gradient_findings(records)
