"""QuestEval-style metric: the scoring rules with a deterministic judge, the on-disk cache, real judges, evaluate."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import prompts
from evaluation.metrics import METRICS, MetricError
from evaluation.metrics import questeval as qe
from models import registry
from models.dummy import DummyChatModel
from models.generation import ChatModel, Generation

MODULE = Path(__file__).resolve().parents[2] / "evaluation" / "hf_metrics" / "questeval_style"
REFERENCE = ("Warfarin is an anticoagulant. Fluconazole inhibits CYP2C9 enzymes. "
             "Bleeding risk rises with both drugs.")
HALF = "Warfarin is an anticoagulant."


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    """Each test starts with an empty judge cache."""
    monkeypatch.setenv("PHARMATUNE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "questeval"


@pytest.fixture
def calls(monkeypatch) -> list[int]:
    """Batch sizes of every judge call that dummy:judge makes."""
    sizes: list[int] = []
    original = DummyChatModel.generate

    def counting(self, conversations, params):
        sizes.append(len(conversations))
        return original(self, conversations, params)

    monkeypatch.setattr(DummyChatModel, "generate", counting)
    return sizes


def score(predictions, references, **options):
    return qe.questeval(predictions, references, judge=options.pop("judge", "dummy:judge"), **options)


def test_the_metric_is_registered_with_its_options():
    metric = METRICS["questeval"]
    assert metric.kind == "text" and metric.heavy and metric.family == "questeval"
    assert metric.options == ("judge", "questions_per_text", "batch_size", "sanity_items")
    assert metric.outputs == {"questeval": True, "questeval_precision": True, "questeval_recall": True}


def test_identical_texts_score_one():
    r = score([REFERENCE, "Metformin lowers glucose."], [REFERENCE, "Metformin lowers glucose."])
    assert (r["questeval"], r["questeval_precision"], r["questeval_recall"]) == (1.0, 1.0, 1.0)
    assert r["questeval_questions"] == {"precision": 4, "recall": 4, "dropped": 0}


# dummy:judge asks "What about <first three words>?" of each sentence and answers with the rest of the sentence that
# shares most content words with the question, or "unanswerable" when none shares any. The values below are
# worked out by hand from that rule, SQuAD token F1 and the question's own words left out.
UNRELATED = "Metformin lowers hepatic glucose production in type 2 diabetes."
PARTIAL = "Fluconazole inhibits CYP2C9 enzymes in the liver."
MATCHING = "Warfarin is an anticoagulant. Bleeding risk rises with both drugs."


def test_unrelated_texts_score_zero():
    r = score([UNRELATED], [REFERENCE])
    # No sentence of either text shares a content word with the other's questions: every answer from the other
    # text is "unanswerable", so both sides score 0 (1 candidate question, 3 reference questions, none dropped).
    assert (r["questeval"], r["questeval_precision"], r["questeval_recall"]) == (0.0, 0.0, 0.0)
    assert r["questeval_questions"] == {"precision": 1, "recall": 3, "dropped": 0}


def test_a_matching_answer_scores_higher_than_a_partial_and_an_unrelated_one():
    matching, partial, unrelated = (score([p], [REFERENCE]) for p in (MATCHING, PARTIAL, UNRELATED))
    # MATCHING: its 2 questions (warfarin, bleeding) get the same answers from the reference: precision 1.
    # The reference's 3 questions: warfarin and bleeding agree (1, 1), fluconazole is unanswerable (0): recall 2/3.
    # Harmonic mean 2 * 1 * 2/3 / (1 + 2/3) = 0.8.
    assert matching["questeval_precision"] == 1.0
    assert matching["questeval_recall"] == pytest.approx(2 / 3)
    assert matching["questeval"] == pytest.approx(0.8)
    # PARTIAL: "What about Fluconazole inhibits CYP2C9?" is answered "enzymes in the liver" from the candidate and
    # "enzymes" from the reference: token F1 of {enzymes, in, liver} vs {enzymes} = 2 * 1/3 * 1 / (4/3) = 0.5.
    # Precision 0.5; recall (0 + 0.5 + 0) / 3 = 1/6 (warfarin and bleeding are unanswerable from the candidate).
    # Harmonic mean 2 * 0.5 * 1/6 / (0.5 + 1/6) = 0.25.
    assert partial["questeval_precision"] == pytest.approx(0.5)
    assert partial["questeval_recall"] == pytest.approx(1 / 6)
    assert partial["questeval"] == pytest.approx(0.25)
    assert unrelated["questeval"] == 0.0
    assert matching["questeval"] > partial["questeval"] > unrelated["questeval"]


def test_a_candidate_saying_half_the_reference_has_high_precision_and_lower_recall():
    r = score([HALF], [REFERENCE])
    assert r["questeval_precision"] == 1.0
    assert r["questeval_recall"] == pytest.approx(1 / 3)
    assert r["questeval"] == pytest.approx(0.5)


def test_the_judge_is_reported_and_the_default_is_the_builtin_model(monkeypatch):
    assert score([HALF], [REFERENCE])["questeval_judge"] == "dummy:judge"
    asked = []
    monkeypatch.setattr(registry, "resolve", lambda ref, **kw: asked.append(ref) or DummyChatModel("judge"))
    from models.builtin import DEFAULT_MODEL

    assert qe.questeval([HALF], [REFERENCE])["questeval_judge"] == DEFAULT_MODEL == asked[0]


def test_an_unknown_judge_is_a_clear_error_naming_it():
    with pytest.raises(MetricError, match="judge 'dummy:no-such-judge'.*not a dummy behaviour"):
        score([HALF], [REFERENCE], judge="dummy:no-such-judge")
    with pytest.raises(MetricError, match="judge 'hff:some/model'.*Did you mean hf:"):
        score([HALF], [REFERENCE], judge="hff:some/model")


@pytest.mark.parametrize("option,value", [("questions_per_text", 0), ("batch_size", "8"), ("batch_size", True)])
def test_bad_options_are_refused(option, value):
    with pytest.raises(MetricError, match=option):
        score([HALF], [REFERENCE], **{option: value})


def test_judge_calls_are_batched(calls):
    score([HALF, REFERENCE, "Aspirin inhibits COX. It thins blood."], [REFERENCE, HALF, REFERENCE], batch_size=2)
    # Counted by hand, each (text, question) asked once: questions for 3 distinct texts (batches 2 + 1); own answers
    # for HALF's 1, REFERENCE's 3 and the aspirin text's 2 questions (2 + 2 + 2); then the 7 cross pairs not already
    # asked as own answers: HALF x 2 reference questions, REFERENCE x 2 aspirin questions, aspirin x 3 reference
    # questions (2 + 2 + 2 + 1).
    assert calls == [2, 1, 2, 2, 2, 2, 2, 2, 1]


def test_the_cache_makes_a_second_model_pay_only_for_its_own_side(calls, cache):
    references = [REFERENCE, "Metformin lowers glucose. It is first-line in diabetes."]
    first = score([HALF, "Metformin lowers glucose."], references)
    first_calls = sum(calls)
    assert first["questeval_judge_calls"] == first_calls > 0
    [folder] = list(cache.iterdir())  # one folder for this judge and these prompts
    assert len(list((folder / "questions" / "3").glob("*.json"))) == 4
    assert list((folder / "answers").glob("*.json"))
    assert not list(folder.rglob("*.tmp"))

    calls.clear()
    again = score([HALF, "Metformin lowers glucose."], references)
    assert calls == [] and again["questeval_judge_calls"] == 0
    assert {k: v for k, v in again.items() if k != "questeval_judge_calls"} == \
        {k: v for k, v in first.items() if k != "questeval_judge_calls"}

    other_model = score(["Bleeding risk rises with both drugs.", "Metformin is first-line in diabetes."], references)
    assert 0 < other_model["questeval_judge_calls"] == sum(calls) < first_calls


def test_a_damaged_cache_file_is_asked_again(calls, cache):
    score([HALF], [REFERENCE])
    for path in cache.rglob("*.json"):
        path.write_text("{not json", encoding="utf-8")
    calls.clear()
    assert score([HALF], [REFERENCE])["questeval"] == pytest.approx(0.5)
    assert sum(calls) > 0


def test_a_run_that_fails_halfway_keeps_the_batches_it_paid_for(monkeypatch, cache):
    from models.errors import ModelError

    original = DummyChatModel.generate
    seen = []

    def fail_second_batch(self, conversations, params):
        seen.append(len(conversations))
        if len(seen) == 2:
            raise ModelError("dummy:judge went away")
        return original(self, conversations, params)

    monkeypatch.setattr(DummyChatModel, "generate", fail_second_batch)
    with pytest.raises(ModelError, match="went away"):
        score([HALF, "Aspirin inhibits COX."], [REFERENCE, "Aspirin thins blood."], batch_size=2)
    assert len(list(cache.rglob("questions/3/*.json"))) == 2  # the first batch of question generation


def test_an_item_without_questions_is_left_out_of_that_side():
    r = score(["", HALF], [REFERENCE, HALF])
    assert r["questeval_items_left_out"] == {"precision": 1, "recall": 0}
    assert r["questeval_precision"] == 1.0  # only the second item has candidate questions
    assert r["questeval_recall"] == pytest.approx(0.5)  # an empty candidate answers nothing: 0, then 1


class ScriptedJudge(ChatModel):
    """Asks "What is A?" and "What is B?" of every text; only the reference answers A, nothing answers B."""

    ref = "scripted"
    context_length = None

    def generate(self, conversations, params):
        def answer(prompt: str) -> str:
            if "Question:" not in prompt:
                return "Here are questions:\n1. What is A?\n2. What is B?"
            if "What is B?" in prompt or "Text: the candidate" in prompt:
                return "The text does not say."
            return "Answer: alpha"

        return [Generation(answer(c[-1]["content"])) for c in conversations]


def test_unanswerable_from_the_other_text_scores_zero_and_from_its_own_text_is_dropped(monkeypatch):
    monkeypatch.setattr(registry, "resolve", lambda ref, **kw: ScriptedJudge())
    r = qe.questeval(["the candidate"], ["the reference"], judge="scripted")
    assert r["questeval_recall"] == 0.0  # A: "alpha" from the reference, unanswerable from the candidate
    assert r["questeval_precision"] is None  # the candidate answers neither of its own questions
    assert r["questeval"] == 0.0
    assert r["questeval_questions"] == {"precision": 0, "recall": 1, "dropped": 3}
    assert r["questeval_items_left_out"] == {"precision": 1, "recall": 0}


def test_questions_are_parsed_from_lists_and_capped():
    raw = ("Here are 3 questions:\n\n1. What is X?\n2) Why does Y happen? How is Z made?\n- Q3: What is X?\n"
           "* **Which enzyme?** Answer: CYP2C9\nNot a question\n5. Why?")
    assert qe.parse_questions(raw, 10) == ["What is X?", "Why does Y happen?", "How is Z made?", "Which enzyme?"]
    assert qe.parse_questions(raw, 2) == ["What is X?", "Why does Y happen?"]
    assert qe.parse_questions("unanswerable", 3) == []


@pytest.mark.parametrize("raw,answer", [
    ("Answer: CYP2C9", "CYP2C9"),
    ('The answer to the question is: "inhibits"', "inhibits"),
    ("\nA: warfarin levels rise\nmore text", "warfarin levels rise"),
    ("Unanswerable.", "unanswerable"),
    ("The text does not provide a specific answer.", "unanswerable"),
    ("It doesn't say.", "unanswerable"),
    ("The answer to this question is:", "unanswerable"),
])
def test_answers_are_parsed(raw, answer):
    assert qe.parse_answer(raw) == answer


def test_words_copied_from_the_question_do_not_count():
    question = "What is the purpose of the INR?"
    assert qe.answer_f1("The purpose of the INR is to track clotting.",
                        "The purpose of the INR is to dose warfarin.", question) < 0.4
    assert qe.answer_f1("INR", "the INR", "What is measured?") == 1.0


def test_a_small_transformers_judge_runs_end_to_end(tiny_llama, cache):
    """A random tiny Llama writes no usable questions; with questions in the cache it still answers them."""
    judge = f"hf:{tiny_llama}"
    preds, refs = ["Warfarin interacts with fluconazole.", "Metformin is first-line."], \
        ["Fluconazole inhibits CYP2C9.", "Metformin lowers glucose."]
    r = qe.questeval(preds, refs, judge=judge, batch_size=2)
    store = qe._Store(judge, prompts.load("questeval"))
    raws = [json.loads(store.questions_path(t, 3).read_text(encoding="utf-8"))["raw"] for t in preds + refs]
    assert all(raw.strip() and "?" not in raw for raw in raws)  # what it wrote for each text, with no question
    # No questions anywhere: 4 question calls (one per distinct text), no answer calls, and no score on either side.
    assert r["questeval_judge"] == judge and r["questeval_judge_calls"] == 4
    assert (r["questeval"], r["questeval_precision"], r["questeval_recall"]) == (None, None, None)
    assert r["questeval_questions"] == {"precision": 0, "recall": 0, "dropped": 0}
    assert r["questeval_items_left_out"] == {"precision": 2, "recall": 2}

    questions = ["What does it do?", "Which drug is it?"]
    for text in preds + refs:
        path = store.questions_path(text, 3)
        path.write_text(json.dumps({"raw": "1. What does it do?\n2. Which drug is it?"}), encoding="utf-8")
    r = qe.questeval(preds, refs, judge=judge, batch_size=3)
    # Every text has the same 2 questions, so the cross answers are the own answers of the other text:
    # 4 texts x 2 questions = 8 distinct conversations, each sent once.
    assert r["questeval_judge_calls"] == 8
    assert sum(r["questeval_questions"].values()) == 8  # 2 questions from each of 4 texts
    # The scores from the judge's own (cached) answers, by the rule: a question is kept when its own text answers
    # it, and scores the token F1 of the two answers (0 when the other text's answer is unanswerable).
    answer = {(t, q): qe.parse_answer(json.loads(store.answer_path(t, q).read_text(encoding="utf-8"))["raw"])
              for t in preds + refs for q in questions}

    def side(sources, targets):
        per_item = []
        for src, dst in zip(sources, targets):
            kept = [q for q in questions if answer[(src, q)] != qe.UNANSWERABLE]
            if kept:
                per_item.append(sum(0.0 if answer[(dst, q)] == qe.UNANSWERABLE else
                                    qe.answer_f1(answer[(dst, q)], answer[(src, q)], q) for q in kept) / len(kept))
        return sum(per_item) / len(per_item) if per_item else None

    precision, recall = side(preds, refs), side(refs, preds)
    assert r["questeval_precision"] == pytest.approx(precision) and r["questeval_recall"] == pytest.approx(recall)
    # (This random model writes the same text whatever it is asked, so here every answer agrees: 1.0 throughout.)
    assert precision is not None and recall is not None
    assert r["questeval"] == pytest.approx(2 * precision * recall / (precision + recall) if precision + recall else 0)


def test_the_evaluate_module_gives_the_registry_numbers():
    from evaluation import metrics

    evaluate = pytest.importorskip("evaluate")
    tree = ast.parse((MODULE / "questeval_style.py").read_text(encoding="utf-8"))
    for node in tree.body:  # evaluate reads these lines for its dependency check
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            assert isinstance(node, ast.ImportFrom) or len(node.names) == 1, ast.unparse(node)
            assert "evaluation" not in ast.unparse(node), ast.unparse(node)
    assert (MODULE / "README.md").is_file()

    preds, refs = [HALF, "Aspirin inhibits COX. It thins blood."], [REFERENCE, "Aspirin inhibits COX."]
    expected = metrics.compute("questeval", preds, refs, judge="dummy:judge", questions_per_text=2)
    got = evaluate.load(str(MODULE)).compute(predictions=preds, references=refs, judge="dummy:judge",
                                             questions_per_text=2)
    for key in ("questeval", "questeval_precision", "questeval_recall", "questeval_judge", "questeval_questions"):
        assert got[key] == expected[key], key
    # By hand (2 questions a text): HALF vs REFERENCE gives precision 1, recall (1 + 0) / 2; "Aspirin inhibits
    # COX. It thins blood." vs "Aspirin inhibits COX." gives precision (1 + 0) / 2, recall 1. Means 0.75 and 0.75.
    assert (got["questeval_precision"], got["questeval_recall"]) == (pytest.approx(0.75), pytest.approx(0.75))
    assert got["questeval"] == pytest.approx(0.75)
    assert got["questeval_questions"] == {"precision": 3, "recall": 3, "dropped": 0}
    assert got["questeval_judge_calls"] == 0  # the registry call filled the cache


@pytest.mark.slow
def test_the_builtin_judge_scores_medical_answers(builtin_folder, cache):
    judge = f"hf:{builtin_folder}"
    preds = ["Metformin lowers hepatic glucose production and is first-line therapy for type 2 diabetes.",
             "Fluconazole raises warfarin levels because it inhibits CYP2C9."]
    refs = ["Metformin reduces glucose production in the liver and is the first-line drug for type 2 diabetes.",
            "Fluconazole inhibits CYP2C9, the enzyme that clears warfarin, so the INR and bleeding risk rise."]
    r = qe.questeval(preds, refs, judge=judge, questions_per_text=2)
    questions = {path.stem[:8]: qe.parse_questions(json.loads(path.read_text())["raw"], 2)
                 for path in cache.rglob("questions/2/*.json")}
    print("builtin judge questions:", json.dumps(questions, indent=1))
    print({k: v for k, v in r.items()})
    assert len(questions) == 4 and sum(map(len, questions.values())) >= 4
    assert r["questeval_questions"]["recall"] + r["questeval_questions"]["precision"] > 0
    # Each answer paired with the other item's reference says something else: a working judge scores it lower.
    swapped = qe.questeval(preds[::-1], refs, judge=judge, questions_per_text=2)
    print("swapped:", {k: v for k, v in swapped.items()})
    assert r["questeval"] is not None and swapped["questeval"] is not None
    assert r["questeval"] > swapped["questeval"]


# -- the judge's sanity check: references against themselves and against another reference -----------------------
MEDICAL = ["Warfarin is an anticoagulant. Fluconazole inhibits CYP2C9 enzymes.",
           "Metformin lowers hepatic glucose production. It is first-line in type 2 diabetes.",
           "Amoxicillin treats bacterial infections. Rash is a common adverse event.",
           "Atorvastatin lowers LDL cholesterol. Muscle pain can occur with high doses.",
           "Omeprazole reduces stomach acid. It inhibits the proton pump."]


def test_dummy_judge_separates_a_reference_from_an_unrelated_one():
    r = score(MEDICAL[::-1], MEDICAL)
    sanity = r["questeval_judge_sanity"]
    # Each reference answers its own questions as it did before (1.0); another reference shares no content word
    # with them, so every cross answer is "unanswerable" (0.0).
    assert (sanity["self"], sanity["other"], sanity["gap"], sanity["ok"]) == (1.0, 0.0, 1.0, True)
    assert sanity["items"] == 5 and sanity["margin"] == qe.SANITY_MARGIN and sanity["scored"] == {"self": 5,
                                                                                               "other": 5}
    assert "questeval_judge_warning" not in r
    # The score itself: the predictions are the references reversed, so only the middle one meets its own text.
    assert r["questeval"] == pytest.approx(1 / 5)


class ConstantJudge(ChatModel):
    """Asks the same two questions of every text and answers every question the same: it scores all texts alike."""

    ref = "constant"
    context_length = None

    def generate(self, conversations, params):
        return [Generation("Answer: alpha" if "Question:" in c[-1]["content"] else "1. What is A?\n2. What is B?")
                for c in conversations]


def test_a_judge_that_scores_everything_the_same_is_flagged(monkeypatch):
    monkeypatch.setattr(registry, "resolve", lambda ref, **kw: ConstantJudge())
    r = qe.questeval(["Aspirin thins blood.", "Metformin lowers glucose."], MEDICAL[:2], judge="constant")
    assert r["questeval"] == 1.0  # every prediction "matches" its reference: the score alone does not show it
    sanity = r["questeval_judge_sanity"]
    assert (sanity["self"], sanity["other"], sanity["gap"], sanity["ok"]) == (1.0, 1.0, 0.0, False)
    assert r["questeval_judge_warning"].startswith("judge cannot tell matching from unrelated answers")
    assert "self 1.00 vs other 1.00" in r["questeval_judge_warning"]


def test_a_constant_dummy_model_as_judge_is_flagged():
    # dummy:no-interaction answers "There is no interaction between them." to everything: no question at all.
    r = score(MEDICAL[:3], MEDICAL[:3], judge="dummy:no-interaction")
    assert r["questeval"] is None
    assert r["questeval_judge_sanity"]["ok"] is False and r["questeval_judge_sanity"]["self"] is None
    assert "judge cannot tell matching from unrelated answers" in r["questeval_judge_warning"]
    assert "no question" in r["questeval_judge_warning"]


def test_the_sanity_check_is_capped_seeded_and_costs_only_its_cross_answers(calls):
    plain = score(MEDICAL, MEDICAL, sanity_items=0)
    assert "questeval_judge_sanity" not in plain and "questeval_judge_warning" not in plain
    calls.clear()
    checked = score(MEDICAL, MEDICAL, sanity_items=3)
    sanity = checked["questeval_judge_sanity"]
    assert sanity["items"] == 3 and sanity["seed"] == qe.SANITY_SEED and sanity["ok"] is True
    # Every reference already has its questions and its own answers; only cross answers are new: each of the 3
    # references' 2 questions asked of its partner, and the partner's 2 asked of it (at most 12 conversations).
    assert 0 < sum(calls) == checked["questeval_judge_calls"] <= 12
    assert {k: v for k, v in checked.items() if k.startswith("questeval_") and k.endswith(("precision", "recall"))} \
        == {k: v for k, v in plain.items() if k.startswith("questeval_") and k.endswith(("precision", "recall"))}
    calls.clear()
    again = score(MEDICAL, MEDICAL, sanity_items=3)
    assert again["questeval_judge_sanity"] == sanity and calls == []
    with pytest.raises(MetricError, match="sanity_items"):
        score(MEDICAL, MEDICAL, sanity_items=-1)


def test_too_few_different_references_leave_the_check_undecided():
    r = score([HALF, REFERENCE], [REFERENCE, REFERENCE])
    assert r["questeval_judge_sanity"]["ok"] is None and "two different references" in \
        r["questeval_judge_sanity"]["note"]
    assert "questeval_judge_warning" not in r
