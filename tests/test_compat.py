"""The ``autoattack`` shim over pyautoattack, and importing RobustBench through it."""

from __future__ import annotations

import sys

import pyautoattack
import pyautoattack.state
import pytest
import torch
from torch import nn

from robust_sabn.compat import AutoAttack, import_robustbench, install_autoattack_shim

EPS = 0.3


def _tiny_model() -> nn.Module:
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    return model.eval()


def _points(model: nn.Module, n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (n, 3, 4, 4) in [0, 1] labelled with the model's own predictions (all correct)."""
    x = torch.rand(n, 3, 4, 4)
    with torch.no_grad():
        y = model(x).argmax(1)
    return x, y


def _configure(adversary: pyautoattack.AutoAttack) -> None:
    adversary.apgd.n_iter = 10
    adversary.apgd_targeted.n_iter = 10
    adversary.apgd_targeted.n_target_classes = 2


def test_import_robustbench_gets_the_shim_as_autoattack() -> None:
    robustbench = import_robustbench()
    import autoattack
    from autoattack.state import EvaluationState

    assert robustbench.benchmark is robustbench.eval.benchmark
    assert autoattack.AutoAttack is AutoAttack
    assert robustbench.eval.AutoAttack is AutoAttack
    assert EvaluationState is pyautoattack.state.EvaluationState
    assert install_autoattack_shim() is True


def test_pkg_resources_is_importable() -> None:
    import pkg_resources

    assert callable(pkg_resources.resource_filename)


def test_shim_agrees_with_pyautoattack_and_stays_in_the_eps_ball(tmp_path, capsys) -> None:
    model = _tiny_model()
    x, y = _points(model)
    log = tmp_path / "aa.log"
    shim = AutoAttack(model, norm="Linf", eps=EPS, version="custom", device="cpu", seed=0,
                      attacks_to_run=["apgd-ce", "apgd-t"], log_path=str(log), verbose=True)
    _configure(shim)
    x_shim = shim.run_standard_evaluation(x, y, bs=4)

    direct = pyautoattack.AutoAttack(model, attacks=["apgd-ce", "apgd-t"], device="cpu",
                                     eps=EPS, norm="Linf", seed=0, version="custom")
    _configure(direct)
    x_direct, y_direct = direct.run_standard_evaluation(x, y, batch_size=4)

    assert torch.equal(x_shim, x_direct)
    assert x_shim.shape == x.shape
    assert (x_shim - x).abs().max() <= EPS + 1e-6
    assert x_shim.min() >= 0 and x_shim.max() <= 1
    with torch.no_grad():
        fooled = model(x_shim).argmax(1) != y
    assert fooled.any(), "APGD should fool a linear model at eps 0.3"
    assert torch.equal(fooled, y_direct != y)
    assert "initial accuracy: 100.00%" in log.read_text()
    assert "initial accuracy: 100.00%" in capsys.readouterr().out


def test_shim_return_labels_individual_and_clean_accuracy() -> None:
    model = _tiny_model()
    x, y = _points(model, 4)
    shim = AutoAttack(model, eps=EPS, version="custom", attacks_to_run=["apgd-ce"], seed=0,
                      device="cpu", verbose=False)
    _configure(shim)
    x_adv, y_adv = shim.run_standard_evaluation(x, y, bs=2, return_labels=True)
    with torch.no_grad():
        assert torch.equal(y_adv, model(x_adv).argmax(1))
    per_attack = shim.run_standard_evaluation_individual(x, y, bs=2)
    assert list(per_attack) == ["apgd-ce"]
    assert torch.equal(per_attack["apgd-ce"], x_adv)
    assert shim.attacks_to_run == ["apgd-ce"]
    assert shim.clean_accuracy(x, y, bs=3) == 1.0


def test_shim_standard_version_sets_the_original_cascade() -> None:
    shim = AutoAttack(_tiny_model(), eps=8 / 255, version="standard", device="cpu")
    assert shim.attacks_to_run == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert shim.epsilon == 8 / 255
    assert shim.apgd.n_restarts == 1 and shim.square.n_queries == 5000


def test_shim_rejects_what_the_original_rejects() -> None:
    with pytest.raises(ValueError, match="version='custom'"):
        AutoAttack(_tiny_model(), version="standard", attacks_to_run=["apgd-ce"], device="cpu")
    with pytest.raises(ValueError, match="PyTorch models only"):
        AutoAttack(_tiny_model(), is_tf_model=True, device="cpu")


def test_a_real_autoattack_package_wins_over_the_shim(tmp_path, monkeypatch) -> None:
    package = tmp_path / "autoattack"
    package.mkdir()
    (package / "__init__.py").write_text("REAL_AUTOATTACK = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "autoattack" or m.startswith("autoattack.")]:
        monkeypatch.delitem(sys.modules, name)

    assert install_autoattack_shim() is False
    import autoattack

    assert autoattack.REAL_AUTOATTACK is True


def test_import_robust_sabn_registers_one_finder_that_steps_aside_for_a_real_package(
        tmp_path, monkeypatch) -> None:
    import robust_sabn  # noqa: F401 (registers the finder)
    from robust_sabn.compat import register_autoattack_finder
    from robust_sabn.compat.autoattack_finder import AutoAttackShimFinder

    register_autoattack_finder()
    finders = [f for f in sys.meta_path if isinstance(f, AutoAttackShimFinder)]
    assert len(finders) == 1
    spec = finders[0].find_spec("autoattack")
    assert spec is not None and spec.submodule_search_locations == []
    assert finders[0].find_spec("autoattack.state") is None
    (tmp_path / "autoattack").mkdir()
    (tmp_path / "autoattack" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert finders[0].find_spec("autoattack") is None
