"""One branch's evaluation, batch by batch, split across the ranks of a distributed run.

The evaluated examples are cut into global batches of ``batch_size`` (batch b holds examples
``b*batch_size .. (b+1)*batch_size - 1``). Every random choice of batch b comes from
``seed + b``: torch is seeded with it before each attack on the batch, and it is AutoAttack's
seed for the batch, whose whole cascade runs on that batch (later attacks on the batch's points
still robust). So a batch's flags depend on nothing but the batch, and ranks that each take a
contiguous block of batches (:func:`plan_batches`) give, once gathered, exactly the flags of
one process with the same batch size. For the same reason a killed evaluation resumes from its
state file (:mod:`robust_sabn.evaluate.journal`) with the flags of an uninterrupted run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from robust_sabn.attacks.autoattack_adapter import AUTOATTACK_PRESETS, CascadeStep
from robust_sabn.attacks.registry import WholeSetAttack, attack_key, make_attack
from robust_sabn.evaluate.journal import EvaluationJournal
from robust_sabn.evaluate.progress import EvaluationProgress, StageProgress
from robust_sabn.parallel.context import DistContext
from robust_sabn.vocabulary import CLEAN_ATTACK


@dataclass(frozen=True)
class BatchPlan:
    """The global batches of an evaluation and the ones this process runs.

    Attributes:
        n: examples evaluated.
        batch_size: examples per global batch (the last may be smaller).
        batches: global indices of this process's batches, ascending.
    """

    n: int
    batch_size: int
    batches: tuple[int, ...]

    def bounds(self, batch: int) -> tuple[int, int]:
        """(first example, one past the last) of global batch ``batch``."""
        return batch * self.batch_size, min((batch + 1) * self.batch_size, self.n)


def plan_batches(n: int, batch_size: int, ctx: DistContext | None) -> BatchPlan:
    """Every batch for one process; a contiguous, balanced block of batches per rank otherwise
    (rank r of W gets batches ``floor(B*r/W) .. floor(B*(r+1)/W) - 1`` of B)."""
    total = -(-n // batch_size)
    if ctx is None:
        return BatchPlan(n, batch_size, tuple(range(total)))
    start = total * ctx.rank // ctx.world_size
    stop = total * (ctx.rank + 1) // ctx.world_size
    return BatchPlan(n, batch_size, tuple(range(start, stop)))


def _clean_flags(view: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """(B,) bool: whether ``view`` classifies each of (x, y) correctly (no gradients)."""
    with torch.no_grad():  # inference_mode measured no faster (bench/attack_speed.py)
        return view(x).argmax(1).eq(y).cpu()


@dataclass
class _BatchWatcher:
    """Shows each AutoAttack step of a batch and writes it to the state file."""

    stage: StageProgress
    journal: EvaluationJournal | None
    where: tuple[str, str, int]

    def attack_started(self, attack: str, index: int, count: int) -> None:
        self.stage.attack_started(attack, index, count)

    def attack_finished(self, step: CascadeStep) -> None:
        self.stage.attack_finished(step)
        if self.journal is not None:
            self.journal.add_step(*self.where, step)


def _cascade_length(name: str, version: str, autoattack_attacks: Sequence[str] | None) -> int:
    """Bar steps per batch of attack ``name``: AutoAttack's cascade length, else 1."""
    if name != "autoattack":
        return 1
    return len(AUTOATTACK_PRESETS.get(version, autoattack_attacks or ())) or 1


def run_branch_shard(view: nn.Module, x: Tensor, y: Tensor, plan: BatchPlan, *,
                     attacks: Sequence[str], seed: int, progress: EvaluationProgress,
                     branch: str, journal: EvaluationJournal | None = None,
                     **attack_options: Any) -> dict[str, Any]:
    """Clean and attacked flags of this process's batches of one branch.

    Args:
        view: the branch as a ``forward(x)`` model, in eval mode.
        x: all evaluated images (N, C, H, W) in [0, 1]; y: labels (N,).
        plan: the global batches and this process's share.
        attacks: registry names.
        seed: base seed; batch b uses ``seed + b``.
        progress: live display (advanced per batch, and per AutoAttack step).
        branch: the branch's name (for the display and the state file).
        journal: the state file: batches (and AutoAttack steps) it holds are read back, not
            run; those run are written to it.
        attack_options: ``make_attack`` options (eps, threat_model, steps, step_size, version,
            autoattack_attacks, batch_size).

    Returns:
        A picklable part: ``flags`` (key -> {batch: [bool]}), ``details`` (attack name ->
        {batch: JSON details of a whole-set attack}), ``time_s`` (key -> seconds of this
        rank's batches, read-back batches at their recorded time).
    """
    flags: dict[str, dict[int, list[bool]]] = {}
    details: dict[str, dict[int, dict[str, Any]]] = {}
    times: dict[str, float] = {}
    stages = [(CLEAN_ATTACK, None)] + [
        (attack_key(name, steps=attack_options["steps"], version=attack_options["version"]),
         name) for name in attacks]
    for key, name in stages:
        flags[key] = {}
        times[key] = 0.0
        steps = _cascade_length(name or "", attack_options["version"],
                                attack_options["autoattack_attacks"])
        with progress.stage(branch, key, len(plan.batches), steps) as stage:
            for batch in plan.batches:
                finished = journal.batch(branch, key, batch) if journal is not None else None
                if finished is not None:
                    flags[key][batch] = finished.flags
                    if finished.details is not None and name is not None:
                        details.setdefault(name, {})[batch] = finished.details
                    times[key] += finished.seconds
                    stage.advance(sum(finished.flags), len(finished.flags), resumed=True)
                    continue
                start = time.perf_counter()
                lo, hi = plan.bounds(batch)
                correct, detail = _run_batch(view, x[lo:hi], y[lo:hi], name, seed + batch,
                                             _BatchWatcher(stage, journal, (branch, key, batch)),
                                             attack_options)
                flags[key][batch] = correct.tolist()
                if detail is not None and name is not None:
                    details.setdefault(name, {})[batch] = detail
                seconds = time.perf_counter() - start
                times[key] += seconds
                if journal is not None:
                    journal.add_batch(branch, key, batch, flags[key][batch], detail, seconds)
                stage.advance(int(correct.sum()), len(correct))
    return {"flags": flags, "details": details, "time_s": times}


def _run_batch(view: nn.Module, xb: Tensor, yb: Tensor, name: str | None, seed: int,
               watcher: _BatchWatcher, attack_options: dict[str, Any]
               ) -> tuple[Tensor, dict[str, Any] | None]:
    """(B,) flags of one batch (clean when ``name`` is None) and a whole-set attack's details;
    torch and the attack are seeded with ``seed``. AutoAttack continues from the steps of the
    batch the state file holds."""
    if name is None:
        return _clean_flags(view, xb, yb), None
    torch.manual_seed(seed)
    attack = make_attack(name, view, seed=seed, **attack_options)
    if not isinstance(attack, WholeSetAttack):
        return _clean_flags(view, attack(xb, yb), yb), None
    done = watcher.journal.steps(*watcher.where) if watcher.journal is not None else []
    _, detail = attack.evaluate(xb, yb, watcher=watcher, done_steps=done)
    return attack.last_result.robust.cpu(), detail  # type: ignore[attr-defined]


def _combine_details(parts: dict[int, dict[str, Any]], sizes: dict[int, int], n: int
                     ) -> dict[str, Any]:
    """One whole-set entry (AutoAttack: version, attacks, cascade, flags, time_s) from its
    per-batch entries: robust counts summed over batches, flags in first-seen order, stage
    seconds summed."""
    first = parts[min(parts)]
    counts: dict[str, int] = {}
    stage_times: dict[str, float] = {}
    messages: dict[str, None] = {}
    for batch in sorted(parts):
        entry = parts[batch]
        for step in entry.get("cascade", []):
            robust = round(step["robust_accuracy"] * sizes[batch])
            counts[step["attack"]] = counts.get(step["attack"], 0) + robust
        for stage, seconds in (entry.get("time_s") or {}).items():
            stage_times[stage] = stage_times.get(stage, 0.0) + seconds
        messages.update(dict.fromkeys(entry.get("flags", [])))
    combined = {k: v for k, v in first.items() if k not in ("cascade", "flags", "time_s")}
    combined["cascade"] = [{"attack": a, "robust_accuracy": c / n} for a, c in counts.items()]
    combined["flags"] = list(messages)
    combined["time_s"] = stage_times
    return combined


def combine_branch(parts: Sequence[dict[str, Any]], plan: BatchPlan) -> dict[str, Any]:
    """The branch entry of an evaluation record from every rank's part (rank order).

    Returns:
        ``clean_accuracy``, ``robust_accuracy`` (key -> fraction), ``flags`` (key -> N
        booleans in example order), one entry per whole-set attack (its combined details) and
        ``time_s`` (key -> seconds of the slowest rank).
    """
    n = plan.n
    flags: dict[str, list[bool]] = {}
    for key in parts[0]["flags"]:
        by_batch = {b: bits for part in parts for b, bits in part["flags"][key].items()}
        flags[key] = [bit for b in sorted(by_batch) for bit in by_batch[b]]
    entry: dict[str, Any] = {
        "clean_accuracy": sum(flags[CLEAN_ATTACK]) / max(n, 1),
        "robust_accuracy": {k: sum(v) / max(n, 1) for k, v in flags.items()
                            if k != CLEAN_ATTACK},
        "flags": flags,
        "time_s": {k: max(part["time_s"][k] for part in parts) for k in parts[0]["time_s"]},
    }
    sizes = {b: hi - lo for b in range(-(-n // plan.batch_size))
             for lo, hi in [plan.bounds(b)]}
    for name in {name for part in parts for name in part["details"]}:
        by_batch = {b: d for part in parts for b, d in part["details"].get(name, {}).items()}
        entry[name] = _combine_details(by_batch, sizes, n)
    return entry
