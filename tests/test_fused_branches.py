"""The fused clean + adversarial forward (``BranchSegments``, ``--fused-branches``): the same
math as separate forwards of the two halves, in one pass."""

from __future__ import annotations

import copy

import pytest
import torch
from test_train import _quick_config

from robust_sabn.artifacts import load_checkpoint
from robust_sabn.errors import UserInputError
from robust_sabn.models import create_model
from robust_sabn.nn import CCBN, AuxBN, BranchSegments, SaAuxBN, SaBN, use_branch
from robust_sabn.train import TrainConfig, train
from robust_sabn.train.objective import BranchPair, hybrid_adversarial_loss

LAYERS = {
    "auxbn": lambda: AuxBN(3),
    "saauxbn": lambda: SaAuxBN(3),
    "sabn": lambda: SaBN(3, num_branches=2),
    "ccbn": lambda: CCBN(3, num_branches=2),
}


def _buffers(layer: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.clone() for name, value in layer.named_buffers()}


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("training", [True, False])
def test_segments_equal_separate_calls_in_outputs_statistics_and_gradients(
        kind: str, training: bool) -> None:
    torch.manual_seed(0)
    fused_layer = LAYERS[kind]().train(training)
    with torch.no_grad():  # distinct affines and running statistics per branch
        for p in fused_layer.parameters():
            p.add_(torch.randn_like(p) * 0.3)
        fused_layer.running_mean.normal_()
        fused_layer.running_var.uniform_(0.5, 2.0)
    separate_layer = copy.deepcopy(fused_layer)
    first = torch.randn(5, 3, 4, 4, requires_grad=True)
    second = (torch.randn(7, 3, 4, 4) * 3 + 2).requires_grad_(True)

    fused = fused_layer(torch.cat([first, second]), branch=BranchSegments((0, 1), (5, 7)))
    separate = torch.cat([separate_layer(first, branch=0), separate_layer(second, branch=1)])
    torch.testing.assert_close(fused, separate)
    for name, value in _buffers(fused_layer).items():
        torch.testing.assert_close(value, _buffers(separate_layer)[name], msg=name)

    weights = torch.randn_like(fused)
    fused_grads = torch.autograd.grad((fused * weights).sum(),
                                      [first, second, *fused_layer.parameters()])
    separate_grads = torch.autograd.grad((separate * weights).sum(),
                                         [first, second, *separate_layer.parameters()])
    for a, b in zip(fused_grads, separate_grads, strict=True):
        torch.testing.assert_close(a, b)


def test_segments_pass_through_routing_by_name() -> None:
    layer = SaAuxBN(2).eval()
    with torch.no_grad():
        layer.branch_affine[1, :2] = 3.0
    x = torch.randn(4, 2, 3, 3)
    model = torch.nn.Sequential(layer)
    with use_branch(model, BranchSegments(("clean", "adv"), (1, 3))):
        out = model(x)
    torch.testing.assert_close(out[:1], layer(x[:1], branch="clean"))
    torch.testing.assert_close(out[1:], layer(x[1:], branch="adv"))


@pytest.mark.parametrize(("segments", "message"), [
    (lambda: BranchSegments((0, 1), (2, 3)), "do not add up to the batch of 4"),
    (lambda: BranchSegments((0,), (2, 2)), "one size per branch"),
    (lambda: BranchSegments((0, 1), (4, 0)), "must be positive"),
])
def test_bad_segments_are_named(segments, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AuxBN(2)(torch.randn(4, 2, 3, 3), branch=segments())


@pytest.mark.parametrize("channels_last", [False, True])
def test_the_fused_hybrid_loss_equals_two_forwards(channels_last: bool) -> None:
    torch.manual_seed(1)
    model = create_model("small_cnn", norm="saauxbn", in_channels=1, width=4).train()
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    twin = copy.deepcopy(model)
    x = torch.rand(16, 1, 28, 28).contiguous(memory_format=layout)
    x_adv = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    y = torch.randint(0, 10, (16,))

    fused = hybrid_adversarial_loss(BranchPair(model, fused=True), x, x_adv, y)
    separate = hybrid_adversarial_loss(twin, x, x_adv, y)
    for a, b in zip(fused, separate, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    fused[0].backward()
    separate[0].backward()
    for (name, a), b in zip(model.named_parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-6, msg=name)
    for (name, a), b in zip(model.named_buffers(), twin.buffers(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def _config(**overrides: object) -> TrainConfig:
    """test_train's quick run, one epoch."""
    return _quick_config(**{"epochs": 1, **overrides})


def test_a_fused_training_run_reaches_the_weights_of_a_plain_one(tmp_path) -> None:
    train(_config(), tmp_path / "plain", quiet=True)
    record = train(_config(fused_branches=True), tmp_path / "fused", quiet=True)
    assert record.subject["config"]["fused_branches"] is True
    plain = load_checkpoint(tmp_path / "plain" / "last.pt")["state_dict"]
    fused = load_checkpoint(tmp_path / "fused" / "last.pt")["state_dict"]
    assert plain.keys() == fused.keys()
    for key in plain:
        torch.testing.assert_close(fused[key].float(), plain[key].float(), rtol=1e-4,
                                   atol=1e-5, msg=key)


@pytest.mark.parametrize("options", [{"norm": "bn"}, {"loss": "adv"}])
def test_fused_branches_without_two_branches_to_fuse_is_refused(options: dict) -> None:
    with pytest.raises(UserInputError, match="nothing to fuse"):
        _config(fused_branches=True, **options).resolved()


def test_one_branch_without_clean_images_is_unchanged_by_fusing() -> None:
    model = create_model("small_cnn", norm="auxbn", in_channels=1, width=4).eval()
    x_adv = torch.rand(4, 1, 28, 28)
    clean, adv = BranchPair(model, fused=True)(None, x_adv)
    assert clean is None
    torch.testing.assert_close(adv, model(x_adv, branch="adv"))
