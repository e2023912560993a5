"""Projected gradient descent (Madry et al. 2018) for the training loop.

A plain function, not a torchattacks object: the trainer calls it once per batch, so it does no
mode switching, input checking or copying beyond what the math needs. Evaluation uses the
torchattacks and AutoAttack adapters instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

_TINY = 1e-12


def _l2_norm(t: Tensor) -> Tensor:
    """Per-sample L2 norm of (N, ...) as (N, 1, 1, 1)-broadcastable (N, *ones)."""
    return t.flatten(1).norm(dim=1).clamp_min(_TINY).view(-1, *([1] * (t.dim() - 1)))


def random_point(x: Tensor, eps: float, norm: str, generator: torch.Generator | None) -> Tensor:
    """A uniform random point of the eps-ball around x (N, C, H, W), clipped to [0, 1]."""
    if norm == "Linf":
        noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        delta = (2 * noise - 1) * eps
    else:
        direction = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        direction = direction / _l2_norm(direction)
        radius = torch.rand((x.shape[0],), generator=generator, device=x.device, dtype=x.dtype)
        delta = direction * (eps * radius.pow(1.0 / x[0].numel())).view(-1, *[1] * (x.dim() - 1))
    return (x + delta).clamp_(0.0, 1.0)


def pgd_attack(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    step_size: float,
    steps: int,
    norm: Literal["Linf", "L2"] = "Linf",
    random_start: bool = True,
    generator: torch.Generator | None = None,
    start: Tensor | None = None,
) -> Tensor:
    """Maximise cross-entropy of ``model`` within the ``norm`` ball of radius ``eps`` around x.

    Args:
        model: maps images (N, C, H, W) in [0, 1] to logits (N, K); called as is (route the
            branch and set the mode before calling).
        x: clean images (N, C, H, W) in [0, 1].
        y: labels (N,).
        eps, step_size: on the [0, 1] pixel scale (L-inf) or in L2 distance (L2).
        steps: gradient steps; 0 returns x (or the random start).
        random_start: start from a uniform point of the ball (Madry et al.) instead of x.
        generator: the random start's source, for reproducible training.
        start: the first point (N, C, H, W), instead of drawing one (a data-parallel rank
            passes its slice of the global batch's :func:`random_point`).

    Returns:
        Adversarial images (N, C, H, W), detached, inside the ball and [0, 1].
    """
    if norm not in ("Linf", "L2"):
        raise ValueError(f"norm must be 'Linf' or 'L2', got {norm!r}")
    x = x.detach()
    if start is not None:
        x_adv = start.detach().clone()
    else:
        x_adv = random_point(x, eps, norm, generator) if random_start else x.clone()
    if norm == "Linf" and steps:  # the ball and [0, 1] in one clamp: [max(x-eps, 0), ...]
        low, high = (x - eps).clamp_(min=0.0), (x + eps).clamp_(max=1.0)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y)
        (grad,) = torch.autograd.grad(loss, x_adv)
        with torch.no_grad():
            if norm == "Linf":
                x_adv = torch.clamp(x_adv.add_(grad.sign_(), alpha=step_size), low, high)
            else:
                x_adv = x_adv + step_size * grad / _l2_norm(grad)
                delta = x_adv - x
                delta = delta * (eps / _l2_norm(delta)).clamp(max=1.0)
                x_adv = (x + delta).clamp_(0.0, 1.0)
    return x_adv.detach()
