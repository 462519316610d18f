"""A study takes its metric's direction from the metric registry, never from the metric's spelling."""
import pytest

from training.config import ConfigError
from training.studies import rank
from training.studies.config import StudyConfig, higher_is_better
from training.studies.efficiency import saturation


@pytest.mark.parametrize("metric, higher", [
    ("eval_loss", False),        # the Trainer's own validation loss
    ("eval_rmse", False),        # a regression head's validation RMSE: regression's `rmse` output
    ("eval_accuracy", True),     # a classification head's: classification's `accuracy` output
    ("unparseable", False),      # a benchmark output registered lower-is-better, with no "loss"/"rmse" in its name
    ("mcc", True), ("questeval", True), ("tanimoto", True),
])
def test_the_direction_comes_from_the_registry(metric, higher):
    assert higher_is_better(metric) is higher
    assert StudyConfig(study="data-efficiency", train={}, metric=metric).lower_is_better() is (not higher)


def test_an_unknown_metric_is_refused_not_guessed():
    with pytest.raises(ConfigError, match="'eval_perplexty'.*unknown"):
        higher_is_better("eval_perplexty")


def test_a_study_on_unparseable_saturates_at_the_lowest_count():
    """Data efficiency on `unparseable` (lower is better): the best is the fewest unparseable answers (2 at 400),
    and 200 is the smallest size within 50 % of it. Ranked the wrong way round, the best would be 30 at 50."""
    study = StudyConfig(study="data-efficiency", train={}, metric="unparseable", epsilon=0.5)
    points = [(50, 30.0), (100, 12.0), (200, 3.0), (400, 2.0)]
    assert saturation(points, study.epsilon, study.lower_is_better()) == 200


def test_the_rank_table_places_lower_losses_and_higher_scores_first():
    rows = [{"label": "r1", "eval_loss": 2.0, "token_f1": 0.1}, {"label": "r8", "eval_loss": 1.0, "token_f1": 0.3}]
    columns = [c for c in rank.COLUMNS if c[0] in ("eval_loss", "token_f1")]
    rank._rankings(rows, columns)
    assert [r["eval_loss_place"] for r in rows] == [2, 1]
    assert [r["token_f1_place"] for r in rows] == [2, 1]


def test_the_studies_page_names_the_run_with_the_fewest_unparseable_answers_best():
    from training.search.progress import StudyProgress

    progress = StudyProgress("study-x", kind="study", config={"metric": "unparseable"})
    for label, unparseable in (("n50", 30.0), ("n200", 3.0), ("n100", 12.0)):
        progress.apply({"event": "study_run", "label": label, "state": "complete", "run_id": f"study-x-{label}",
                        "metrics": {"unparseable": unparseable}})
    assert progress.best_study_run()["label"] == "n200"
