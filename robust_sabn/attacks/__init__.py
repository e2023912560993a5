"""Attacks: the training PGD and mode handling (evaluation adapters live beside them)."""

from robust_sabn.attacks.mode import model_mode
from robust_sabn.attacks.pgd import pgd_attack

__all__ = ["model_mode", "pgd_attack"]
