"""The GAN report, rendered only from result records (torch-free): IS/FID table with the
paper's CIFAR-10 numbers, differences vs the reference norm with 95 % CIs, probe-FID curves,
sample grids, conditional accuracy, and a paragraph saying what the numbers show."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from robust_sabn.artifacts.result import ResultRecord
from robust_sabn.gan.names import CLASSIFIER_LABEL, GENERATOR_LABELS
from robust_sabn.gan.plots import plot_fid_curves
from robust_sabn.gan.plugin import GAN_NORMS
from robust_sabn.report import kit
from robust_sabn.report.stats import paired_t_interval
from robust_sabn.vocabulary import count, norm_label

PAPER_CIFAR10: dict[tuple[str, str], tuple[float, float]] = {
    ("sngan32", "ccbn"): (8.76, 10.18), ("sngan32", "sabn"): (8.89, 8.97),
    ("autogan32", "ccbn"): (8.43, 10.51), ("autogan32", "sabn"): (8.72, 9.11),
    ("biggan32", "ccbn"): (8.91, 8.57), ("biggan32", "sabn"): (9.01, 8.03),
}
"""The paper's CIFAR-10 (IS, FID) with 50k samples and the standard Inception."""

PAPER_CLAIM = ("For reference, the paper's claim (CIFAR-10, 50k iterations, standard Inception, "
               "50k samples): SaBN beats CCBN in all three generators, IS/FID SNGAN "
               "8.76/10.18 -> 8.89/8.97, AutoGAN 8.43/10.51 -> 8.72/9.11, BigGAN "
               "8.91/8.57 -> 9.01/8.03.")

Row = tuple[str, str]
Groups = dict[Row, dict[int, ResultRecord]]
METRICS = (("is", "IS", True, 1.0), ("fid", "FID", False, 1.0), ("kid", "KID x1000", False, 1e3),
           ("intra_fid", "intra-FID", False, 1.0), ("cond_acc", "cond. acc. %", True, 100.0))
"""(record metric name, title, higher is better, display scale)."""


def _title(name: str, title: str, features: str) -> str:
    """``classifier FID`` for the classifier-feature metrics, the plain title otherwise."""
    return f"classifier {title}" if features == "classifier" and name in ("is", "fid", "kid") \
        else title


def _label(row: Row) -> str:
    return f"{GENERATOR_LABELS.get(row[0], row[0])} {norm_label(row[1])}"


def _groups(records: Sequence[tuple[Path, ResultRecord]], kind: str) -> Groups:
    order = {n: i for i, n in enumerate(GAN_NORMS)}
    groups: Groups = {}
    for _, record in records:
        if record.kind == kind:
            s = record.subject
            groups.setdefault((s["generator"], s["norm"]), {})[int(s.get("seed") or 0)] = record
    return dict(sorted(groups.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 9))))


def _values(runs: dict[int, ResultRecord], name: str) -> dict[int, float]:
    out = {}
    for seed, record in runs.items():
        value = record.value(name)
        if value is not None:
            out[seed] = value
    return out


def _features(groups: Groups) -> str:
    kinds = {m.condition.get("features") for runs in groups.values() for r in runs.values()
             for m in r.metrics}
    return "inception" if kinds == {"inception"} else "classifier"


def real_row(reference: ResultRecord | None, features: str, width: int) -> list[str] | None:
    """The table row of real test images (classifier features only): their IS, the FID of
    one half against the other, the classifier's test accuracy; None without those numbers."""
    if reference is None or features != "classifier" or reference.value("fid") is None:
        return None
    accuracy = reference.value("test_accuracy") or 0.0
    known = {"is": f"{reference.value('is'):.2f}", "fid": f"{reference.value('fid'):.2f}",
             "cond_acc": f"{100 * accuracy:.2f}"}
    row = ["real test images", kit.DASH, kit.DASH,
           *[known.get(name, kit.DASH) for name, *_ in METRICS]]
    return row + [kit.DASH] * (width - len(row))


def score_table(groups: Groups, features: str, reference: ResultRecord | None = None) -> str:
    """IS / FID / intra-FID / conditional accuracy, mean ± std over seeds, best per generator
    in bold; the paper's CIFAR-10 numbers beside when the records are CIFAR-10; a last row of
    real test images when the reference classifier's record holds their scores."""
    cifar = any(r.subject.get("dataset") == "cifar10" for runs in groups.values()
                for r in runs.values())
    header = ["generator", "norm", "seeds",
              *[f"{_title(name, title, features)} {'↑' if hib else '↓'}"
                for name, title, hib, _ in METRICS]]
    if cifar:
        header += ["paper IS", "paper FID"]
    rows: list[list[str]] = []
    for generator in dict.fromkeys(g for g, _ in groups):
        keys = [k for k in groups if k[0] == generator]
        columns = []
        for name, _, hib, scale in METRICS:
            cells = [list(_values(groups[k], name).values()) for k in keys]
            present = [c for c in cells if c]
            columns.append(kit.bold_best(cells, higher_is_better=hib, scale=scale)
                           if present else [kit.DASH] * len(keys))
        for i, key in enumerate(keys):
            row = [GENERATOR_LABELS.get(generator, generator), norm_label(key[1]),
                   str(len(groups[key])), *[col[i] for col in columns]]
            if cifar:
                paper = PAPER_CIFAR10.get(key)
                row += [f"{paper[0]:.2f}", f"{paper[1]:.2f}"] if paper else [kit.DASH] * 2
            rows.append(row)
    real = real_row(reference, features, len(header))
    if real is not None:
        rows.append(real)
    return kit.markdown_table(header, rows, align="llr" + "r" * (len(header) - 3))


def difference_tables(groups: Groups, reference: str, features: str) -> list[str]:
    """Per generator: each norm minus ``reference`` on every metric, paired over seeds."""
    out = []
    for generator in dict.fromkeys(g for g, _ in groups):
        if (generator, reference) not in groups:
            continue
        for name, title, hib, scale in METRICS:
            per_norm = {norm_label(n): _values(runs, name)
                        for (g, n), runs in groups.items() if g == generator}
            if len([v for v in per_norm.values() if v]) < 2:
                continue
            shown = _title(name, title, features)
            out.append(f"**{GENERATOR_LABELS.get(generator, generator)}, {shown}**\n\n"
                       + kit.difference_table(per_norm, norm_label(reference), metric=shown,
                                              higher_is_better=hib, scale=scale))
    return out


def findings(groups: Groups, reference: str, features: str) -> list[str]:
    """Sentences saying what the numbers show, whatever they show."""
    lines = []
    for (generator, norm), runs in groups.items():
        base = groups.get((generator, reference))
        if norm == reference or base is None:
            continue
        parts = []
        for name, title, hib, scale in METRICS:
            a, b = _values(runs, name), _values(base, name)
            seeds = sorted(set(a) & set(b))
            if len(seeds) < 2:
                continue
            iv = paired_t_interval([a[s] for s in seeds], [b[s] for s in seeds])
            better = (iv.estimate > 0) == hib
            shown = f"{scale * abs(iv.estimate):.2f}"
            verdict = ("resolved at 95 %" if iv.resolved
                       else "not resolved: the 95 % interval spans 0")
            parts.append(f"{_title(name, title, features)} is {shown} "
                         f"{'better' if better else 'worse'} ({verdict})")
        if parts:
            lines.append(f"{_label((generator, norm))} vs {norm_label(reference)} over "
                         f"{count(len(runs), 'seed')}: " + "; ".join(parts) + ".")
    return lines


def _curves(train: Groups, metric: str = "probe_fid"
            ) -> dict[str, dict[int, list[tuple[float, float]]]]:
    curves: dict[str, dict[int, list[tuple[float, float]]]] = {}
    for key, runs in train.items():
        for seed, record in runs.items():
            points = sorted((float(m.condition["step"]), m.value)
                            for m in record.find(metric))
            if points:
                curves.setdefault(_label(key), {})[seed] = points
    return curves


def curve_findings(curves: dict[str, dict[int, list[tuple[float, float]]]], features: str
                   ) -> list[str]:
    """One sentence per row: mean probe FID at the first and the last probe."""
    lines = []
    fid = _title("fid", "FID", features)
    for label, seeds in curves.items():
        first = [pts[0] for pts in seeds.values()]
        last = [pts[-1] for pts in seeds.values()]
        lines.append(f"{label}: probe {fid} {sum(p[1] for p in first) / len(first):.2f} at "
                     f"iteration {first[0][0]:.0f} -> {sum(p[1] for p in last) / len(last):.2f} "
                     f"at iteration {last[0][0]:.0f} (mean of {count(len(seeds), 'seed')}).")
    return lines


def conditioning_findings(curves: dict[str, dict[int, list[tuple[float, float]]]]
                          ) -> list[str]:
    """One sentence per conditional row: the probes' conditional accuracy over training (mean
    over seeds), so a reader sees whether it was still rising when the run stopped."""
    lines = []
    for label, seeds in curves.items():
        by_step: dict[float, list[float]] = {}
        for points in seeds.values():
            for step, value in points:
                by_step.setdefault(step, []).append(value)
        trail = ", ".join(f"{100 * sum(v) / len(v):.0f} % at {step:.0f}"
                          for step, v in sorted(by_step.items()))
        lines.append(f"{label}: probe conditional accuracy {trail} (iterations; mean of "
                     f"{count(len(seeds), 'seed')}).")
    return lines


def chance_findings(evals: Groups, train: Groups) -> list[str]:
    """A sentence per row whose conditional accuracy is within 1.5x of chance (1 / classes):
    its generator has not learned to follow the class label."""
    lines = []
    for key, runs in evals.items():
        accuracies = list(_values(runs, "cond_acc").values())
        models = [r.subject.get("model") or {} for r in train.get(key, {}).values()]
        classes = next((m.get("num_classes") for m in models if m.get("num_classes")), None)
        if accuracies and classes and kit.mean_std(accuracies)[0] < 1.5 / classes:
            lines.append(f"{_label(key)}: conditional accuracy "
                         f"{100 * kit.mean_std(accuracies)[0]:.1f} % is at chance level "
                         f"({100 / classes:.0f} % for {classes} classes): the generator does "
                         "not yet follow the class label, so its numbers compare sample "
                         "quality, not the class-conditional generation the paper measures.")
    return lines


def _balance_curves(train: Groups, column: int) -> dict[str, dict[int, list[tuple[float, float]]]]:
    """Row label -> seed -> [(iteration, value)] from the training records' gradient-balance
    curve (column 1: imbalance, 2: cosine)."""
    curves: dict[str, dict[int, list[tuple[float, float]]]] = {}
    for key, runs in train.items():
        for seed, record in runs.items():
            points = [(float(r[0]), float(r[column]))
                      for r in record.extras.get("grad_balance_curve") or []]
            if points:
                curves.setdefault(_label(key), {})[seed] = points
    return curves


def gradient_balance_lines(train: Groups, output: Path) -> list[str]:
    """The "Gradient balance" section: the class affines' gradient-norm imbalance and mean
    pairwise cosine (training means, mean ± std over seeds) and their curves; [] when no
    training record logged them (a plain-BN generator has no class affines)."""
    rows = []
    for key, runs in train.items():
        imbalance = list(_values(runs, "grad_imbalance").values())
        cosine = list(_values(runs, "grad_cosine").values())
        if imbalance:
            rows.append([_label(key), kit.format_mean_std(imbalance, digits=3),
                         kit.format_mean_std(cosine, digits=3), str(len(imbalance))])
    if not rows:
        return []
    lines = ["## Gradient balance of the class affines", "",
             "The abstract's mechanism claim: the sandwich affine \"promotes balanced gradient "
             "norms while preserving diverse gradient directions\" of the per-class affines. "
             "Per norm layer and generator step: imbalance = std / mean of the gradient norms of "
             "the classes in the batch (0: balanced), cosine = their mean pairwise cosine "
             "similarity; averaged over layers and iterations; mean ± std over seeds.", "",
             kit.markdown_table(["generator", "imbalance", "cosine", "seeds"], rows), ""]
    for column, name, label in ((1, "imbalance", "gradient-norm imbalance (std / mean)"),
                                (2, "cosine", "mean pairwise gradient cosine")):
        curves = _balance_curves(train, column)
        if curves:
            png = plot_fid_curves(curves, output.parent / f"{output.stem}-grad-{name}.png",
                                  ylabel=label)
            lines += [kit.image(png.name, label), ""]
    return lines


def _grids(records: Sequence[tuple[Path, ResultRecord]], output: Path) -> list[str]:
    lines = []
    for path, record in records:
        if record.kind != "sample" or "image" not in record.extras:
            continue
        source = path.parent / record.extras["image"]
        if not source.is_file():
            continue
        key = (record.subject.get("generator") or "", record.subject.get("norm") or "")
        target = output.parent / f"{output.stem}-{key[0]}-{key[1]}.png"
        if source.resolve() != target.resolve():
            shutil.copyfile(source, target)
        lines.append(f"**{_label(key)}** (seed {record.subject.get('seed', 0)}, one row per "
                     f"class {record.extras.get('classes')})\n\n" + kit.image(target.name,
                                                                            _label(key)))
    return lines


def _join(values: Sequence[object]) -> str:
    return ", ".join(str(v) for v in values) or "?"


def render_gan_report(records: Sequence[tuple[Path, ResultRecord]], output: str | Path, *,
                      command: str, suite_command: str | None = None,
                      warnings: Sequence[str] = (), reference: str = "ccbn",
                      title: str | None = None, notes: Sequence[str] = ()) -> Path:
    """Write the Markdown report of GAN records (and its PNGs beside it) to ``output``."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    evals, train = _groups(records, "evaluation"), _groups(records, "training")
    features = _features(evals)
    dataset = next((r.subject.get("dataset") for _, r in records if r.subject.get("dataset")),
                   "?")
    parts = [f"# {title or f'Conditional GAN benchmark: {dataset}'}", ""]
    refs = [r for _, r in records if r.kind == "reference"]
    if features == "classifier":
        accuracy = refs[0].value("test_accuracy") if refs else None
        acc_text = f"{100 * accuracy:.2f} %" if accuracy is not None else "not recorded"
        parts += [f"**Every FID and IS here is {CLASSIFIER_LABEL}.** They use the features and "
                  "logits of a reference classifier trained on the dataset (test accuracy "
                  f"{acc_text}); the FID/IS math is torchmetrics'.", ""]
    sample_counts = sorted({m.n for runs in evals.values() for r in runs.values()
                            for m in r.metrics if m.n})
    iterations = sorted({r.extras.get("iterations") for runs in train.values()
                         for r in runs.values()} - {None})
    parts += [f"Setup: {len(evals)} generator/norm rows; {_join(iterations)} generator "
              f"iterations; FID against the first {_join(sample_counts)} real test images with "
              "as many "
              "fakes (classes balanced); IS over 10 splits; intra-FID is the mean over classes "
              "of the per-class FID; conditional accuracy is the share of class-k fakes the "
              "reference classifier calls k.", *[f"\n{n}" for n in notes], ""]
    curves = _curves(train)
    parts += ["## What it shows", ""]
    shown = (findings(evals, reference, features) + chance_findings(evals, train)
             + curve_findings(curves, features)
             + conditioning_findings(_curves(train, "probe_cond_acc")))
    if refs and features == "classifier" and refs[0].value("fid") is not None:
        best_is = max((kit.mean_std(list(_values(r, "is").values()))[0]
                       for r in evals.values() if _values(r, "is")), default=None)
        best_fid = min((kit.mean_std(list(_values(r, "fid").values()))[0]
                        for r in evals.values() if _values(r, "fid")), default=None)
        if best_is is not None and best_fid is not None:
            shown.append(f"Scale: real test images score classifier IS "
                         f"{refs[0].value('is'):.2f} and classifier FID "
                         f"{refs[0].value('fid'):.2f} against other real images; the best "
                         f"generator rows reach {best_is:.2f} and {best_fid:.2f}.")
    shown.append(PAPER_CLAIM)
    parts += [f"- {line}" for line in shown] or ["- Nothing to compare yet."]
    table = score_table(evals, features, refs[0] if refs else None)
    parts += ["", "## IS and FID (mean ± std over seeds)", "", table, ""]
    if refs and refs[0].value("fid") is not None and features == "classifier":
        n_real = refs[0].find("fid")[0].n
        parts += [f"The real-images row scores {n_real} test images against the next {n_real} "
                  "(FID) and by themselves (IS); its accuracy column is the reference "
                  "classifier's test accuracy. It is the scale the generators are read on.", ""]
    differences = difference_tables(evals, reference, features)
    if differences:
        parts += [f"## Differences vs {norm_label(reference)} (paired over seeds, 95 % CI)", "",
                  "\n\n".join(differences), ""]
    if curves:
        png = plot_fid_curves(curves, output.parent / f"{output.stem}-fid-curve.png",
                              ylabel=f"{'classifier ' if features == 'classifier' else ''}"
                              "FID (probe)")
        n_probe = sorted({m.n for runs in train.values() for r in runs.values()
                          for m in r.find("probe_fid") if m.n})
        parts += ["## FID over training iterations", "",
                  f"Probe FID of the EMA generator on {_join(n_probe)} fakes (fixed latents), "
                  "each seed thin, the mean thick.", "",
                  kit.image(png.name, "FID over iterations"), ""]
    parts += gradient_balance_lines(train, output)
    grids = _grids(records, output)
    if grids:
        parts += ["## Samples (EMA generator)", "", "\n\n".join(grids), ""]
    parts += [kit.warnings_section(list(warnings)), "",
              kit.provenance_footer([r for _, r in records], command, suite_command)]
    return kit.write_markdown(output, "\n".join(parts))
