"""Attacks: the training PGD and mode handling (evaluation adapters live beside them)."""

from robust_sabn.attacks.pgd import pgd_attack
from robust_sabn.nn.mode import model_mode

__all__ = ["model_mode", "pgd_attack"]
