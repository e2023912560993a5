"""The GAN task's units of work, each writing its result record: train the reference classifier,
train a GAN run, evaluate a generator, draw a sample grid. The CLI and the suite call these.

Records (``robust_sabn.artifacts.result``, ``task="gan"``):

* ``reference.json`` (kind ``reference``): the classifier's test accuracy;
* ``train_record.json`` (kind ``training``, :mod:`robust_sabn.gan.records`), written by the
  trainer (rank 0 under torchrun);
* ``eval.json`` (kind ``evaluation``): ``fid``, ``kid``, ``kid_std``, ``is``, ``is_std``,
  ``cond_acc``, ``intra_fid`` with ``condition={"features": "classifier" | "inception"}`` and ``n``;
* ``samples.json`` (kind ``sample``): ``extras.image``, the grid's path relative to the record.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from robust_sabn.artifacts.digest import file_sha256
from robust_sabn.artifacts.result import Metric, ResultRecord, new_result, write_result
from robust_sabn.gan.config import GANConfig
from robust_sabn.gan.records import TASK


def reference_record(summary: dict[str, Any], wall_time_s: float) -> ResultRecord:
    """The record of a trained reference classifier (``summary`` from
    :func:`~robust_sabn.gan.reference.train_reference_classifier`)."""
    return new_result(
        TASK, "reference",
        subject={"dataset": summary["dataset"], "model": "small_cnn", "norm": "bn",
                 "checkpoint": Path(summary["path"]).name},
        metrics=[Metric(name="test_accuracy", value=summary["test_accuracy"],
                        n=None, condition={"split": "test"}),
                 *[Metric(name=name, value=summary[f"real_{name}"], n=summary["real_samples"],
                          condition={"features": "classifier", "split": "test"})
                   for name in ("is", "fid")]],
        extras={"epochs": summary["epochs"], "train_examples": summary["train_examples"],
                "real_examples": summary["real_examples"], "schedule": summary["schedule"],
                "augment": summary["augment"]},
        wall_time_s=wall_time_s)


def train_reference(dataset: str, out_dir: str | Path, *, data_dir: str | None = None,
                    **options: Any) -> ResultRecord:
    """Train and cache the reference classifier in ``out_dir/classifier.pt`` and write
    ``out_dir/reference.json``; ``options`` are
    :func:`~robust_sabn.gan.reference.train_reference_classifier`'s (``progress=True`` shows
    it)."""
    from robust_sabn.gan.reference import train_reference_classifier

    t0 = time.perf_counter()
    summary = train_reference_classifier(dataset, Path(out_dir) / "classifier.pt",
                                         data_dir=data_dir, **options)
    record = reference_record(summary, time.perf_counter() - t0)
    write_result(Path(out_dir) / "reference.json", record)
    return record


def train_run(config: GANConfig, out_dir: str | Path, *, reference: str | Path | None,
              resume: bool = False, quiet: bool = False, run_id: str | None = None,
              sync_norm: bool = False) -> ResultRecord:
    """Train one GAN (probing classifier FID when ``reference`` is a classifier cache); returns
    the record :func:`~robust_sabn.gan.train.train_gan` writes to ``out_dir/train_record.json``
    (every rank returns it, its probe metrics rank 0's alone). ``sync_norm``: see
    :func:`~robust_sabn.gan.train.train_gan`."""
    from robust_sabn.gan.evaluate import classifier_probe
    from robust_sabn.gan.reference import ReferenceClassifier
    from robust_sabn.gan.train import train_gan

    probe = None
    if reference is not None and config.eval_every:
        probe = classifier_probe(ReferenceClassifier(reference, config.dataset),
                                 config.probe_samples)
    return train_gan(config, out_dir, resume=resume, quiet=quiet, probe=probe,
                     sync_norm=sync_norm, run_id=run_id)


def evaluate_run(checkpoint: str | Path, reference: str | Path, output: str | Path, *,
                 n_samples: int, seed: int = 0, inception_weights: str | Path | None = None,
                 device: str = "cpu", data_dir: str | None = None,
                 subject: dict[str, Any] | None = None, progress: bool = False
                 ) -> ResultRecord:
    """Score the generator in ``checkpoint`` and write the evaluation record to ``output``;
    ``progress`` shows each phase on stderr."""
    from robust_sabn.gan.evaluate import evaluate_checkpoint, inception_extractor, load_generator
    from robust_sabn.gan.names import CLASSIFIER_LABEL
    from robust_sabn.gan.reference import ReferenceClassifier
    from robust_sabn.runs.progress import PhaseProgress

    t0 = time.perf_counter()
    generator, ckpt = load_generator(checkpoint, device)
    ref = ReferenceClassifier(reference, ckpt.get("dataset"), device)
    inception = inception_extractor(inception_weights, device)
    with PhaseProgress("gan eval", 3 + (inception is not None), not progress) as display:
        result = evaluate_checkpoint(checkpoint, ref, n_samples=n_samples, seed=seed,
                                     inception=inception, device=device, data_dir=data_dir,
                                     progress=display)
    condition = {"features": result["features"]}
    names = {"fid": "fid", "kid": "kid", "kid_std": "kid_std", "is_mean": "is",
             "is_std": "is_std", "cond_acc": "cond_acc", "intra_fid": "intra_fid"}
    metrics = [Metric(name=names[k], value=v, n=n_samples, condition=condition)
               for k, v in result["metrics"].items()]
    config = ckpt.get("config") or {}
    base_subject = {"run": None, "generator": generator_name(ckpt), "norm": generator.norm,
                    "seed": config.get("seed"), "dataset": ckpt.get("dataset")}
    record = new_result(
        TASK, "evaluation",
        subject={**base_subject, **(subject or {}), "checkpoint": str(checkpoint),
                 "checkpoint_sha256": file_sha256(checkpoint)},
        metrics=metrics,
        extras={"features_label": CLASSIFIER_LABEL if result["features"] == "classifier"
                else "Inception FID / IS (torch-fidelity weights)",
                "reference_test_accuracy": ref.test_accuracy,
                "iterations": ckpt.get("iteration")},
        wall_time_s=time.perf_counter() - t0)
    write_result(output, record)
    return record


def generator_name(ckpt: dict[str, Any]) -> str | None:
    """The generator registry name recorded in a GAN checkpoint."""
    model = ckpt.get("model")
    return model.get("generator") if isinstance(model, dict) else None


def sample_run(checkpoint: str | Path, output_png: str | Path, *, classes: list[int] | None,
               per_class: int, seed: int = 0, record_path: str | Path | None = None,
               subject: dict[str, Any] | None = None, device: str = "cpu") -> Path:
    """Write a labelled class-by-row sample grid, sampled on ``device``; with ``record_path``
    also a ``sample`` record (what ``robust-sabn report`` shows the grid from)."""
    from robust_sabn.gan.evaluate import load_generator, sample_grid

    generator, ckpt = load_generator(checkpoint, device)
    chosen = classes if classes is not None else list(range(generator.num_classes))
    png = sample_grid(generator, chosen, per_class, output_png, seed, ckpt.get("dataset"))
    if record_path is not None:
        record_path = Path(record_path)
        record = new_result(
            TASK, "sample",
            subject={"generator": generator_name(ckpt), "norm": generator.norm,
                     "dataset": ckpt.get("dataset"),
                     "seed": (ckpt.get("config") or {}).get("seed"),
                     "checkpoint": str(checkpoint), **(subject or {})},
            extras={"image": os.path.relpath(Path(png).resolve(), record_path.parent.resolve())
                    .replace(os.sep, "/"), "classes": chosen, "per_class": per_class,
                    "seed": seed})
        write_result(record_path, record)
    return png


def dump_run(checkpoint: str | Path, folder: str | Path, *, n: int, seed: int = 0,
             device: str = "cpu") -> list[tuple[str, int]]:
    """Write ``n`` samples of the generator in ``checkpoint`` to ``folder`` as PNG files and
    ``labels.csv`` (:func:`~robust_sabn.gan.evaluate.dump_samples`)."""
    from robust_sabn.gan.evaluate import dump_samples, load_generator

    generator, _ = load_generator(checkpoint, device)
    return dump_samples(generator, folder, n, seed=seed)
