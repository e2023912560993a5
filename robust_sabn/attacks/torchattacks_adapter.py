"""torchattacks behind one interface: ``attack(x, y) -> x_adv`` on a plain ``forward(x)`` model.

Every adapter takes a model mapping images (N, C, H, W) in [0, 1] to logits (N, K) (use
:func:`robust_sabn.nn.fixed_branch` for a branch model), eps on the [0, 1] pixel scale (L-inf) or
as an L2 distance in that scale (L2), runs with the model in eval mode and leaves every module's
mode as it found it.
"""

from __future__ import annotations

import torch
import torchattacks
from torch import Tensor, nn

from robust_sabn.nn.mode import model_mode


def check_attack_inputs(x: Tensor, y: Tensor) -> None:
    """Raise ValueError unless x is a float (N, C, H, W) batch in [0, 1] and y its (N,) labels."""
    if x.dim() != 4 or not x.is_floating_point():
        raise ValueError(
            f"images must be a float (N, C, H, W) tensor, got {x.dtype} {tuple(x.shape)}"
        )
    if y.shape != (x.shape[0],):
        raise ValueError(f"labels must have shape ({x.shape[0]},), got {tuple(y.shape)}")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(
            f"images must lie in [0, 1], got [{x.min().item():.3f}, {x.max().item():.3f}]"
        )


def default_step_size(eps: float, steps: int) -> float:
    """2.5 * eps / steps (Madry et al. 2018): enough to cross the ball from any start."""
    return 2.5 * eps / max(steps, 1)


class CWLinf(torchattacks.PGD):
    """PGD on the Carlini-Wagner margin loss (the "CW-inf" of the adversarial-training papers).

    Maximises ``max_{j != y} z_j - z_y`` within the L-inf ball, with the step, projection and
    random start of :class:`torchattacks.PGD`. Distance measure: Linf.

    Shape: images (N, C, H, W) in [0, 1], labels (N,), output (N, C, H, W).
    """

    def __init__(self, model: nn.Module, eps: float, alpha: float, steps: int,
                 random_start: bool = True) -> None:
        super().__init__(model, eps=eps, alpha=alpha, steps=steps, random_start=random_start)
        self.attack = "CWLinf"
        self.supported_mode = ["default"]

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        images = images.clone().detach().to(self.device)
        labels = labels.clone().detach().to(self.device)
        adv = images.clone()
        if self.random_start:
            adv = (adv + torch.empty_like(adv).uniform_(-self.eps, self.eps)).clamp(0, 1)
        for _ in range(self.steps):
            adv.requires_grad_(True)
            logits = self.get_logits(adv)
            true = logits.gather(1, labels[:, None]).squeeze(1)
            others = logits.scatter(1, labels[:, None], float("-inf")).amax(dim=1)
            (grad,) = torch.autograd.grad((others - true).sum(), adv)
            adv = adv.detach() + self.alpha * grad.sign()
            adv = (images + (adv - images).clamp(-self.eps, self.eps)).clamp(0, 1).detach()
        return adv


class TorchattacksAttack:
    """A torchattacks attack run in eval mode: ``attack(x, y) -> x_adv``.

    Args:
        attack: a torchattacks attack built on ``model``.
        model: the ``forward(x)`` module the attack was built on.
    """

    def __init__(self, attack: torchattacks.Attack, model: nn.Module) -> None:
        self.attack = attack
        self.model = model

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        """Adversarial images (N, C, H, W) in [0, 1] for clean images x (N, C, H, W), labels y."""
        check_attack_inputs(x, y)
        with model_mode(self.model, False):
            return self.attack(x, y).detach()

    def __repr__(self) -> str:
        return f"TorchattacksAttack({self.attack.attack})"


def _iterative(attack_class: type[torchattacks.Attack], model: nn.Module, *, eps: float,
               steps: int, step_size: float | None, random_start: bool) -> TorchattacksAttack:
    """A k-step attack of ``attack_class``; step size defaults to :func:`default_step_size`."""
    alpha = default_step_size(eps, steps) if step_size is None else step_size
    return TorchattacksAttack(
        attack_class(model, eps=eps, alpha=alpha, steps=steps, random_start=random_start), model
    )


def pgd_linf(model: nn.Module, *, eps: float, steps: int = 20, step_size: float | None = None,
             random_start: bool = True) -> TorchattacksAttack:
    """L-inf PGD (torchattacks.PGD); step size defaults to :func:`default_step_size`."""
    return _iterative(torchattacks.PGD, model, eps=eps, steps=steps, step_size=step_size,
                      random_start=random_start)


def pgd_l2(model: nn.Module, *, eps: float, steps: int = 20, step_size: float | None = None,
           random_start: bool = True) -> TorchattacksAttack:
    """L2 PGD (torchattacks.PGDL2), eps an L2 distance; step size defaults to 2.5 * eps / steps."""
    return _iterative(torchattacks.PGDL2, model, eps=eps, steps=steps, step_size=step_size,
                      random_start=random_start)


def fgsm(model: nn.Module, *, eps: float) -> TorchattacksAttack:
    """One signed-gradient step of size eps (torchattacks.FGSM), L-inf."""
    return TorchattacksAttack(torchattacks.FGSM(model, eps=eps), model)


def cw_linf(model: nn.Module, *, eps: float, steps: int = 20, step_size: float | None = None,
            random_start: bool = True) -> TorchattacksAttack:
    """L-inf PGD on the CW margin loss (:class:`CWLinf`); step size as :func:`pgd_linf`."""
    return _iterative(CWLinf, model, eps=eps, steps=steps, step_size=step_size,
                      random_start=random_start)
