"""A rerunnable mutation check: plant plausible bugs in the core one at a time and see whether
the default test run (slow tests deselected) catches each.

Each mutant is a file, an exact piece of its text and a replacement: a dropped term, a swapped
argument, a skipped reduction, a resume that restarts, a seed without the batch index ... (the
bug classes of issue 20 among them). For each, the script copies the repository to a scratch
folder once, writes the mutated file there, runs the tests that target it (``pytest -x``, the
default ``-m 'not slow'`` selection) and restores the file. A mutant is

- ``killed``: the tests fail (or run past ``--timeout``: a hang fails CI as well);
- ``SURVIVED``: the tests pass;
- ``stale``: its original text is not in the file exactly once (the code moved: update it);
- ``error``: pytest could not run the tests (exit status other than 0 and 1).

A kill means something only if the tests pass on the unmutated code: ``--baseline`` checks.

Usage (from the repository root)::

    python scripts/mutants.py                 # every mutant
    python scripts/mutants.py --only gan-d-real-fake-swapped pgd-descends
    python scripts/mutants.py --list
    python scripts/mutants.py --baseline      # each mutant's tests pass on the unmutated code

Exit status 0 when every mutant is killed, 1 otherwise. It prints one line per mutant and the
kill rate; the targeted tests make a run take minutes, not the whole suite's time per mutant.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("robust_sabn", "tests", "pyproject.toml")

TB = "tests/test_training_behaviour.py"
LB = "tests/test_loop_behaviour.py"
SEEDS = "tests/test_evaluation_seeding.py"
TWO = "tests/test_two_ranks.py"


@dataclass(frozen=True)
class Mutant:
    """One planted bug: in ``path``, ``original`` (found exactly once) becomes
    ``replacement``; ``tests`` are the pytest arguments that should catch it."""

    name: str
    path: str
    original: str
    replacement: str
    tests: tuple[str, ...]


MUTANTS: tuple[Mutant, ...] = (
    # ---- train/: adversarial training
    Mutant("adv-branch-trains-on-clean-images", "robust_sabn/train/objective.py",
           "return hybrid_adversarial_loss(pair, x, x_adv, y)",
           "return hybrid_adversarial_loss(pair, x, x, y)",
           (f"{TB}::test_the_adversarial_branch_trains_on_the_eps_ball_found_through_itself",)),
    Mutant("training-pgd-through-clean-branch", "robust_sabn/train/objective.py",
           "lambda z: model(z, branch=ADV)", "lambda z: model(z, branch=CLEAN)",
           (f"{TB}::test_the_adversarial_branch_trains_on_the_eps_ball_found_through_itself",)),
    Mutant("branch-pair-swaps-branches", "robust_sabn/train/objective.py",
           "return self.model(x, branch=CLEAN), self.model(x_adv, branch=ADV)",
           "return self.model(x, branch=ADV), self.model(x_adv, branch=CLEAN)",
           (f"{TB}::test_the_adversarial_branch_trains_on_the_eps_ball_found_through_itself",)),
    Mutant("hybrid-loss-drops-clean-term", "robust_sabn/train/objective.py",
           "loss = 0.5 * F.cross_entropy(clean_logits, y) + 0.5 * F.cross_entropy(adv_logits, y)",
           "loss = F.cross_entropy(adv_logits, y)",
           ("tests/test_train.py::"
            "test_hybrid_loss_routes_clean_and_adversarial_samples_to_their_own_branch",)),
    Mutant("attack-mode-ignored", "robust_sabn/train/objective.py",
           'with model_mode(model, config.attack_mode == "train"):',
           "with model_mode(model, True):",
           (f"{TB}::test_the_adversarial_branch_trains_on_the_eps_ball_found_through_itself",)),
    Mutant("adv-only-loss-uses-clean-branch", "robust_sabn/train/objective.py",
           "return None, self.model(x_adv, branch=ADV)",
           "return None, self.model(x_adv, branch=CLEAN)",
           (f"{TB}::test_plain_pgd_training_uses_only_the_adversarial_branch",)),
    Mutant("train-resume-restarts", "robust_sabn/train/loop.py",
           'start_epoch, best_score = ckpt["epoch"] + 1, ckpt["best_score"]',
           'start_epoch, best_score = 0, ckpt["best_score"]',
           (f"{TB}::test_a_resumed_run_takes_only_the_steps_that_were_left",)),
    Mutant("warmup-off-by-one", "robust_sabn/train/objective.py",
           "warm = min(1.0, (step + 1) / warmup)", "warm = min(1.0, step / warmup)",
           ("tests/test_train.py", "-k", "lr_schedule or warms_up")),
    # ---- attacks/
    Mutant("pgd-descends", "robust_sabn/attacks/pgd.py",
           "x_adv.add_(grad.sign_(), alpha=step_size)",
           "x_adv.add_(grad.sign_(), alpha=-step_size)",
           ("tests/test_train.py", "-k", "pgd")),
    Mutant("pgd-skips-linf-projection", "robust_sabn/attacks/pgd.py",
           "x_adv = torch.clamp(x_adv.add_(grad.sign_(), alpha=step_size), low, high)",
           "x_adv = x_adv.add_(grad.sign_(), alpha=step_size).clamp(0.0, 1.0)",
           ("tests/test_train.py", "-k", "pgd")),
    Mutant("pgd-skips-l2-projection", "robust_sabn/attacks/pgd.py",
           "delta = delta * (eps / _l2_norm(delta)).clamp(max=1.0)", "delta = delta",
           ("tests/test_train.py", "-k", "pgd")),
    Mutant("autoattack-seed-ignored", "robust_sabn/attacks/autoattack_adapter.py",
           "model, eps=eps, norm=norm, seed=seed, version=version",
           "model, eps=eps, norm=norm, seed=0, version=version",
           (f"{SEEDS}::test_autoattack_is_seeded_with_seed_plus_batch_index",)),
    # ---- evaluate/
    Mutant("eval-seed-without-batch-index", "robust_sabn/evaluate/sharded.py",
           "y[lo:hi], name, seed + batch,", "y[lo:hi], name, seed,",
           (f"{SEEDS}::test_autoattack_is_seeded_with_seed_plus_batch_index",)),
    Mutant("eval-torch-seed-fixed", "robust_sabn/evaluate/sharded.py",
           "    torch.manual_seed(seed)\n", "    torch.manual_seed(0)\n",
           (f"{SEEDS}::test_pgd_flags_are_torchattacks_seeded_with_seed_plus_batch",)),
    Mutant("sharded-eval-drops-rank-1", "robust_sabn/evaluate/sharded.py",
           'by_batch = {b: bits for part in parts for b, bits in part["flags"][key].items()}',
           'by_batch = {b: bits for part in parts[:1] for b, bits in part["flags"][key].items()}',
           (f"{TWO}::test_sharded_evaluation_gathers_one_process_flags",)),
    Mutant("rank-blocks-overlap", "robust_sabn/evaluate/sharded.py",
           "stop = total * (ctx.rank + 1) // ctx.world_size", "stop = total",
           ("tests/test_distributed.py", "-k", "contiguous_balanced")),
    Mutant("evaluation-in-train-mode", "robust_sabn/evaluate/evaluator.py",
           "with model_mode(model, False), EvaluationProgress(",
           "with model_mode(model, True), EvaluationProgress(",
           ("tests/test_evaluate.py", "-k", "train_mode_and_running_stats")),
    Mutant("every-row-evaluates-the-first-branch", "robust_sabn/evaluate/evaluator.py",
           "view = fixed_branch(model, branch) if has_branches else model",
           "view = fixed_branch(model, branch_list[0]) if has_branches else model",
           ("tests/test_branch_view_evaluation.py",)),
    # ---- nn/
    Mutant("fixed-branch-view-relabelled", "robust_sabn/nn/routing.py",
           "    if pinned:\n        return (pinned.pop(),)\n", "",
           ("tests/test_branch_view_evaluation.py",)),
    Mutant("use-branch-does-not-restore", "robust_sabn/nn/routing.py",
           "layer.routed_branch = old", "layer.routed_branch = None",
           ("tests/test_routing.py",)),
    Mutant("sandwich-affine-drops-branch-scale-of-bias", "robust_sabn/nn/norm.py",
           "return g_k * weight, g_k * bias + b_k", "return g_k * weight, bias + b_k",
           ("tests/test_norm.py",)),
    Mutant("branch-statistics-shared", "robust_sabn/nn/norm.py",
           'return self._batch_stats_norm(x, k if self.stats == "branch" else 0, weight, bias)',
           "return self._batch_stats_norm(x, 0, weight, bias)",
           ("tests/test_norm.py",)),
    Mutant("per-sample-eval-uses-branch-0-statistics", "robust_sabn/nn/norm.py",
           "mean = self.running_mean[k][:, :, None, None]",
           "mean = self.running_mean[0][None, :, None, None]",
           ("tests/test_norm.py", "tests/test_routing.py")),
    Mutant("adain-std-unbiased", "robust_sabn/nn/norm.py",
           "unbiased=False)", "unbiased=True)",
           ("tests/test_style.py", "-k", "adain")),
    # ---- parallel/
    Mutant("sync-norm-backward-all-reduce-removed", "robust_sabn/parallel/sync_norm.py",
           "dist.all_reduce(total, group=ctx.group)", "total = total",
           (f"{TWO}::test_ddp_with_sync_norm_takes_one_process_steps",)),
    Mutant("sync-norm-running-var-biased", "robust_sabn/parallel/sync_norm.py",
           "momentum * var * n / (n - 1).clamp_min(1)", "momentum * var",
           ("tests/test_distributed_train.py", "-k", "sync_norm_in_one_process")),
    Mutant("sync-norm-option-ignored", "robust_sabn/parallel/data_parallel.py",
           "    if sync_norm:\n", "    if False:\n",
           (f"{TWO}::test_ddp_with_sync_norm_takes_one_process_steps",)),
    # ---- gan/
    Mutant("gan-d-real-fake-swapped", "robust_sabn/gan/train.py",
           "loss_d = discriminator_hinge_loss(discriminator(x_real, y_real),\n"
           "                                          discriminator(x_fake, y_fake))",
           "loss_d = discriminator_hinge_loss(discriminator(x_fake, y_fake),\n"
           "                                          discriminator(x_real, y_real))",
           (f"{LB}::test_the_discriminator_learns_to_score_real_above_fake",)),
    Mutant("gan-d-hinge-drops-real-term", "robust_sabn/gan/train.py",
           "return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()",
           "return F.relu(1.0 + fake_scores).mean()",
           ("tests/test_gan_train.py::test_hinge_losses",)),
    Mutant("gan-g-loss-sign", "robust_sabn/gan/train.py",
           "return -fake_scores.mean()", "return fake_scores.mean()",
           (f"{LB}::test_the_generator_step_raises_the_discriminators_score_of_its_samples",)),
    Mutant("gan-resume-restarts", "robust_sabn/gan/train.py",
           'start, history, elapsed = state["iteration"], list(state["history"]),',
           'start, history, elapsed = 0, list(state["history"]),',
           (f"{LB}::test_a_resumed_gan_run_takes_only_the_iterations_that_were_left",)),
    Mutant("gan-ema-weight-swapped", "robust_sabn/gan/train.py",
           "p_ema.lerp_(p, 1.0 - decay)", "p_ema.lerp_(p, decay)",
           ("tests/test_gan_models.py", "-k", "ema")),
    # ---- nas/
    Mutant("nas-weight-step-on-arch-batch", "robust_sabn/nas/search.py",
           "weight_loss, weight_correct = _optimizer_step(forward, weight_batch, w_opt,",
           "weight_loss, weight_correct = _optimizer_step(forward, arch_batch, w_opt,",
           (f"{LB}::test_the_weight_step_uses_the_first_batch_and_the_alpha_step_the_second",)),
    Mutant("nas-alpha-in-weight-optimizer", "robust_sabn/nas/search.py",
           "w_opt = torch.optim.SGD(net.weight_parameters(), lr=config.lr,",
           "w_opt = torch.optim.SGD(net.parameters(), lr=config.lr,",
           (f"{LB}::test_the_weight_step_uses_the_first_batch_and_the_alpha_step_the_second",)),
    Mutant("gdas-tau-never-anneals", "robust_sabn/nas/search.py",
           "return config.tau_max - (config.tau_max - config.tau_min) * epoch / span",
           "return config.tau_max",
           ("tests/test_nas_search.py::test_schedules_and_entropy",)),
    # ---- style/
    Mutant("style-loss-drops-std-term", "robust_sabn/style/network.py",
           "total = total + F.mse_loss(out_mean, ref_mean) + F.mse_loss(out_std, ref_std)",
           "total = total + F.mse_loss(out_mean, ref_mean)",
           (f"{LB}::test_the_style_loss_sees_the_channel_spread_as_well_as_the_mean",)),
    Mutant("style-trainer-ignores-style-loss", "robust_sabn/style/trainer.py",
           "(config.content_weight * losses[0] + config.style_weight * losses[1]).backward()",
           "(config.content_weight * losses[0]).backward()",
           (f"{LB}::test_the_style_step_follows_both_weighted_losses",)),
)


def _copy_repository(target: Path) -> None:
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, target / name)


def _pytest(tests: tuple[str, ...], scratch: Path, timeout_s: float) -> int | None:
    """pytest's exit status on ``tests`` in ``scratch`` (None: it ran past ``timeout_s``)."""
    env = {**os.environ, "PYTHONPATH": str(scratch), "OMP_NUM_THREADS": "1"}
    try:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
            cwd=scratch, env=env, capture_output=True, text=True, timeout=timeout_s).returncode
    except subprocess.TimeoutExpired:
        return None


def run_mutant(mutant: Mutant, scratch: Path, timeout_s: float, *, plant: bool = True
               ) -> tuple[str, float]:
    """Plant ``mutant`` in ``scratch`` (unless ``plant`` is False: the baseline), run its
    tests, restore; returns (outcome, seconds)."""
    path = scratch / mutant.path
    text = path.read_text()
    if text.count(mutant.original) != 1:
        return "stale", 0.0
    if plant:
        path.write_text(text.replace(mutant.original, mutant.replacement))
    start = time.perf_counter()
    try:
        status = _pytest(mutant.tests, scratch, timeout_s)
    finally:
        path.write_text(text)
    if not plant:
        outcome = "baseline ok" if status == 0 else f"BASELINE FAILS (pytest exit {status})"
    elif status is None:
        outcome = "killed (timeout)"
    else:
        outcome = {0: "SURVIVED", 1: "killed"}.get(status, f"error (pytest exit {status})")
    return outcome, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these mutants only")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--baseline", action="store_true",
                        help="run each mutant's tests without planting it (they must pass)")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds per mutant's tests (default 900)")
    args = parser.parse_args()
    names = {m.name for m in MUTANTS}
    unknown = sorted(set(args.only or ()) - names)
    if unknown:
        parser.error(f"unknown mutant(s) {unknown}; see --list")
    chosen = [m for m in MUTANTS if not args.only or m.name in args.only]
    if args.list:
        for m in chosen:
            print(f"{m.name}: {m.path} -> {' '.join(m.tests)}")
        return 0
    outcomes: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="robust-sabn-mutants-") as folder:
        scratch = Path(folder)
        _copy_repository(scratch)
        for mutant in chosen:
            outcome, seconds = run_mutant(mutant, scratch, args.timeout,
                                          plant=not args.baseline)
            outcomes[mutant.name] = outcome
            print(f"{outcome:<18} {mutant.name:<45} {mutant.path} ({seconds:.0f} s)", flush=True)
    if args.baseline:
        failing = [name for name, o in outcomes.items() if o != "baseline ok"]
        print(f"baseline: {len(outcomes) - len(failing)} of {len(outcomes)} test sets pass")
        return 1 if failing else 0
    killed = sum(o.startswith("killed") for o in outcomes.values())
    print(f"killed {killed} of {len(outcomes)} mutants ({100 * killed / len(outcomes):.0f} %)")
    for name, outcome in outcomes.items():
        if not outcome.startswith("killed"):
            print(f"  {outcome}: {name}")
    return 0 if killed == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
