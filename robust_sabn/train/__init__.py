"""Adversarial training: PGD-AT with the hybrid loss for BN, AuxBN and SaAuxBN models."""

from robust_sabn.train.config import PRESETS, TrainConfig
from robust_sabn.train.loop import model_spec_for, train, validate
from robust_sabn.train.objective import hybrid_adversarial_loss, lr_factor, training_loss

__all__ = [
    "PRESETS",
    "TrainConfig",
    "hybrid_adversarial_loss",
    "lr_factor",
    "model_spec_for",
    "train",
    "training_loss",
    "validate",
]
