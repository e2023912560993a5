"""``EvalConfig``: the one set of evaluation settings and their defaults, beside ``TrainConfig``.

The CLI's ``robust-sabn eval`` options, the suites' ``[[evaluations]]`` tables and
:func:`robust_sabn.evaluate.evaluate_model` all take their defaults from :data:`EVAL_DEFAULTS`.
Torch-free. eps is on the [0, 1] pixel scale (None: the dataset's standard L-inf radius).
"""

from __future__ import annotations

from dataclasses import dataclass

SEEDING = "seed + batch index"
"""How evaluation randomness is drawn: batch b's attacks are seeded with ``seed + b``, so the
per-example flags depend on the seed and the batch boundaries (``batch_size``), not on how many
processes share the batches. Records name it in ``extras.settings.seeding``; a suite counts an
evaluation made another way as not done."""


@dataclass(frozen=True)
class EvalConfig:
    """How a model is evaluated.

    Attributes:
        attacks: attack names (``robust_sabn.attacks.registry.list_attacks()``); () for clean
            accuracy only.
        eps: attack radius, [0, 1] pixel scale; None takes the dataset's L-inf default.
        n_examples: the first N examples of the split, in order; None: all.
        batch_size: examples per forward/backward pass.
        version: AutoAttack version (``standard``, ``plus``, ``rand``, ``custom``).
        autoattack_attacks: the cascade of version ``custom``.
        pgd_steps: steps k of PGD-k and CW; step size 2.5 * eps / k unless ``pgd_step_size``.
        pgd_step_size: PGD step, [0, 1] pixel scale; None for 2.5 * eps / k.
        seed: seed of the attacks' random starts and AutoAttack's seed.
        threat_model: ``Linf`` or ``L2``.
        split: ``test`` or ``val``.
        branches: the branches to evaluate; None: all (``shared`` for a plain-BN model).
    """

    attacks: tuple[str, ...] = ("pgd", "autoattack")
    eps: float | None = None
    n_examples: int | None = 1000
    batch_size: int = 256
    version: str = "standard"
    autoattack_attacks: tuple[str, ...] | None = None
    pgd_steps: int = 20
    pgd_step_size: float | None = None
    seed: int = 0
    threat_model: str = "Linf"
    split: str = "test"
    branches: tuple[str, ...] | None = None


EVAL_DEFAULTS = EvalConfig()
"""The defaults every evaluation entry point shares."""
