"""The standard L-inf threat model of each dataset: eps, and the training attack's step and steps.

Torch-free; every value is on the [0, 1] pixel scale. Kept apart from the dataset registry (what
a dataset *is*) because it is what the adversarial benchmark *does* with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from robust_sabn.data.registry import NPZ_DATASET, check_dataset_name


@dataclass(frozen=True)
class AttackDefaults:
    """A dataset's standard threat model.

    Attributes:
        eps: L-inf radius, [0, 1] pixel scale.
        step_size: PGD step of adversarial training, [0, 1] pixel scale.
        attack_steps: PGD iterations of adversarial training.
    """

    eps: float
    step_size: float
    attack_steps: int


_CIFAR = AttackDefaults(eps=8 / 255, step_size=2 / 255, attack_steps=7)
ATTACK_DEFAULTS: dict[str, AttackDefaults] = {
    # Fashion-MNIST: eps 0.1 is the usual L-inf radius (Wong et al. 2018, "Scaling provable
    # adversarial defenses"; Croce & Hein 2019); step 0.01 x 20 steps follows the CIFAR recipe's
    # rule of a total step length of about 2 eps.
    "fashion-mnist": AttackDefaults(eps=0.1, step_size=0.01, attack_steps=20),
    # CIFAR-10/100: PGD-7, eps 8/255, step 2/255 (Madry et al. 2018), as in the SaBN paper.
    "cifar10": _CIFAR,
    "cifar100": _CIFAR,
    # SVHN: PGD-10 with step 1/255 at eps 8/255 (Rice et al. 2020, "Overfitting in adversarially
    # robust deep learning").
    "svhn": AttackDefaults(eps=8 / 255, step_size=1 / 255, attack_steps=10),
    # A user's own arrays take the CIFAR defaults.
    NPZ_DATASET: _CIFAR,
}


def attack_defaults(dataset: str) -> AttackDefaults:
    """The standard threat model of ``dataset`` (known without reading any file).

    Raises:
        UserInputError: unknown dataset.
    """
    check_dataset_name(dataset)
    return ATTACK_DEFAULTS[dataset]


def default_eps(dataset: str) -> float:
    """The standard L-inf radius of ``dataset``, [0, 1] pixel scale."""
    return attack_defaults(dataset).eps
