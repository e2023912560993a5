"""The GAN task's words, torch-free: generator names and labels, the classifier-metric label."""

from __future__ import annotations

GENERATOR_LABELS: dict[str, str] = {"sngan32": "SNGAN", "autogan32": "AutoGAN",
                                    "biggan32": "BigGAN"}
"""Registry name -> label of every generator, in comparison order."""

CLASSIFIER_LABEL = "classifier FID / classifier IS (not comparable to Inception numbers)"
"""How every number made with the reference classifier's features is labelled."""
