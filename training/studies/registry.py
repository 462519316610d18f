"""The studies by name: each has `check(study, base)` (before anything starts) and `run(study, run_dir, emit)`.
Their modules import torch only inside functions, so listing them is cheap."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from training.studies import comparison, efficiency, rank


@dataclass(frozen=True)
class Study:
    check: Callable
    run: Callable
    description: str


STUDIES = {
    "lora-rank": Study(rank.check, rank.run, "LoRA at several ranks and the intrinsic dimension; alpha = k × rank"),
    "method-comparison": Study(comparison.check, comparison.run,
                               "full, LoRA, IA3, BitFit × no selection, influence, Shapley"),
    "data-efficiency": Study(efficiency.check, efficiency.run, "the metric against training-set size"),
    "data-selection": Study(comparison.check_selection, comparison.run_selection,
                            "influence (LiSSA) and TS-DShapley scores; train + selected vs train + all"),
}
