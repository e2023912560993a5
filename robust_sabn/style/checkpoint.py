"""Reading style-transfer checkpoints back into a network (``stylize``) and validating them
(``eval``).

A checkpoint stores the decoder and SaAdaIN affine, the run's config and the encoder spec; the
encoder is rebuilt from the spec (seeded random, or the VGG-19 file, checked by its hash).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robust_sabn.artifacts.checkpoint import load_checkpoint
from robust_sabn.artifacts.result import ResultRecord, new_result
from robust_sabn.errors import UserInputError
from robust_sabn.style.config import StyleConfig
from robust_sabn.style.encoder import EncoderSpec
from robust_sabn.style.evaluate import (
    ValidationSet,
    affine_shift_metrics,
    validation_losses,
    validation_metrics,
)
from robust_sabn.style.network import StyleTransferNet
from robust_sabn.style.trainer import (
    NETWORK_NAME,
    TASK,
    build_network,
    check_device,
    load_data,
    run_subject,
)


def load_style_network(path: str | Path, *, device: str = "cpu",
                       encoder_weights: str | None = None
                       ) -> tuple[StyleTransferNet, StyleConfig, EncoderSpec, int]:
    """(network in eval mode, its config, its encoder spec, iterations trained) of ``path``.

    Args:
        path: a checkpoint written by style training.
        device: where to put the network.
        encoder_weights: a new location of the training VGG-19 file (its hash must match).

    Raises:
        UserInputError: unreadable or foreign checkpoint, missing or changed encoder weights,
            weights that do not fit the network.
    """
    check_device(device)
    ckpt = load_checkpoint(path, map_location=device)
    try:
        model = ckpt["model"]
        if model.get("name") != NETWORK_NAME:
            raise KeyError("name")
        spec = EncoderSpec.from_dict(model["encoder"])
        config = StyleConfig(**{**ckpt["config"], "device": device})
        iteration = int(ckpt["iteration"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UserInputError(
            f"{path} is not a style-transfer checkpoint (no {exc} entry); give the last.pt of "
            "a robust-sabn style train run"
        ) from exc
    if encoder_weights is not None and spec.source != "random":
        spec = EncoderSpec(spec.source, seed=spec.seed, path=encoder_weights, sha256=spec.sha256)
    net = build_network(config, spec)
    try:
        net.load_trainable_state(ckpt["state_dict"])
    except RuntimeError as exc:
        raise UserInputError(
            f"weights in {path} do not fit the {config.norm} style network "
            f"({str(exc).splitlines()[0][:160]}); the checkpoint is damaged, use another one"
        ) from exc
    return net.eval(), config, spec, iteration


def evaluate_checkpoint(path: str | Path, *, device: str = "cpu",
                        encoder_weights: str | None = None,
                        config_overrides: dict[str, Any] | None = None) -> ResultRecord:
    """Validation losses of the network in ``last.pt``-style checkpoint ``path``.

    Args:
        path: a checkpoint written by style training.
        device: where to run.
        encoder_weights: the VGG-19 file, when it moved since training (hash-checked).
        config_overrides: options replacing the checkpoint's (``val_pairs``, ``content_dir``,
            ``style_dir``, ``data_seed`` ...).

    Raises:
        UserInputError: unreadable checkpoint, missing encoder weights, bad data.
    """
    net, config, spec, iteration = load_style_network(path, device=device,
                                                      encoder_weights=encoder_weights)
    config = StyleConfig(**{**config.model_dump(), **(config_overrides or {}), "device": device})
    data = load_data(config)
    val = ValidationSet.build(data, config, net.encoder)
    values = validation_losses(net, val, config)
    metrics = validation_metrics(values, config, val, step=iteration)
    metrics += affine_shift_metrics(net, step=iteration)
    return new_result(TASK, "evaluation", subject=run_subject(config, spec, data.source),
                      metrics=metrics, extras={"checkpoint": str(path),
                                               "second_encoder": val.second_label,
                                               "iteration": iteration})
