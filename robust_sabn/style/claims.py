"""The style task's rows of the claims page (:mod:`robust_sabn.report.claims`): validation
content and style loss of SaAdaIN minus AdaIN at each run's last step, per suite and feature
extractor, paired by training seed, read from the evaluation records (``content_loss`` and
``style_loss`` with condition ``split="val"``, ``step`` and ``features``; see
:mod:`robust_sabn.style.evaluate`). Torch-free.
"""

from __future__ import annotations

from pathlib import Path

from robust_sabn.artifacts.result import ResultRecord
from robust_sabn.report.claims import metric_findings, suite_of
from robust_sabn.report.findings import Claim, Finding, Key, Records
from robust_sabn.vocabulary import STYLE_SECOND_FEATURES

TASK = "style"
_PAPER_SETUP = ("not run: the paper's setup needs COCO, WikiArt and the VGG-19 weights "
                "(suites/style-coco-wikiart.toml, 160k iterations)")
_PAPER = "lower for SaAdaIN (a figure of training and validation losses; no number)"
CLAIMS = (
    Claim("style-content", TASK, "SaAdaIN minus AdaIN: validation content loss (lower is "
          "better)", _PAPER, -1, _PAPER_SETUP, unit="loss"),
    Claim("style-style", TASK, "SaAdaIN minus AdaIN: validation style loss (lower is better)",
          _PAPER, -1, _PAPER_SETUP, unit="loss"),
)


def _last_step_losses(metric: str, path: Path, record: ResultRecord
                      ) -> list[tuple[Key, str, int, float]]:
    """A record's validation ``metric`` at its last step, by suite, dataset, feature extractor
    and encoder."""
    found = record.find(metric, split="val")
    last = max((int(m.condition.get("step") or 0) for m in found), default=0)
    subject = record.subject
    return [((suite_of(path, record), subject.get("dataset"), m.condition.get("features"),
              subject.get("encoder")), str(subject.get("norm")), int(subject.get("seed") or 0),
             m.value)
            for m in found if int(m.condition.get("step") or 0) == last]


def _setup_text(key: Key) -> str:
    """Suite, images and feature extractor; the second encoder is named as one training never
    saw, not by the training encoder's label."""
    suite, dataset, features, encoder = key
    if features == STYLE_SECOND_FEATURES:
        return (f"{suite}: {dataset}, {features} (a random-feature encoder training never saw; "
                f"trained with {encoder})")
    return f"{suite}: {dataset}, {features} ({encoder})"


def style_findings(records: Records) -> list[Finding]:
    """Validation content and style loss of SaAdaIN minus AdaIN at each run's last step, per
    suite and feature extractor."""
    return metric_findings(
        records, TASK, zip(CLAIMS, ("content_loss", "style_loss"), strict=True),
        _last_step_losses, row="saadain", reference="adain",
        setup_text=_setup_text,
        paper_setup=lambda k: "coco" in str(k[1]).lower() and "vgg" in str(k[3]).lower(),
        missing="no style evaluation records with both AdaIN and SaAdaIN (`robust-sabn suite "
                "run style-offline` on a CPU)", digits=4)
