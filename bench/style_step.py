"""Benchmark: our style-transfer training iteration against a minimal hand-written AdaIN loop.

Both sides train the same networks from the same weights on the same batch: the frozen
random-feature VGG-19 encoder to relu4_1, AdaIN or SaAdaIN at relu4_1, the mirrored decoder,
content loss + 10 x style loss (channel means and stds at relu1_1..relu4_1), backward, an Adam
step with the inverse-decay lr. Ours is ``robust_sabn.style.trainer.training_step`` on a
``StyleTransferNet``. The peer is the reference pytorch-AdaIN training code written out by
hand: ``nn.Sequential`` encoder slices and decoder (``nn.Upsample``), a ``calc_mean_std`` and
an ``adain`` function, the loss in a few lines. The peer's layers are copies of ours, so both
start from identical weights; the first step's losses are checked to agree.

Timings are medians of interleaved repeats in one process (data loading excluded on both
sides), in wall time and in process CPU time; on a shared machine the CPU time is the steadier
of the two (with one thread it does not count time spent waiting for a core).

    .venv/bin/python bench/style_step.py --norm saadain --crop 64 --batch-size 4 --repeats 15
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robust_sabn.style.config import make_config
from robust_sabn.style.encoder import random_encoder
from robust_sabn.style.network import StyleTransferNet, transfer_losses
from robust_sabn.style.trainer import training_step


def calc_mean_std(feat: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Per-sample channel mean and std (biased variance + eps), shaped (N, C, 1, 1)."""
    n, c = feat.shape[:2]
    flat = feat.reshape(n, c, -1)
    return flat.mean(2).view(n, c, 1, 1), (flat.var(2, unbiased=False) + eps).sqrt().view(
        n, c, 1, 1)


class PeerAdaIN(nn.Module):
    """pytorch-AdaIN's network, written out: encoder slices, adain, decoder, losses."""

    def __init__(self, net: StyleTransferNet) -> None:
        super().__init__()
        convs = [copy.deepcopy(c) for c in net.encoder.convs]
        relu, pool = nn.ReLU(), nn.MaxPool2d(2, 2)
        self.enc = nn.ModuleList([
            nn.Sequential(copy.deepcopy(net.encoder.input_transform), convs[0], relu),
            nn.Sequential(convs[1], relu, pool, convs[2], relu),
            nn.Sequential(convs[3], relu, pool, convs[4], relu),
            nn.Sequential(convs[5], relu, convs[6], relu, convs[7], relu, pool, convs[8], relu),
        ])
        dec = [copy.deepcopy(c) for c in net.decoder.convs]
        up = nn.Upsample(scale_factor=2, mode="nearest")
        layers: list[nn.Module] = []
        for i, conv in enumerate(dec):
            layers += [nn.ReflectionPad2d(1), conv]
            if i < len(dec) - 1:
                layers.append(nn.ReLU())
            if i in (0, 4, 6):
                layers.append(up)
        self.decoder = nn.Sequential(*layers)
        shared = net.transfer.shared_weight is not None
        self.shared_weight = nn.Parameter(torch.ones(512)) if shared else None
        self.shared_bias = nn.Parameter(torch.zeros(512)) if shared else None
        self.enc.requires_grad_(False)

    def encode_with_intermediate(self, x: Tensor) -> list[Tensor]:
        feats = [x]
        for layer in self.enc:
            feats.append(layer(feats[-1]))
        return feats[1:]

    def adain(self, content: Tensor, style: Tensor) -> Tensor:
        c_mean, c_std = calc_mean_std(content)
        s_mean, s_std = calc_mean_std(style)
        normalized = (content - c_mean) / c_std
        if self.shared_weight is not None:
            normalized = (normalized * self.shared_weight.view(1, -1, 1, 1)
                          + self.shared_bias.view(1, -1, 1, 1))
        return normalized * s_std + s_mean

    def losses(self, content: Tensor, style: Tensor) -> tuple[Tensor, Tensor]:
        style_feats = self.encode_with_intermediate(style)
        t = self.adain(self.encode_with_intermediate(content)[-1], style_feats[-1])
        g_t_feats = self.encode_with_intermediate(self.decoder(t))
        loss_c = F.mse_loss(g_t_feats[-1], t)
        loss_s = sum((F.mse_loss(m, sm) + F.mse_loss(s, ss) for (m, s), (sm, ss) in zip(
            map(calc_mean_std, g_t_feats), map(calc_mean_std, style_feats), strict=True)),
            torch.zeros(()))
        return loss_c, loss_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--norm", default="saadain", choices=("adain", "saadain"))
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = make_config("cpu", norm=args.norm, crop=args.crop, resize=args.crop,
                         batch_size=args.batch_size)
    net = StyleTransferNet(random_encoder(0), args.norm)
    peer = PeerAdaIN(net)
    ours_opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=config.lr)
    peer_opt = torch.optim.Adam([p for p in peer.parameters() if p.requires_grad],
                                lr=config.lr)
    content = torch.rand(args.batch_size, 3, args.crop, args.crop)
    style = torch.rand(args.batch_size, 3, args.crop, args.crop)

    with torch.no_grad():
        ours_first = torch.stack(transfer_losses(net, content, style))
        peer_first = torch.stack(peer.losses(content, style))
    torch.testing.assert_close(ours_first, peer_first, rtol=1e-4, atol=1e-5)

    def peer_step(iteration: int) -> None:
        for group in peer_opt.param_groups:
            group["lr"] = config.lr_at(iteration)
        loss_c, loss_s = peer.losses(content, style)
        loss = config.content_weight * loss_c + config.style_weight * loss_s
        peer_opt.zero_grad(set_to_none=True)
        loss.backward()
        peer_opt.step()

    def ours_step(iteration: int) -> None:
        training_step(net, ours_opt, config, content, style, iteration)

    sides: dict[str, Callable[[int], None]] = {"robust-sabn": ours_step,
                                               "hand-written AdaIN loop": peer_step}
    wall: dict[str, list[float]] = {name: [] for name in sides}
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    for step in sides.values():  # warm-up
        step(0)
    for i in range(args.repeats):
        for name, step in (sides.items() if i % 2 == 0 else reversed(sides.items())):
            w0, c0 = time.perf_counter(), time.process_time()
            step(i + 1)
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    print(f"norm {args.norm}, crop {args.crop}, batch {args.batch_size}, "
          f"threads {args.threads}, median of {args.repeats} interleaved steps")
    print(f"  {'':<26} {'wall ms':>9} {'CPU ms':>9}")
    for name in sides:
        print(f"  {name:<26} {1000 * statistics.median(wall[name]):9.2f} "
              f"{1000 * statistics.median(cpu[name]):9.2f}")
    for label, times in (("wall", wall), ("CPU", cpu)):
        ratio = (statistics.median(times["robust-sabn"])
                 / statistics.median(times["hand-written AdaIN loop"]))
        print(f"  ratio ours / hand-written ({label} time): {ratio:.3f}")

if __name__ == "__main__":
    main()
