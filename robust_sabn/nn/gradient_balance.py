"""How the gradients of the K independent (per-branch) affines of a norm layer compare.

The SaBN abstract's mechanism claim: the sandwich affine "promotes balanced gradient norms while
preserving diverse gradient directions" of the independent affines. For one layer whose branch
affine table ``(K, 2C)`` has gradient ``G`` (row k: the gradient of branch k's ``(g_k, b_k)``),
with row norms ``n_k`` over the branches that received gradient in the step (``n_k > 0``):

* **imbalance** ``std(n) / mean(n)`` (population std; 0 when every branch's gradient has the
  same norm; for K = 2 it is ``|n_1 - n_2| / (n_1 + n_2)``);
* **cosine** the mean pairwise cosine similarity of the rows (1: all point the same way,
  0: orthogonal, i.e. diverse directions).

:class:`GradientBalanceMeter` averages both over a model's layers and over the optimizer steps
it sees; training loops log its summary per epoch (adversarial) or per iteration (GAN).
"""

from __future__ import annotations

from torch import Tensor, nn

from robust_sabn.nn.norm import SandwichNorm2d


def branch_affine_gradients(model: nn.Module) -> list[tuple[str, Tensor]]:
    """``(layer name, gradient (K, 2C))`` of every norm layer with K >= 2 branch affines whose
    table has a gradient now (after ``backward``); [] for a model without such layers."""
    found = []
    for name, module in model.named_modules():
        if not isinstance(module, SandwichNorm2d):
            continue
        table = module.branch_affine
        if table is not None and table.grad is not None and table.shape[0] >= 2:
            found.append((name, table.grad.detach()))
    return found


def balance_of(gradient: Tensor) -> tuple[float, float] | None:
    """(imbalance, cosine) of one layer's branch-affine gradient ``(K, 2C)``, over the rows with
    a nonzero gradient; None when fewer than two rows have one."""
    norms = gradient.double().norm(dim=1)
    active = norms > 0
    k = int(active.sum())
    if k < 2:
        return None
    rows, norms = gradient.double()[active], norms[active]
    imbalance = norms.std(correction=0) / norms.mean()
    unit = rows / norms[:, None]
    cosine = ((unit @ unit.T).sum() - k) / (k * (k - 1))
    return float(imbalance), float(cosine)


class GradientBalanceMeter:
    """Running means of the per-step imbalance and cosine (each first averaged over layers)."""

    def __init__(self) -> None:
        self.steps = 0
        self._imbalance = 0.0
        self._cosine = 0.0

    def update(self, model: nn.Module) -> None:
        """Add the current gradients of ``model``'s branch affines (call after ``backward``,
        before the next ``zero_grad``); a step where no layer qualifies is not counted."""
        layers = [b for _, g in branch_affine_gradients(model) if (b := balance_of(g)) is not None]
        if not layers:
            return
        self.steps += 1
        self._imbalance += sum(b[0] for b in layers) / len(layers)
        self._cosine += sum(b[1] for b in layers) / len(layers)

    def summary(self) -> dict[str, float] | None:
        """``{"imbalance": mean, "cosine": mean, "steps": n}``, or None before any step."""
        if self.steps == 0:
            return None
        return {"imbalance": self._imbalance / self.steps, "cosine": self._cosine / self.steps,
                "steps": self.steps}
