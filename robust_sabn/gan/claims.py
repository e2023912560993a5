"""The GAN task's rows of the claims page (:mod:`robust_sabn.report.claims`): FID and IS of
the SaBN generator minus the CCBN one, per suite, generator and feature extractor, paired by
training seed, read from the evaluation records (``eval.json``: ``fid`` and ``is`` with
condition ``features``; see :mod:`robust_sabn.gan.workflow`). Torch-free.
"""

from __future__ import annotations

from pathlib import Path

from robust_sabn.artifacts.result import ResultRecord
from robust_sabn.report.claims import metric_findings, suite_of
from robust_sabn.report.findings import Claim, Finding, Key, Records

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


def _training_means(metric: str, path: Path, record: ResultRecord
                    ) -> list[tuple[Key, str, int, float]]:
    """A record's ``metric`` (a mean over the run's iterations) by suite, generator, dataset
    and iterations."""
    subject = record.subject
    return [((suite_of(path, record), subject.get("generator"), subject.get("dataset"), m.n),
             str(subject.get("norm")), int(subject.get("seed") or 0), m.value)
            for m in record.find(metric)]


def _sample_scores(metric: str, path: Path, record: ResultRecord
                   ) -> list[tuple[Key, str, int, float]]:
    """A record's ``metric`` (FID or IS) by suite, generator, dataset, feature extractor and
    samples."""
    subject = record.subject
    return [((suite_of(path, record), subject.get("generator"), subject.get("dataset"),
              m.condition.get("features"), m.n),
             str(subject.get("norm")), int(subject.get("seed") or 0), m.value)
            for m in record.find(metric)]


def _gradient_findings(records: Records) -> list[Finding]:
    """The abstract's mechanism claim from the training records (``grad_imbalance``,
    ``grad_cosine``: means over the run's iterations, see :mod:`robust_sabn.nn.gradient_balance`)
    paired by seed, per suite, generator and dataset."""
    return metric_findings(
        records, TASK, zip(GRADIENT_CLAIMS, ("grad_imbalance", "grad_cosine"), strict=True),
        _training_means, row="sabn", reference="ccbn",
        setup_text=lambda k: f"{k[0]}: {k[2]}, {k[1]}, mean over {k[3]} iterations",
        paper_setup=lambda k: k[2] == "cifar10",
        missing="no GAN training records of both CCBN and SaBN with the gradient balance "
                "logged", kind="training", digits=3)


def gan_findings(records: Records) -> list[Finding]:
    """FID and IS of SaBN minus CCBN per suite, generator and feature extractor, and the
    gradient balance of the class affines."""
    return metric_findings(
        records, TASK, zip(CLAIMS, ("fid", "is"), strict=True), _sample_scores, row="sabn",
        reference="ccbn",
        setup_text=lambda k: f"{k[0]}: {k[2]}, {k[1]}, {k[3]} features, {k[4]} samples",
        paper_setup=lambda k: k[2] == "cifar10" and k[3] == "inception",
        missing="no GAN evaluation records with both CCBN and SaBN (`robust-sabn suite run "
                "gan-fmnist` on a CPU)", digits=2) + _gradient_findings(records)
