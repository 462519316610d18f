"""The studies by name: each has `check(study, base)` (before anything starts; its rules across fields),
`run(study, run_dir, emit)` and the StudyConfig knobs it reads of its own (`reads`: StudyConfig.check holds them to
their metadata's choices and limits, and leaves the other studies' knobs be). Their modules import torch only
inside functions, so listing them is cheap."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from training.studies import comparison, efficiency, rank, tasks


@dataclass(frozen=True)
class Study:
    check: Callable
    run: Callable
    description: str
    reads: tuple[str, ...] = ()  # its own StudyConfig fields (every study reads metric, benchmark ...)


SELECTING = ("selections", "pool", "select_rule", "select_k", "lissa_scale", "lissa_damping", "lissa_depth",
             "shapley_resamples", "shapley_permutations")
STUDIES = {
    "lora-rank": Study(rank.check, rank.run, "LoRA at several ranks and the intrinsic dimension; alpha = k × rank",
                       reads=("ranks", "alpha_k", "intrinsic", "intrinsic_examples")),
    "method-comparison": Study(comparison.check, comparison.run,
                               "full, LoRA, IA3, BitFit × no selection, influence, Shapley",
                               reads=("methods", *SELECTING)),
    "data-efficiency": Study(efficiency.check, efficiency.run, "the metric against training-set size",
                             reads=("sizes", "epsilon")),
    "task-comparison": Study(tasks.check, tasks.run, "SFT vs DPO vs GRPO (any tasks) on one benchmark, same budget",
                             reads=("arms",)),
    "data-selection": Study(comparison.check_selection, comparison.run_selection,
                            "influence (LiSSA) and TS-DShapley scores; train + selected vs train + all",
                            reads=SELECTING),
}
