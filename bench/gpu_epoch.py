"""Benchmark: one PGD-7 SaAuxBN epoch of ``robust-sabn train`` against the authors' style of loop.

The issue-11 GPU benchmark (goal: ours at least 2x faster at the same math), sized by options so
that it also runs on a CPU at a toy size. Both sides train the registry's model
(``preact_resnet18``, SaAuxBN, two branches) on the same synthetic CIFAR-shaped images (uint8
3x32x32, 10 classes, seeded), batch 128, the same number of steps: L-inf PGD-k (eps 8/255,
step 2/255, random start) through the adversarial branch in train mode, then the hybrid loss
``0.5*CE(clean branch) + 0.5*CE(adv branch)``, SGD (momentum 0.9, weight decay 5e-4), then
validation (clean and PGD-k accuracy of both branches, eval mode).

* Ours is the real ``robust_sabn.train.train`` (dataset ``npz`` read from a temp folder,
  one epoch), timed as the whole call (reading and checking the data, building the model,
  checkpoints and records) and as the epoch and training part it logs (``time_s``,
  ``train_time_s``). Its knobs (``--amp`` bf16 autocast, ``--tf32``, ``--fused-branches``) are
  extra rows, and all of them together when more than one is given.
* The peer is written like the authors' ``Adv/`` code: a torchvision pipeline on CPU
  (PIL image, ``RandomHorizontalFlip``, ``RandomCrop(32, 4)``, ``ToTensor``) in a ``DataLoader``
  with ``--workers`` worker processes (0, the default, loads in the main process as the authors'
  training loader does), ``.cuda()`` per batch, PGD with ``torch.autograd.grad`` on the input,
  per-batch ``loss.item()`` and accuracy meters, warm-up lr ``0.01 -> 0.1`` over 200 steps,
  validation in ``validate``/``validate_adv`` passes per branch (batch ``--batch-size``);
  fp32 with TF32 off (our default; recent PyTorch would allow TF32 convolutions in their code),
  contiguous tensors, ``cudnn.benchmark`` on as they set it (not ``cudnn.deterministic``, which
  they set too and which can only slow the peer). It does one thing ours does not: the flip
  (the npz dataset augments with the crop alone); a flip is one index per image.

Medians of interleaved repeats after a warm-up round on two batches; on CUDA every timing is
bracketed by ``torch.cuda.synchronize``. ``x faster`` is the peer's median seconds over the
variant's: above 1 ours is faster. ``--amp`` and ``--tf32`` change the numbers, so only the fp32
row is the same math as the peer.

GPU (one H200, an estimated 3-5 minutes; see ``scripts/gpu_checks.sh`` for the one device call)::

    python3 bench/gpu_epoch.py --device cuda --examples 10240 --val 512 --repeats 3 \\
        --amp --tf32 --fused-branches --json "$OUT/gpu_epoch.json"

CPU smoke run (about 4 minutes on one core)::

    OMP_NUM_THREADS=1 .venv/bin/python bench/gpu_epoch.py --device cpu --examples 512 \\
        --val 128 --width 16 --attack-steps 3 --repeats 3 --amp --fused-branches
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from robust_sabn.artifacts.result import hardware
from robust_sabn.data import ImageTensors, load_split
from robust_sabn.parallel.devices import apply_tf32, resolve_device
from robust_sabn.train import TrainConfig, model_spec_for, train

EPS, STEP = 8 / 255, 2 / 255
NUM_CLASSES, IMAGE_SHAPE = 10, (32, 32, 3)
PEER = "hand-written (authors' style)"
OURS = "robust-sabn"
KNOBS = {"amp": "--amp (bf16)", "tf32": "--tf32", "fused_branches": "--fused-branches"}
MEASURES = ("whole", "epoch", "train")
Times = dict[str, float]
Series = dict[str, dict[str, list[float]]]  # row -> measure -> seconds of each round


def write_synthetic_cifar(folder: Path, train_images: int, seed: int) -> Path:
    """An npz of random uint8 (N, 32, 32, 3) training images with labels 0..9 (10 classes
    declared), plus 10 test images; returns its path."""
    rng = np.random.default_rng(seed)
    path = folder / "synthetic-cifar.npz"
    np.savez(path, x_train=rng.integers(0, 256, (train_images, *IMAGE_SHAPE), dtype=np.uint8),
             y_train=rng.integers(0, NUM_CLASSES, train_images),
             x_test=rng.integers(0, 256, (10, *IMAGE_SHAPE), dtype=np.uint8),
             y_test=np.arange(10) % NUM_CLASSES, num_classes=np.array(NUM_CLASSES))
    return path


def synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


class PilImages(Dataset[tuple[Tensor, int]]):
    """Images served one at a time as PIL images through a torchvision transform, as
    torchvision's ``CIFAR10`` dataset serves them; items are ((C, H, W) float, label)."""

    def __init__(self, data: ImageTensors, transform: Callable[[Image.Image], Tensor]) -> None:
        self.pixels = data.images.permute(0, 2, 3, 1).contiguous().numpy()  # (N, H, W, C)
        self.labels = data.labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        return self.transform(Image.fromarray(self.pixels[index])), self.labels[index]


def authors_pgd(model: nn.Module, criterion: nn.Module, x: Tensor, y: Tensor, steps: int,
                branch: str) -> Tensor:
    """The authors' L-inf PGD on images x (N, C, H, W) in [0, 1]: an unclamped uniform start
    in the eps-ball, ``steps`` sign-gradient steps of STEP, each projected to the ball and
    clamped to [0, 1]; the model's mode is the caller's."""
    x_adv = (x + torch.empty_like(x).uniform_(-EPS, EPS)).requires_grad_(True)
    for _ in range(steps):
        (grad,) = torch.autograd.grad(criterion(model(x_adv, branch=branch), y), x_adv)
        moved = x_adv.detach() + STEP * grad.sign()
        x_adv = torch.clamp(torch.min(torch.max(moved, x - EPS), x + EPS), 0, 1)
        x_adv.requires_grad_(True)
    return x_adv.detach()


def record_batch(meters: list[float], criterion: nn.Module, out: Tensor, y: Tensor) -> None:
    """Add a batch's summed loss and correct count to ``meters`` with ``.item()``, as the
    authors' ``AverageMeter`` updates do after every batch."""
    meters[0] += criterion(out, y).item() * len(y)
    meters[1] += (out.argmax(1) == y).float().sum().item()


def authors_validation(model: nn.Module, criterion: nn.Module, loader: DataLoader,
                       device: str, steps: int) -> dict[str, tuple[float, float]]:
    """``validate`` (clean) then ``validate_adv`` (PGD-``steps``) on each branch, eval mode;
    returns {branch: (clean accuracy, PGD accuracy)} as fractions."""
    model.eval()
    accuracy = {}
    for branch in ("clean", "adv"):
        clean_meters, adv_meters = [0.0, 0.0], [0.0, 0.0]
        with torch.no_grad():
            for images, labels in loader:
                x, y = images.to(device), labels.to(device)
                record_batch(clean_meters, criterion, model(x, branch=branch), y)
        for images, labels in loader:
            x, y = images.to(device), labels.to(device)
            x_adv = authors_pgd(model, criterion, x, y, steps, branch)
            with torch.no_grad():
                record_batch(adv_meters, criterion, model(x_adv, branch=branch), y)
        count = len(loader.dataset)
        accuracy[branch] = (clean_meters[1] / count, adv_meters[1] / count)
    return accuracy


def handwritten_epoch(config: TrainConfig, train_data: ImageTensors, val_data: ImageTensors,
                      workers: int) -> tuple[Times, int]:
    """One training epoch and its validation in the authors' style; returns ({"whole": model
    build to the end, "epoch": training + validation, "train": training} seconds, steps)."""
    device, batch = config.device, config.batch_size
    synchronize(device)
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    model = model_spec_for(config).build().to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    height, width = train_data.images.shape[2:]
    augment = transforms.Compose([transforms.RandomHorizontalFlip(),
                                  transforms.RandomCrop((height, width), padding=4),
                                  transforms.ToTensor()])
    train_loader = DataLoader(PilImages(train_data, augment), batch_size=batch, shuffle=True,
                              drop_last=True, num_workers=workers)
    val_loader = DataLoader(PilImages(val_data, transforms.ToTensor()), batch_size=batch,
                            num_workers=workers)
    synchronize(device)
    epoch_start = time.perf_counter()
    model.train()
    meters = [0.0, 0.0]  # the authors' per-batch loss/accuracy meters: a host sync per step
    steps = 0
    for i, (images, labels) in enumerate(train_loader):
        for group in optimizer.param_groups:
            group["lr"] = min(0.01 + i * (config.lr - 0.01) / 200, config.lr)
        x, y = images.to(device), labels.to(device)
        x_adv = authors_pgd(model, criterion, x, y, config.attack_steps, "adv")
        clean_out, adv_out = model(x, branch="clean"), model(x_adv, branch="adv")
        loss = (criterion(clean_out, y) + criterion(adv_out, y)) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        meters[0] += loss.item() * len(y)
        meters[1] += (adv_out.argmax(1) == y).float().sum().item()
        steps += 1
    synchronize(device)
    train_end = time.perf_counter()
    authors_validation(model, criterion, val_loader, device, config.attack_steps)
    synchronize(device)
    end = time.perf_counter()
    return {"whole": end - start, "epoch": end - epoch_start,
            "train": train_end - epoch_start}, steps


def peer_run(config: TrainConfig, train_data: ImageTensors, val_data: ImageTensors,
             workers: int) -> tuple[Times, int]:
    """:func:`handwritten_epoch` in fp32 (TF32 off) with ``cudnn.benchmark`` on, as the
    authors' ``train.py`` sets it; restores the flag afterwards."""
    apply_tf32(False)
    benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        return handwritten_epoch(config, train_data, val_data, workers)
    finally:
        torch.backends.cudnn.benchmark = benchmark


def our_run(config: TrainConfig) -> tuple[Times, int]:
    """``robust_sabn.train.train`` for one epoch into a temp folder; returns ({"whole": the
    call, "epoch": its logged epoch, "train": its logged training part} seconds, steps)."""
    with tempfile.TemporaryDirectory() as folder:
        synchronize(config.device)
        start = time.perf_counter()
        record = train(config, Path(folder) / "run", quiet=True)
        synchronize(config.device)
        whole = time.perf_counter() - start
    final = record.extras["final"]  # the ResultRecord's last logged epoch
    steps = record.extras["train_examples"] // config.batch_size
    return {"whole": whole, "epoch": final["time_s"], "train": final["train_time_s"]}, steps


def variants(config: TrainConfig, knobs: list[str]) -> dict[str, TrainConfig]:
    """Our rows: fp32, each knob on its own, and every knob at once when there are several."""
    rows = {f"{OURS} (fp32)": config}
    for knob in knobs:
        rows[f"{OURS} {KNOBS[knob]}"] = replace(config, **{knob: True})
    if len(knobs) > 1:
        rows[f"{OURS} (all knobs)"] = replace(config, **dict.fromkeys(knobs, True))
    return rows


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10240, help="training images")
    parser.add_argument("--val", type=int, default=512, help="validation images")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--attack-steps", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto", help="auto, cuda, cuda:N or cpu")
    parser.add_argument("--model", default="preact_resnet18")
    parser.add_argument("--width", type=int, default=None,
                        help="first-stage channels (the model's default when left out)")
    parser.add_argument("--workers", type=int, default=0,
                        help="the peer's DataLoader workers (0: main process, as the authors)")
    parser.add_argument("--seed", type=int, default=0)
    for knob, flag in KNOBS.items():
        parser.add_argument(f"--{knob.replace('_', '-')}", action="store_true",
                            help=f"add a row of ours with {flag.split()[0]}")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    if args.examples < args.batch_size or args.val < 1 or args.repeats < 1:
        parser.error("need --examples >= --batch-size, --val >= 1 and --repeats >= 1")
    return args


def median_table(times: Series, images: int) -> list[str]:
    """The printed rows: median seconds, training images/s and the peer/variant ratios."""
    medians = {name: {m: statistics.median(t[m]) for m in MEASURES} for name, t in times.items()}
    lines = [f"{'variant':<34}{'whole s':>9}{'epoch s':>9}{'train s':>9}{'train img/s':>13}"
             f"{'x faster whole':>16}{'epoch':>8}{'train':>8}"]
    for name, med in medians.items():
        ratios = "".join(f"{medians[PEER][m] / med[m]:>{w}.3f}"
                         for m, w in zip(MEASURES, (16, 8, 8), strict=True))
        lines.append(f"{name:<34}{med['whole']:>9.2f}{med['epoch']:>9.2f}{med['train']:>9.2f}"
                     f"{images / med['train']:>13.1f}{ratios}")
    return lines


def measure(args: argparse.Namespace, npz: Path, device: str
            ) -> tuple[Series, dict[str, int]]:
    """A warm-up round on two batches, then ``args.repeats`` interleaved rounds of the peer and
    every variant of ours; returns ({row: {measure: seconds per round}}, {row: steps})."""
    config = TrainConfig(
        dataset="npz", data_dir=str(npz), model=args.model, norm="saauxbn", width=args.width,
        epochs=1, batch_size=args.batch_size, lr=0.1, momentum=0.9, weight_decay=5e-4,
        loss="hybrid", attack_norm="Linf", eps=EPS, step_size=STEP,
        attack_steps=args.attack_steps, attack_mode="train", val_size=args.val,
        val_examples=args.val, seed=args.seed, device=device).resolved()
    train_data = load_split("npz", "train", data_dir=npz, seed=args.seed, val_size=args.val)
    val_data = load_split("npz", "val", data_dir=npz, seed=args.seed, val_size=args.val)
    ours = variants(config, [knob for knob in KNOBS if getattr(args, knob)])
    warm = min(args.examples, 2 * args.batch_size)
    warm_data = ImageTensors(train_data.images[:warm], train_data.labels[:warm], "npz")
    peer_run(config, warm_data, val_data, args.workers)
    for variant in ours.values():
        our_run(replace(variant, max_train_examples=warm))
    runs: dict[str, Callable[[], tuple[Times, int]]] = {
        PEER: lambda: peer_run(config, train_data, val_data, args.workers)}
    runs.update({name: lambda v=variant: our_run(v) for name, variant in ours.items()})
    times: Series = {name: {m: [] for m in MEASURES} for name in runs}
    steps: dict[str, int] = {}
    for round_index in range(args.repeats):
        for name, run in runs.items():
            measured, steps[name] = run()
            for m in MEASURES:
                times[name][m].append(measured[m])
            seconds = ", ".join(f"{m} {measured[m]:.2f} s" for m in MEASURES)
            print(f"round {round_index + 1}/{args.repeats} {name}: {seconds}", file=sys.stderr,
                  flush=True)
    return times, steps


def device_name(device: str) -> str:
    """The GPU's name, or the CPU's as the platform reports it."""
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(device)
    return str(hardware()["cpu"])


def report(args: argparse.Namespace, device: str, times: Series, steps: dict[str, int]
           ) -> list[str]:
    """The printed lines: versions and device, the setting, the table and the headline."""
    headline = (statistics.median(times[PEER]["whole"])
                / statistics.median(times[f"{OURS} (fp32)"]["whole"]))
    return [
        f"torch {torch.__version__}, device {device} ({device_name(device)}), "
        f"{torch.get_num_threads()} CPU threads",
        f"one epoch of {args.examples} synthetic CIFAR-shaped images (uint8 3x32x32, 10 "
        f"classes), {steps[PEER]} steps of batch {args.batch_size}, PGD-{args.attack_steps} "
        f"eps 8/255 step 2/255 (train mode, adv branch), hybrid loss, validation on {args.val} "
        f"(clean + PGD, both branches); {args.model} width {args.width or 'default'}, "
        f"saauxbn; median of {args.repeats} interleaved repeats after a warm-up",
        f"peer: torchvision PIL flip + crop in a DataLoader on CPU ({args.workers} workers), "
        "fp32, TF32 off, contiguous, cudnn.benchmark on",
        *median_table(times, steps[PEER] * args.batch_size),
        "x faster = peer seconds / variant seconds; whole = the call (ours: data, model, "
        "checkpoints; peer: model and loaders), epoch = training + validation",
        f"peer/ours (whole call, fp32, same math): {headline:.3f}",
        "note: --amp (bf16) and --tf32 change the numbers, so only the fp32 rows are the same "
        "math; --tf32 does nothing on a CPU",
    ]


def main() -> None:
    args = parse_args()
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as folder:
        npz = write_synthetic_cifar(Path(folder), args.examples + args.val, args.seed)
        times, steps = measure(args, npz, device)
    lines = report(args, device, times, steps)
    print("\n".join(lines))
    if args.json is not None:
        result: dict[str, Any] = {
            "torch": torch.__version__, "device": device, "device_name": device_name(device),
            "hardware": hardware(),
            "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "steps": steps, "times_s": times, "table": lines,
        }
        args.json.write_text(json.dumps(result, indent=2, allow_nan=False))


if __name__ == "__main__":
    main()
