"""Hinge-loss cGAN training with n_critic, uniform fake labels, generator EMA and exact resume.

Run folder (:mod:`robust_sabn.runs.folder`): ``config.json``, ``metrics.jsonl`` (one row per
logged iteration), ``last.pt`` (the full training state every ``checkpoint_every`` iterations),
``generator.pt`` (the EMA generator, what is evaluated and exported) and ``train_record.json``
when training ends (:mod:`robust_sabn.gan.records`; ``"diverged"`` when a loss, a weight or a
buffer went non-finite or a loss exploded).

All randomness of G-iteration ``i`` comes from generators seeded with ``(seed, i)``, and the
real-data order of each pass from ``(seed, pass)``, so a run resumed from ``last.pt`` reaches
the same weights as an uninterrupted one (on CPU).

Under torchrun (or ``robust-sabn gan train --nproc N``) ``d_batch`` and ``g_batch`` are the
global batches: every rank draws them (real images, latents, fake labels) from the seed exactly
as one process does and takes its contiguous slice of ``batch / world_size``; the generator and
the discriminator are each wrapped in ``DistributedDataParallel`` (gradients averaged over
ranks; the hinge losses are means, so over equal slices that is the global batch's gradient).
The generator's no-grad forward of the D steps prepares no backward, and the discriminator's
forward in the G step runs under ``no_sync`` (its gradients there are discarded). With
``sync_norm`` the generator's batch statistics are those of the global batch, and a run equals
one process's up to float rounding. After every iteration each rank takes rank 0's buffers of
both networks (norm running statistics, which differ per slice without ``sync_norm``, and the
spectral-norm power-iteration vectors), so the EMA, updated on every rank, is rank 0's. The
divergence check and the logged losses are the global means on every rank; rank 0 alone probes,
writes the folder and shows progress while the others wait at a barrier.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from robust_sabn.artifacts.result import ResultRecord
from robust_sabn.data import load_split
from robust_sabn.data.splits import ImageTensors
from robust_sabn.errors import UserInputError
from robust_sabn.gan.config import GANConfig
from robust_sabn.gan.models import GANSpec
from robust_sabn.gan.progress import GANProgress
from robust_sabn.gan.records import diverged_record, training_record
from robust_sabn.nn.gradient_balance import GradientBalanceMeter
from robust_sabn.parallel.data_parallel import DataParallelStep
from robust_sabn.runs.distributed import DistributedRun
from robust_sabn.runs.divergence import DivergenceGuard, TrainingDiverged, diverged_fields
from robust_sabn.runs.folder import RunFolder, open_run_folder

Probe = Callable[[nn.Module], dict[str, float]]
"""Called with the EMA generator (eval mode) every ``eval_every`` iterations; returns metrics."""


def spec_for(config: GANConfig) -> GANSpec:
    """The generator/discriminator pair a config trains (shape from the dataset)."""
    from robust_sabn.data import get_dataset_info

    info = get_dataset_info(config.dataset, data_dir=config.data_dir)
    if info.image_size[0] != info.image_size[1]:
        raise UserInputError(f"{config.dataset} images are not square; GANs here need square")
    spec = GANSpec(generator=config.generator, norm=config.norm, num_classes=info.num_classes,
                   channels=info.in_channels, image_size=info.image_size[0],
                   g_width=config.g_width, d_width=config.d_width, latent_dim=config.latent_dim,
                   aux_classifier=config.aux_weight > 0)
    spec.check()
    return spec


def iteration_generator(seed: int, index: int) -> torch.Generator:
    """The CPU generator of one G-iteration (latents, fake labels) or one data pass."""
    return torch.Generator().manual_seed(seed * 1_000_003 + index)


def to_signed(images_uint8: Tensor) -> Tensor:
    """uint8 images (N, C, H, W) -> float in [-1, 1]."""
    return images_uint8.float().div_(127.5).sub_(1.0)


class RealBatches:
    """Real batches by global discriminator step: pass ``p`` is a permutation seeded by
    ``(seed, p)``; a partial last batch of each pass is dropped."""

    def __init__(self, data: ImageTensors, batch: int, seed: int, device: str) -> None:
        if len(data) < batch:
            raise UserInputError(f"d_batch {batch} exceeds the {len(data)} training images")
        self.data, self.batch, self.seed, self.device = data, batch, seed, device
        self.per_pass = len(data) // batch
        self._pass, self._order = -1, torch.empty(0, dtype=torch.long)

    def __call__(self, step: int) -> tuple[Tensor, Tensor]:
        """(images in [-1, 1] (B, C, H, W), labels (B,)) of discriminator step ``step``."""
        data_pass, k = divmod(step, self.per_pass)
        if data_pass != self._pass:
            rng = iteration_generator(self.seed, 10**9 + data_pass)
            self._order = torch.randperm(len(self.data), generator=rng)
            self._pass = data_pass
        index = self._order[k * self.batch:(k + 1) * self.batch]
        x = to_signed(self.data.images.index_select(0, index)).to(self.device)
        return x, self.data.labels.index_select(0, index).to(self.device)


def sample_latents(n: int, latent_dim: int, num_classes: int, generator: torch.Generator,
                   device: str) -> tuple[Tensor, Tensor]:
    """z ~ N(0, I) (n, latent_dim) and uniform labels (n,), drawn from ``generator``."""
    z = torch.randn(n, latent_dim, generator=generator)
    y = torch.randint(0, num_classes, (n,), generator=generator)
    return z.to(device), y.to(device)


def discriminator_hinge_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """``mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))))``."""
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def generator_hinge_loss(fake_scores: Tensor) -> Tensor:
    """``-mean(D(G(z)))``."""
    return -fake_scores.mean()


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """``ema = decay * ema + (1 - decay) * model`` for parameters; buffers copied (BN statistics,
    spectral-norm vectors are not averaged)."""
    for p_ema, p in zip(ema.parameters(), model.parameters(), strict=True):
        p_ema.lerp_(p, 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers(), strict=True):
        b_ema.copy_(b)


def _local_gradients(module: nn.Module) -> AbstractContextManager[object]:
    """A DDP module's ``no_sync`` (its gradients stay on this rank), else nothing."""
    return module.no_sync() if isinstance(module, DistributedDataParallel) else nullcontext()


def _checked_backward(loss: Tensor, optimizer: torch.optim.Optimizer,
                      parallel: DataParallelStep, guard: DivergenceGuard | None,
                      iteration: int) -> Tensor:
    """Backward of this rank's ``loss`` into freshly zeroed gradients of ``optimizer``'s
    parameters, after ``guard`` checked the global loss (the mean over ranks, returned);
    the caller steps."""
    loss_global = parallel.mean_over_ranks(loss)
    if guard is not None:
        guard.check(loss_global, step=iteration)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    return loss_global


def _scores(discriminator: nn.Module, x: Tensor, y: Tensor, aux_weight: float
            ) -> tuple[Tensor, Tensor | None]:
    """D's scores (N,) and, when ``aux_weight`` > 0, its auxiliary classifier's logits."""
    if aux_weight > 0:
        return discriminator.scores_and_logits(x, y)
    return discriminator(x, y), None


def gan_iteration(generator: nn.Module, discriminator: nn.Module, opt_g: torch.optim.Optimizer,
                  opt_d: torch.optim.Optimizer, real_batch: Callable[[int], tuple[Tensor, Tensor]],
                  config: GANConfig, num_classes: int, iteration: int,
                  guard: DivergenceGuard | None = None,
                  parallel: DataParallelStep | None = None) -> tuple[float, float]:
    """One G-iteration: ``n_critic`` hinge D steps, then one G step; returns (loss_d, loss_g),
    the global batch's losses.

    ``guard`` checks each loss (the mean over ranks) before its optimizer step
    (:class:`TrainingDiverged` on a non-finite or exploded one, nothing stepped). ``parallel``
    (under torchrun): every global batch and latent draw is sliced to this rank's share, and
    ``generator`` and ``discriminator`` are the DDP-wrapped networks (module docstring)."""
    if parallel is None:
        parallel = DataParallelStep(module=discriminator, ctx=None,
                                    device_type=torch.device(config.device).type)
    rng = iteration_generator(config.seed, iteration)
    loss_d_global = torch.zeros(())
    for k in range(config.n_critic):
        x_real, y_real = map(parallel.shard, real_batch(iteration * config.n_critic + k))
        z, y_fake = map(parallel.shard, sample_latents(config.d_batch, config.latent_dim,
                                                       num_classes, rng, config.device))
        with torch.no_grad():
            x_fake = generator(z, y_fake)
        real_scores, real_logits = _scores(discriminator, x_real, y_real, config.aux_weight)
        loss_d = discriminator_hinge_loss(real_scores, discriminator(x_fake, y_fake))
        if real_logits is not None:
            loss_d = loss_d + config.aux_weight * F.cross_entropy(real_logits, y_real)
        loss_d_global = _checked_backward(loss_d, opt_d, parallel, guard, iteration)
        opt_d.step()
    z, y_fake = map(parallel.shard, sample_latents(config.g_batch, config.latent_dim,
                                                   num_classes, rng, config.device))
    with _local_gradients(discriminator):
        fake_scores, fake_logits = _scores(discriminator, generator(z, y_fake), y_fake,
                                           config.aux_weight)
        loss_g = generator_hinge_loss(fake_scores)
        if fake_logits is not None:
            loss_g = loss_g + config.aux_weight * F.cross_entropy(fake_logits, y_fake)
        loss_g_global = _checked_backward(loss_g, opt_g, parallel, guard, iteration)
    opt_g.step()
    return float(loss_d_global), float(loss_g_global)


def train_gan(config: GANConfig, out_dir: str | Path, *, resume: bool = False,
              quiet: bool = False, probe: Probe | None = None, sync_norm: bool = False,
              run_id: str | None = None) -> ResultRecord:
    """Train a cGAN as ``config`` says, writing the run folder; returns the training record
    (:mod:`robust_sabn.gan.records`; on every rank under torchrun, its probe rows rank 0's).

    Args:
        config: the run's options.
        out_dir: the run folder.
        resume: continue from ``out_dir/last.pt`` when it exists.
        quiet: no progress display.
        probe: FID probe on the EMA generator every ``config.eval_every`` iterations and at
            the end (its numbers go into ``metrics.jsonl``); rank 0 alone probes.
        sync_norm: under torchrun, normalise the generator with the global batch's statistics
            (see the module docstring); nothing in one process.
        run_id: the run's name in its record (a suite's run folder name).

    Raises:
        UserInputError: bad options (a global batch that does not split over the ranks), missing
            data, or a run folder that would be overwritten.
        TrainingDiverged: a non-finite or exploded loss, or non-finite weights or buffers; the
            record says ``"diverged"`` and ``last.pt`` (if any) is the last finite state.
    """
    dist = DistributedRun.join(config.device)
    config = replace(config, device=dist.device)
    dist.check_global_batch(d_batch=config.d_batch, g_batch=config.g_batch)
    runtime = {"world_size": dist.world_size, "sync_norm": sync_norm}
    with open_run_folder(out_dir, dist) as run:
        try:
            history, elapsed, spec, train_examples = _train_gan_locked(
                config, run, resume=resume, quiet=quiet or not dist.is_main, probe=probe,
                sync_norm=sync_norm)
        except TrainingDiverged as error:
            run.write_record(diverged_record(config, diverged_fields(error), run_id=run_id,
                                             runtime=runtime))
            raise
        return run.write_record(training_record(
            config, history, model=spec.to_dict(), run_id=run_id, runtime=runtime,
            train_examples=train_examples, wall_time_s=elapsed))


def _train_gan_locked(config: GANConfig, run: RunFolder, *, resume: bool, quiet: bool,
                      probe: Probe | None, sync_norm: bool
                      ) -> tuple[list[dict[str, Any]], float, GANSpec, int]:
    """:func:`train_gan` while its folder is locked; returns (logged rows, seconds, the
    networks' spec, training images)."""
    config.check()
    spec = spec_for(config)
    state = run.resume_state(config.to_dict(), resume=resume, what="GAN",
                             map_location=config.device)
    data = load_split(config.dataset, "train", data_dir=config.data_dir, seed=config.seed,
                      val_size=0, max_examples=config.max_train_examples)
    torch.manual_seed(config.seed)
    generator = spec.build_generator().to(config.device)
    discriminator = spec.build_discriminator().to(config.device)
    ema = spec.build_generator().to(config.device)
    ema.load_state_dict(generator.state_dict())
    ema.eval().requires_grad_(False)
    betas = (config.beta1, config.beta2)
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_g, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr_d, betas=betas)
    start, history, elapsed = 0, [], 0.0
    if state is not None:
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        ema.load_state_dict(state["state_dict"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        start, history, elapsed = state["iteration"], list(state["history"]), state["elapsed_s"]
    critic = run.dist.data_parallel(discriminator)
    trained_generator = run.dist.data_parallel(generator, sync_norm=sync_norm).module
    run.write_config({"config": config.to_dict(), "model": spec.to_dict()})
    real_batch = RealBatches(data, config.d_batch, config.seed, config.device)
    base = {"model": spec.to_dict(), "dataset": config.dataset, "config": config.to_dict()}
    guard = DivergenceGuard(lr=max(config.lr_g, config.lr_d), checkpoint=run.checkpoint,
                            lr_option="lr_g/lr_d (GANConfig)", dist=run.dist)
    generator.train()
    discriminator.train()
    with GANProgress(config.iterations, start, quiet) as display:
        t0 = time.perf_counter()
        for it in range(start, config.iterations):
            loss_d, loss_g = gan_iteration(trained_generator, critic.module, opt_g, opt_d,
                                           real_batch, config, spec.num_classes, it, guard,
                                           critic)
            balance = GradientBalanceMeter()
            balance.update(generator)
            run.dist.take_rank0_buffers(generator, discriminator)
            update_ema(ema, generator, config.ema_decay if it >= config.ema_start else 0.0)
            done = it + 1
            row: dict[str, Any] = {"iteration": done, "loss_d": loss_d, "loss_g": loss_g}
            if (grad_balance := balance.summary()) is not None:
                row["grad_imbalance"], row["grad_cosine"] = (grad_balance["imbalance"],
                                                             grad_balance["cosine"])
            probing = probe is not None and config.eval_every > 0 and (
                done % config.eval_every == 0 or done == config.iterations)
            if probe is not None and probing and run.writes:
                row.update(probe(ema))
            elapsed += time.perf_counter() - t0
            t0 = time.perf_counter()
            row["elapsed_s"] = elapsed
            history.append(row)
            display.iteration_done(row)
            saving = done % config.checkpoint_every == 0 or done == config.iterations
            if saving:
                guard.check_modules(generator, discriminator, ema, step=it)
                run.save_checkpoint({
                    **base, "state_dict": ema.state_dict(), "generator": generator.state_dict(),
                    "discriminator": discriminator.state_dict(), "opt_g": opt_g.state_dict(),
                    "opt_d": opt_d.state_dict(), "iteration": done, "history": history,
                    "elapsed_s": elapsed})
                run.write_metrics(history)
            if probing or saving:
                run.dist.barrier()
    run.save_checkpoint({**base, "state_dict": ema.state_dict(),
                         "iteration": config.iterations}, "generator.pt")
    return history, elapsed, spec, len(data)


