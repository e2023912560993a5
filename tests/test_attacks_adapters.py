"""Attack registry and adapters: eps-balls, eval mode, AutoAttack's cascade and flags."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from evaluation_helpers import (
    single_torch_thread,  # noqa: F401 (autouse fixture)
    synthetic_images,
    train_tiny_model,
)
from pyautoattack import AutoAttack
from torch import Tensor, nn

from robust_sabn.attacks.autoattack_adapter import (
    AUTOATTACK_PRESETS,
    AutoAttackAttack,
    check_autoattack_options,
    run_autoattack,
)
from robust_sabn.attacks.registry import attack_key, list_attacks, make_attack
from robust_sabn.attacks.torchattacks_adapter import pgd_linf
from robust_sabn.errors import UserInputError
from robust_sabn.nn import fixed_branch

EPS = 0.05


@pytest.fixture(scope="module")
def tiny() -> nn.Module:
    return train_tiny_model()


@pytest.fixture(scope="module")
def batch() -> tuple[Tensor, Tensor]:
    """16 synthetic images, a few pixels pinned at exactly 0 and 1 to test clipping."""
    x, y = synthetic_images(16, seed=1)
    x[:, :, 0, 0] = 0.0
    x[:, :, 7, 7] = 1.0
    return x, y


def test_list_attacks() -> None:
    assert list_attacks() == ["pgd", "pgd-l2", "fgsm", "cw", "autoattack"]


def test_attack_keys() -> None:
    assert attack_key("pgd", steps=20) == "pgd-20"
    assert attack_key("cw", steps=7) == "cw-7"
    assert attack_key("fgsm", steps=20) == "fgsm"
    assert attack_key("autoattack", version="plus") == "autoattack-plus"


def test_unknown_attack_names_the_choices(tiny: nn.Module) -> None:
    with pytest.raises(UserInputError, match=r"^unknown attack 'pgdd'; choose from pgd, pgd-l2, "
                                             r"fgsm, cw, autoattack$"):
        make_attack("pgdd", tiny, eps=EPS)


def test_attack_outside_its_threat_model_is_refused(tiny: nn.Module) -> None:
    with pytest.raises(UserInputError, match=r"attack 'pgd' works in Linf, not 'L2': evaluate "
                                             r"in Linf .*, or for L2 choose from pgd-l2, "
                                             r"autoattack"):
        make_attack("pgd", tiny, eps=0.5, threat_model="L2")


def test_default_step_size_is_madry() -> None:
    attack = pgd_linf(nn.Linear(2, 2), eps=0.1, steps=10)
    assert attack.attack.alpha == pytest.approx(0.025)
    assert attack.attack.steps == 10 and attack.attack.random_start


@pytest.mark.parametrize("name", ["pgd", "fgsm", "cw"])
def test_linf_attacks_stay_in_ball_and_range_and_raise_the_loss(
    name: str, tiny: nn.Module, batch: tuple[Tensor, Tensor]
) -> None:
    x, y = batch
    view = fixed_branch(tiny, "adv")
    x_adv = make_attack(name, view, eps=0.2, steps=5)(x, y)
    assert x_adv.shape == x.shape
    assert (x_adv - x).abs().max() <= 0.2 + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (x_adv - x).abs().max() > 0.1
    with torch.no_grad():
        assert F.cross_entropy(view(x_adv), y) > F.cross_entropy(view(x), y)


def test_l2_attack_stays_in_ball_and_range(tiny: nn.Module, batch: tuple[Tensor, Tensor]) -> None:
    x, y = batch
    x_adv = make_attack("pgd-l2", fixed_branch(tiny, "adv"), eps=0.5, threat_model="L2",
                        steps=5)(x, y)
    assert (x_adv - x).flatten(1).norm(dim=1).max() <= 0.5 + 1e-5
    assert x_adv.min() >= 0 and x_adv.max() <= 1


def test_attack_rejects_images_outside_unit_range(tiny: nn.Module) -> None:
    x, y = synthetic_images(2, seed=0)
    with pytest.raises(ValueError, match=r"images must lie in \[0, 1\]"):
        make_attack("pgd", tiny, eps=EPS)(x * 255, y)


def _recording_modes(model: nn.Module) -> list[bool]:
    """Hook every module to record ``training`` at each forward; returns the record list."""
    seen: list[bool] = []
    for module in model.modules():
        module.register_forward_hook(lambda m, i, o: seen.append(m.training))
    return seen


@pytest.mark.parametrize("name", ["pgd", "autoattack"])
def test_attacks_run_in_eval_mode_and_restore_train_mode(
    name: str, batch: tuple[Tensor, Tensor]
) -> None:
    model = train_tiny_model(steps=5).train()
    model.norms[0].eval()  # a mixed-mode model comes back exactly as it was
    before = {k: v.clone() for k, v in model.state_dict().items()}
    seen = _recording_modes(model)
    x, y = batch
    make_attack(name, fixed_branch(model, "adv"), eps=EPS, steps=2, version="custom",
                autoattack_attacks=["apgd-ce"])(x[:4], y[:4])
    assert seen and not any(seen)
    assert [m.training for m in model.modules()] == [m is not model.norms[0]
                                                     for m in model.modules()]
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_autoattack_matches_pyautoattack_called_directly(
    tiny: nn.Module, batch: tuple[Tensor, Tensor]
) -> None:
    x, y = batch
    view = fixed_branch(tiny, "adv")
    ours = run_autoattack(view, x, y, eps=EPS, version="custom", attacks=["apgd-ce", "apgd-t"],
                          seed=3, batch_size=8)
    direct = AutoAttack(view, eps=EPS, version="custom", attacks=["apgd-ce", "apgd-t"], seed=3)
    x_direct, y_direct = direct.run_standard_evaluation(x, y, batch_size=8)
    assert torch.equal(ours.robust, y_direct.eq(y))
    assert torch.equal(ours.x_adv, x_direct)
    assert ours.robust_accuracy == y_direct.eq(y).sum().item() / len(y)


def test_autoattack_cascade_is_returned_and_non_increasing(
    tiny: nn.Module, batch: tuple[Tensor, Tensor]
) -> None:
    x, y = batch
    result = run_autoattack(fixed_branch(tiny, "adv"), x, y, eps=EPS, version="custom",
                            attacks=["apgd-ce", "apgd-t"], batch_size=8)
    accuracies = [acc for _, acc in result.cascade]
    assert [a for a, _ in result.cascade] == ["apgd-ce", "apgd-t"]
    assert result.clean_accuracy == 1.0
    assert result.clean_accuracy >= accuracies[0] >= accuracies[1]
    assert 0 < accuracies[0] < 1  # the model is neither broken nor untouchable at this eps
    assert result.robust_accuracy == accuracies[-1] == result.robust.sum().item() / len(y)
    assert result.to_dict() == {
        "version": "custom", "attacks": ["apgd-ce", "apgd-t"],
        "cascade": [{"attack": a, "robust_accuracy": acc} for a, acc in result.cascade],
        "flags": [], "time_s": dict(result.stage_time_s),
    }
    assert [a for a, _ in result.stage_time_s] == ["apgd-ce", "apgd-t"]
    assert all(seconds > 0 for _, seconds in result.stage_time_s)
    assert (result.x_adv - x).abs().max() <= EPS + 1e-6


class _Quantized(nn.Module):
    """Rounds pixels to 4 levels before a linear layer: zero input gradient everywhere."""

    def __init__(self, noise: float = 0.0, softmax: bool = False) -> None:
        super().__init__()
        # the same weights whatever ran before (the cases are built at collection time)
        with torch.random.fork_rng():
            torch.manual_seed(0)
            self.linear = nn.Linear(64, 10)
        self.noise, self.softmax = noise, softmax

    def forward(self, x: Tensor) -> Tensor:
        out = self.linear((x * 3).round().div(3).flatten(1))
        out = out + self.noise * torch.randn_like(out)
        return out.softmax(1) if self.softmax else out


@pytest.mark.parametrize(("model", "attacks", "flag"), [
    # AutoAttack checks gradients for zeros only under the DLR loss
    (_Quantized(), ["apgd-dlr"], "points with zero gradient"),
    (_Quantized(noise=1.0), ["apgd-ce"], "it seems to be a randomized defense"),
    (_Quantized(softmax=True), ["apgd-ce"], "the output is a probability distribution"),
    # gradient masking: the black-box Square fools points the white-box APGD could not
    (_Quantized(), ["apgd-ce", "square"], "Square Attack has decreased the robust accuracy"),
])
def test_autoattack_sanity_flags_are_returned(model: nn.Module, attacks: list[str],
                                              flag: str) -> None:
    x, _ = synthetic_images(8, seed=2)
    with torch.no_grad():
        y = model(x).argmax(1)
    result = run_autoattack(model, x, y, eps=0.2, version="custom", attacks=attacks)
    assert any(flag in f for f in result.flags), result.flags
    assert len(result.flags) == len(set(result.flags))


@pytest.mark.parametrize("version", ["standard", "plus", "rand"])
def test_presets_are_pyautoattacks_cascades(version: str) -> None:
    adversary = AutoAttack(nn.Linear(2, 2), eps=EPS, version=version)
    assert tuple(adversary.attacks_to_run) == AUTOATTACK_PRESETS[version]


def test_autoattack_as_uniform_attack(tiny: nn.Module, batch: tuple[Tensor, Tensor]) -> None:
    x, y = batch
    attack = make_attack("autoattack", fixed_branch(tiny, "adv"), eps=EPS, version="custom",
                         autoattack_attacks=["apgd-ce"])
    assert isinstance(attack, AutoAttackAttack)
    x_adv = attack(x, y)
    assert (x_adv - x).abs().max() <= EPS + 1e-6
    with torch.no_grad():
        fooled = tiny(x_adv, branch="adv").argmax(1).ne(y)
    assert attack.last_result is not None
    assert torch.equal(fooled, ~attack.last_result.robust)


@pytest.mark.parametrize(("version", "attacks", "message"), [
    ("fast", None, r"^unknown AutoAttack version 'fast'; choose one of standard, plus, rand, "
                   r"custom$"),
    ("custom", None, r"^AutoAttack version 'custom' needs a list of attacks from apgd-ce, "),
    ("custom", ["apgd-ce", "pgd"], r"^unknown AutoAttack attack 'pgd'; choose from apgd-ce, "),
    ("standard", ["apgd-ce"], r"^an AutoAttack attack list needs version 'custom'"),
    ("custom", ["apgd-ce", "apgd-ce"], r"repeats an attack"),
])
def test_autoattack_options_are_checked(version: str, attacks: list[str] | None,
                                        message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        check_autoattack_options(version, attacks)


@pytest.mark.slow
def test_standard_autoattack_matches_pyautoattack(tiny: nn.Module,
                                                  batch: tuple[Tensor, Tensor]) -> None:
    x, y = batch
    view = fixed_branch(tiny, "adv")
    ours = run_autoattack(view, x[:6], y[:6], eps=EPS, version="standard", batch_size=4)
    direct = AutoAttack(view, eps=EPS, version="standard", seed=0)
    _, y_direct = direct.run_standard_evaluation(x[:6], y[:6], batch_size=4)
    assert ours.attacks == AUTOATTACK_PRESETS["standard"] == tuple(direct.attacks_to_run)
    assert [a for a, _ in ours.cascade] == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert torch.equal(ours.robust, y_direct.eq(y[:6]))
