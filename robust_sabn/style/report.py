"""The style-transfer comparison report, rendered from records only.

Sections: setup (encoder, images, sizes), validation losses mean ± std per norm, SaAdaIN minus
AdaIN with 95 % paired-t intervals over seeds, what the numbers say in words, training and
validation curves (PNG), the stylization grid (PNG), warnings, provenance. Losses are the
unweighted content and style losses (lower is better); "weighted" is content + w * style with
the runs' style weight.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from robust_sabn.artifacts.result import ResultRecord
from robust_sabn.report import kit
from robust_sabn.report.stats import paired_t_interval
from robust_sabn.vocabulary import (
    STYLE_SECOND_FEATURES,
    STYLE_TRAINING_FEATURES,
    count,
    norm_label,
)

Records = Sequence[tuple[Path, ResultRecord]]
REFERENCE = "AdaIN"
PAPER_ITERATIONS = 160_000
# (column title, metric name, features condition)
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("content loss", "content_loss", STYLE_TRAINING_FEATURES),
    ("style loss", "style_loss", STYLE_TRAINING_FEATURES),
    ("content loss, second encoder", "content_loss", STYLE_SECOND_FEATURES),
    ("style loss, second encoder", "style_loss", STYLE_SECOND_FEATURES),
)
COLLAPSED_SPREAD = 0.01
"""An ``output_spread`` below this (pixel sd, [0, 1] scale) marks a collapsed decoder."""
CURVE_PANELS = (("train", "content_loss"), ("train", "style_loss"), ("val", "content_loss"),
                ("val", "style_loss"))


def _final_records(records: Records) -> dict[str, ResultRecord]:
    """Per run id, its evaluation record, else its training record."""
    chosen: dict[str, ResultRecord] = {}
    for _, record in records:
        run = record.subject.get("run")
        if run is None or record.kind not in ("evaluation", "training") or record.status != "ok":
            continue
        if record.kind == "evaluation" or run not in chosen:
            chosen[run] = record
    return chosen


def _groups(finals: dict[str, ResultRecord], name: str, features: str
            ) -> dict[str, dict[int, float]]:
    """Norm label -> seed -> value of metric ``name`` measured with ``features``."""
    groups: dict[str, dict[int, float]] = {}
    for record in finals.values():
        value = record.value(name, features=features)
        if value is not None:
            label = norm_label(record.subject.get("norm"))
            groups.setdefault(label, {})[int(record.subject.get("seed", 0))] = value
    return dict(sorted(groups.items(), key=lambda item: item[0] != REFERENCE))


def _loss_table(finals: dict[str, ResultRecord]) -> str:
    columns = [_groups(finals, name, features) for _, name, features in COLUMNS]
    labels = list(dict.fromkeys(label for groups in columns for label in groups))
    cells = [kit.bold_best([list(groups.get(label, {}).values()) for label in labels],
                           higher_is_better=False, digits=4) for groups in columns]
    rows = [[label, *(column[i] for column in cells),
             str(max(len(groups.get(label, {})) for groups in columns))]
            for i, label in enumerate(labels)]
    header = ["norm", *(title for title, _, _ in COLUMNS), "seeds"]
    return kit.markdown_table(header, rows)


def _difference_section(finals: dict[str, ResultRecord]) -> tuple[str, list[str]]:
    """The SaAdaIN - AdaIN table and one sentence per metric saying what it shows."""
    rows, sentences = [], []
    for title, name, features in COLUMNS:
        groups = _groups(finals, name, features)
        if REFERENCE not in groups or len(groups) < 2:
            continue
        for row in kit.difference_rows(groups, REFERENCE, digits=4):
            rows.append([title, *row])
        other = next(label for label in groups if label != REFERENCE)
        seeds = sorted(set(groups[other]) & set(groups[REFERENCE]))
        if len(seeds) < 2:
            sentences.append(f"{title}: fewer than 2 paired seeds, no interval.")
            continue
        interval = paired_t_interval([groups[other][s] for s in seeds],
                                     [groups[REFERENCE][s] for s in seeds])
        if not interval.resolved:
            verdict = "the difference is not resolved (the 95 % interval contains 0)"
        elif interval.estimate < 0:
            verdict = f"{other} is lower (better), and the 95 % interval excludes 0"
        else:
            verdict = f"{other} is higher (worse), and the 95 % interval excludes 0"
        sentences.append(f"Validation {title}: {other} - {REFERENCE} = "
                         f"{interval.estimate:+.4f} over {count(len(seeds), 'seed')}; "
                         f"{verdict}.")
    header = ["metric", "row", "minus", "difference [95 % CI] (lower is better)", "seeds"]
    return kit.markdown_table(header, rows, align="lllrr"), sentences


def collapse_sentences(finals: dict[str, ResultRecord]) -> list[str]:
    """One sentence naming the runs whose decoder outputs about the same image for every
    validation pair (``output_spread`` below :data:`COLLAPSED_SPREAD`), if any: collapsed, or
    not trained yet (an untrained decoder's spread is about 6e-5)."""
    spreads = {run: value for run, record in finals.items()
               if (value := record.value("output_spread")) is not None}
    collapsed = sorted(run for run, value in spreads.items() if value < COLLAPSED_SPREAD)
    if not collapsed:
        return []
    others = [value for run, value in spreads.items() if run not in collapsed]
    healthy = (f"; the other runs' {min(others):.3f}-{max(others):.3f}" if others else "")
    named = ", ".join(f"{run} {spreads[run]:.4f}" for run in collapsed)
    many = len(collapsed) > 1
    return [f"One image for every pair: {named} (output spread, the pixel sd over the "
            f"validation pairs of the stylized images, [0, 1] scale{healthy}): "
            f"{'these decoders' if many else 'this decoder'} collapsed or never learned to "
            f"stylize, so {'their' if many else 'its'} losses do not measure stylization."]


def _curves(records: Records) -> dict[str, dict[int, list[dict[str, Any]]]]:
    """Norm label -> seed -> metrics rows of each finished training record."""
    curves: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for _, record in records:
        if record.kind == "training" and record.extras.get("curves"):
            label = norm_label(record.subject.get("norm"))
            curves.setdefault(label, {})[int(record.subject.get("seed", 0))] = \
                record.extras["curves"]
    return dict(sorted(curves.items(), key=lambda item: item[0] != REFERENCE))


CURVE_KEYS: tuple[tuple[str, str], ...] = (
    ("content_loss", "content loss"), ("style_loss", "style loss"),
    ("second_content_loss", "content loss, second encoder"),
    ("second_style_loss", "style loss, second encoder"),
)


def curve_sentences(curves: dict[str, dict[int, list[dict[str, Any]]]]) -> list[str]:
    """Per validation loss: at which validations along training the paired (over seeds)
    difference to AdaIN is resolved, and in which direction."""
    others = [label for label in curves if label != REFERENCE]
    if REFERENCE not in curves or not others:
        return []
    other = others[0]
    seeds = sorted(set(curves[other]) & set(curves[REFERENCE]))
    if len(seeds) < 2:
        return []

    def values(label: str, seed: int, key: str) -> dict[int, float]:
        return {row["iteration"]: row[key] for row in curves[label][seed]
                if row["split"] == "val" and key in row}

    sentences = []
    for key, title in CURVE_KEYS:
        series = {(label, seed): values(label, seed, key) for label in (other, REFERENCE)
                  for seed in seeds}
        shared = sorted(set.intersection(*(set(v) for v in series.values())))
        if not shared:
            continue
        resolved = []
        for iteration in shared:
            interval = paired_t_interval([series[(other, s)][iteration] for s in seeds],
                                         [series[(REFERENCE, s)][iteration] for s in seeds])
            if interval.resolved:
                side = "lower" if interval.estimate < 0 else "higher"
                resolved.append(f"{iteration} ({other} {side}, {interval.estimate:+.4f})")
        where = (f"resolved at iteration {', '.join(resolved)}; not resolved at the other "
                 f"{len(shared) - len(resolved)}" if resolved
                 else f"not resolved at any of the {len(shared)} validations")
        sentences.append(f"Along training, validation {title} ({other} - {REFERENCE}, paired "
                         f"over {count(len(seeds), 'seed')}): {where}.")
    if sentences:
        sentences.append("Each validation is its own 95 % interval, so about one in twenty "
                         "excludes 0 by chance alone: an isolated resolved iteration is weak "
                         "evidence.")
    return sentences


AFFINE_POINTS = 4
"""Validations (evenly spaced, the last included) at which the affine's path is reported."""


def affine_sentences(curves: dict[str, dict[int, list[dict[str, Any]]]]) -> list[str]:
    """SaAdaIN's shared-affine shift along training, per seed, at :data:`AFFINE_POINTS`
    validations (rows logging ``affine_shift``; records made before it was logged have none)."""
    label = norm_label("saadain")
    paths = {seed: {int(row["iteration"]): 100.0 * float(row["affine_shift"]) for row in rows
                    if row.get("split") == "val" and "affine_shift" in row}
             for seed, rows in sorted(curves.get(label, {}).items())}
    paths = {seed: path for seed, path in paths.items() if path}
    if not paths:
        return []
    shared = sorted(set.intersection(*(set(path) for path in paths.values())))
    if not shared:
        return []
    step = max(1, len(shared) // AFFINE_POINTS)
    points = shared[::-1][::step][:AFFINE_POINTS][::-1]
    values = "; ".join(
        f"iteration {it}: " + " / ".join(f"{paths[seed][it]:.2f}" for seed in paths) + " %"
        for it in points)
    seeds = ("seed " if len(paths) == 1 else "seeds ") + ", ".join(str(seed) for seed in paths)
    return [f"{label}'s shared affine along training (RMS distance from the identity, {seeds}): "
            f"{values}."]


def single_norm_sentences(finals: dict[str, ResultRecord],
                          curves: dict[str, dict[int, list[dict[str, Any]]]]) -> list[str]:
    """What runs of one norm show: their validation losses, how the losses moved along
    training (mean over seeds at the first and last shared validation), and what a comparison
    needs."""
    label = norm_label(next(iter(finals.values())).subject.get("norm"))
    seeds = sorted({int(r.subject.get("seed") or 0) for r in finals.values()})
    values = []
    for title, name, features in COLUMNS:
        if features == STYLE_TRAINING_FEATURES:
            per_seed = _groups(finals, name, features).get(label, {})
            values.append(f"{title} {kit.format_mean_std(list(per_seed.values()), digits=4)}")
    sentences = [f"{count(len(finals), 'run')} of {label} "
                 f"({count(len(seeds), 'seed')}): validation {', '.join(values)}."]
    for key, title in CURVE_KEYS[:2]:
        series = [{row["iteration"]: row[key] for row in rows
                   if row["split"] == "val" and key in row}
                  for rows in curves.get(label, {}).values()]
        shared = sorted(set.intersection(*(set(s) for s in series))) if series else []
        if len(shared) >= 2:
            first, last = (sum(s[i] for s in series) / len(series)
                           for i in (shared[0], shared[-1]))
            sentences.append(f"Validation {title} went from {first:.4f} at iteration "
                             f"{shared[0]} to {last:.4f} at iteration {shared[-1]}"
                             f"{' (mean over seeds)' if len(series) > 1 else ''}.")
    other = "SaAdaIN" if label == REFERENCE else REFERENCE
    sentences.append(f"There is no {other} run to compare with: train one with the same "
                     f"options (robust-sabn style train --norm {other.lower()} ...) and report "
                     "both folders, or run a style suite.")
    return sentences


def plot_curves(curves: dict[str, dict[int, list[dict[str, Any]]]], path: Path) -> Path:
    """Four panels (training/validation x content/style loss) against iterations: thin lines
    per seed, a thick line for the mean over seeds at the iterations all seeds share."""
    fig, axes = plt.subplots(2, 2, figsize=(9.0, 6.4), dpi=110, sharex=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (split, key) in zip(axes.flat, CURVE_PANELS, strict=True):
        for i, (label, seeds) in enumerate(curves.items()):
            series = {seed: {row["iteration"]: row[key] for row in rows if row["split"] == split}
                      for seed, rows in seeds.items()}
            for points in series.values():
                ax.plot(list(points), list(points.values()), color=colours[i % len(colours)],
                        alpha=0.3, linewidth=0.8)
            shared = sorted(set.intersection(*(set(p) for p in series.values())))
            means = [sum(p[x] for p in series.values()) / len(series) for x in shared]
            ax.plot(shared, means, color=colours[i % len(colours)], linewidth=2.0,
                    label=f"{label} (mean of {count(len(series), 'seed')})")
        ax.set_title(f"{'training' if split == 'train' else 'validation'} "
                     f"{key.replace('_', ' ')}")
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("iteration")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0][0].legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _setup(finals: dict[str, ResultRecord], records: Records) -> list[str]:
    first = next(iter(finals.values()))
    config = next((r.extras.get("config") for _, r in records
                   if r.kind == "training" and r.extras.get("config")), {}) or {}
    images = next((r.extras.get("images") for _, r in records
                   if r.kind == "training" and r.extras.get("images")), {}) or {}
    subject = first.subject
    lines = [f"- Encoder (frozen, VGG-19 to relu4_1): **{subject.get('encoder')}**.",
             f"- Images: {subject.get('dataset')}."]
    licences = images.get("licences", {})
    for key, title in (("train_content", "Content, training"), ("val_content",
                       "Content, held out"), ("train_style", "Style, training"),
                       ("val_style", "Style, held out")):
        if images.get(key):
            names = [f"{n} [{licences[n]}]" if n in licences else n for n in images[key]]
            lines.append(f"  - {title}: {', '.join(names)}.")
    lines += [
        f"- Each run: {config.get('iterations')} iterations of {config.get('batch_size')} "
        f"pairs, {config.get('crop')} px crops of images resized to {config.get('resize')} px; "
        f"Adam lr {config.get('lr')} / (1 + {config.get('lr_decay')} · iteration)"
        + (f", rising linearly over the first {config['lr_warmup']} iterations"
           if config.get("lr_warmup") else "")
        + f"; loss content + {config.get('style_weight')} x style."
        + (" The paper trains 160,000 iterations of 8 pairs of 256 px crops (COCO / WikiArt, "
           "ImageNet VGG-19); runs this small are not comparable to its numbers."
           if int(config.get("iterations") or 0) < PAPER_ITERATIONS else ""),
        f"- Validation: {config.get('val_pairs')} fixed pairs of held-out images "
        f"(data seed {config.get('data_seed')}), alpha 1."]
    if any(first.find("content_loss", features=STYLE_SECOND_FEATURES)):
        lines.append(f"- Second encoder: a random-feature encoder seeded "
                     f"{config.get('second_encoder_seed')}, never used in training; its content "
                     "target is plain AdaIN of its own features for both norms.")
    return lines


def render_style_report(records: Records, output: Path, *, title: str, command: str,
                        suite_command: str | None = None, warnings: Sequence[str] = ()
                        ) -> Path:
    """Write the Markdown report (and its two PNGs beside it); returns its path."""
    output = Path(output)
    finals = _final_records(records)
    notes = list(warnings)
    parts = [f"# {title}", ""]
    if not finals:
        notes.append("no finished style-transfer run records were found")
        parts += ["No results yet.", "", kit.warnings_section(notes), "",
                  kit.provenance_footer([r for _, r in records], command, suite_command)]
        return kit.write_markdown(output, "\n".join(parts))
    curves = _curves(records)
    parts += ["## Setup", "", *_setup(finals, records), "",
              "## Validation losses (mean ± std over seeds, lower is better)", "",
              _loss_table(finals), ""]
    if len({r.subject.get("norm") for r in finals.values()}) > 1:
        table, sentences = _difference_section(finals)
        parts += ["## SaAdaIN - AdaIN, paired over seeds", "", table, ""]
        sentences += curve_sentences(curves)
    else:
        sentences = single_norm_sentences(finals, curves)
    sentences += affine_sentences(curves) + collapse_sentences(finals)
    parts += ["## What this shows", "", *[f"- {s}" for s in sentences], ""]
    if curves:
        png = plot_curves(curves, output.with_name(f"{output.stem}-curves.png"))
        parts += ["## Loss curves", "", kit.image(png.name, "training and validation losses"),
                  ""]
    grid = next(((p, r) for p, r in records if r.kind == "sample" and r.extras.get("image")),
                None)
    if grid is not None:
        source = grid[0].parent / grid[1].extras["image"]
        if source.is_file():
            target = output.with_name(f"{output.stem}-grid.png")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            extras = grid[1].extras
            parts += ["## Stylization grid", "",
                      f"Top row: the styles ({', '.join(extras['styles'])}), each above its "
                      f"{' and '.join(extras['norms'])} columns. Each following row: a content "
                      f"image ({', '.join(extras['contents'])}) and its stylizations, "
                      f"{extras['size']} px, alpha 1, runs of seed {grid[1].subject.get('seed')}."
                      f" Held out from training: {', '.join(extras['held_out']) or 'none'}.", "",
                      kit.image(target.name, "stylization grid"), ""]
        else:
            notes.append(f"the grid image {source} is missing")
    parts += [kit.warnings_section(notes), "",
              kit.provenance_footer([r for _, r in records], command, suite_command)]
    return kit.write_markdown(output, "\n".join(parts))
