"""QuestEval-style factual consistency with a judge model the user chooses.

QuestEval (Scialom et al., 2021) asks questions of one text and checks that the other text gives the same answers;
its package pins libraries that no longer install, so this keeps the idea with any chat model as the judge
(builtin, hf:, run: or openai:). Recall: questions written from the reference, answered from the reference and
from the candidate. Precision: questions written from the candidate, answered from both. The two answers of a
question are compared with SQuAD token F1 (words copied from the question left out); "unanswerable" from the
other text scores 0, and a question the judge cannot answer from its own text is dropped. The headline is the
harmonic mean of precision and recall.

Beside the score, the judge's sanity: up to 16 of the references (seeded) judged against themselves and against a
random other reference of the same benchmark. A judge that scores the unrelated pair within 0.1 of the matching
one (or asks no question it can answer) is flagged: "judge cannot tell matching from unrelated answers".

The judge's raw outputs are cached on disk by judge, prompts and text (parsed on reading, so a parser fix needs
no new judge calls), and the reference side, the same for every model on a benchmark, is paid for once.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

from evaluation.metrics import MetricError, register
from evaluation.metrics.text import normalize_answer, token_f1_score

QUESTION_TOKENS = 96
ANSWER_TOKENS = 24
QUESTION_STOPS = ["\n\n\n", "Text:"]
ANSWER_STOPS = ["\n\n", "Question:"]
UNANSWERABLE = "unanswerable"
# Ways a judge says "the text does not say", matched after SQuAD normalization ("doesn't" -> "doesnt").
NOT_SAID = re.compile(r"\b(?:unanswerable|not answerable|cannot be answered|no information"
                      r"|(?:does|do|did) ?(?:not|nt) (?:say|provide|specify|mention|state|contain|answer)"
                      r"|not (?:mentioned|stated|provided|specified|given))\b")
_LIST_PREFIX = re.compile(r"^\s*(?:[-*\u2022]+|\(?\d+\s*[.):]|q(?:uestion)?\s*\d*\s*[:.)])\s*", re.IGNORECASE)
_ANSWER_PREFIX = re.compile(
    r"^\s*(?:(?:the\s+)?answer(?:\s+to\s+(?:the|this|your)\s+question)?(?:\s+is)?|a)\s*[:.\-]\s*", re.IGNORECASE)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _one_line(text) -> str:
    """Texts reach the judge on one line: the prompts (and dummy:judge) read the line after "Text:"."""
    return " ".join(str(text or "").split())


def _strip_markers(line: str) -> str:
    previous = None
    while previous != line:
        previous, line = line, _LIST_PREFIX.sub("", line, count=1)
    return line


def parse_questions(raw: str, limit: int) -> list[str]:
    """Questions from a judge's free text: list markers dropped ("1.", "- ", "Q1:"), several questions on a line
    split, text without '?' dropped, duplicates removed, at most `limit`."""
    found, seen = [], set()
    for line in raw.splitlines():
        for piece in re.findall(r"[^?]*\?", line):
            question = _strip_markers(piece).strip().strip("\"'*").strip()
            key = normalize_answer(question)
            if len(key.split()) < 2 or key in seen:
                continue
            seen.add(key)
            found.append(question)
    return found[:limit]


def parse_answer(raw: str) -> str:
    """The first non-empty line without an "Answer:" label; "unanswerable" for any way of saying so, or nothing."""
    line = next((line for line in raw.splitlines() if line.strip()), "")
    answer = _ANSWER_PREFIX.sub("", line).strip().strip("\"'*").strip()
    normal = normalize_answer(answer)
    return UNANSWERABLE if not normal or NOT_SAID.search(normal) else answer


def answer_f1(answer: str, expected: str, question: str) -> float:
    """Token F1 of two answers to `question`, leaving out words copied from the question: a generative judge
    answers "The purpose of the INR is ...", which would make any two answers to a question look alike."""
    asked = set(normalize_answer(question).split())

    def own_words(text: str) -> str:
        words = normalize_answer(text).split()
        return " ".join(w for w in words if w not in asked) or " ".join(words)

    return token_f1_score(own_words(answer), own_words(expected))


class _Store:
    """JSON files under cache_dir()/questeval/<sha256 of judge and prompts>/, written atomically."""

    def __init__(self, judge: str, prompts: dict):
        import settings

        self.root = settings.cache_dir() / "questeval" / _sha(json.dumps([judge, prompts], sort_keys=True))

    def questions_path(self, text: str, limit: int) -> Path:
        return self.root / "questions" / str(limit) / f"{_sha(text)}.json"

    def answer_path(self, text: str, question: str) -> Path:
        return self.root / "answers" / f"{_sha(json.dumps([text, question]))}.json"

    @staticmethod
    def read(path: Path) -> dict | None:
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # missing, or damaged: ask the judge again
            return None
        return value if isinstance(value, dict) and isinstance(value.get("raw"), str) else None

    @staticmethod
    def write(path: Path, value: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(value, f, ensure_ascii=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class _Judge:
    """Asks the judge model in batches and remembers every answer on disk."""

    def __init__(self, ref: str, questions_per_text: int, batch_size: int):
        import prompts
        from models import registry
        from models.errors import ModelError

        self.ref, self.limit, self.batch_size = ref, questions_per_text, batch_size
        self.prompts = prompts.load("questeval")
        self.store = _Store(ref, self.prompts)
        self.calls = 0  # conversations sent to the judge (cache misses)
        try:
            self.model = registry.resolve(ref)
        except ModelError as exc:
            raise MetricError(f"questeval: the judge {ref!r} cannot be used: {exc}") from exc

    def _conversation(self, kind: str, **fields) -> list[dict]:
        prompt = self.prompts[kind]
        return [{"role": "system", "content": prompt["system"]},
                {"role": "user", "content": prompt["user"].format(n=self.limit, **fields)}]

    def _generate(self, conversations: list[list[dict]], max_new_tokens: int, stops: list[str]):
        """The judge's texts in order, one batch at a time, so callers cache each batch before the next runs
        (a long run that stops halfway keeps what it paid for)."""
        from models.generation import GenerationParams

        context = getattr(self.model, "context_length", None)
        if context:  # a judge with a short context keeps three quarters of it for the prompt
            max_new_tokens = max(1, min(max_new_tokens, context // 4))
        params = GenerationParams(max_new_tokens=max_new_tokens, temperature=0.0, stop=list(stops), seed=0)
        for start in range(0, len(conversations), self.batch_size):
            batch = conversations[start:start + self.batch_size]
            texts = [g.text for g in self.model.generate(batch, params)]
            self.calls += len(batch)
            yield from texts

    def questions(self, texts: set[str]) -> dict[str, list[str]]:
        found = {"": []}
        missing = []
        for text in sorted(texts - {""}):
            cached = self.store.read(self.store.questions_path(text, self.limit))
            if cached is None:
                missing.append(text)
            else:
                found[text] = parse_questions(cached["raw"], self.limit)
        raws = self._generate([self._conversation("question_generation", text=t) for t in missing],
                              QUESTION_TOKENS, QUESTION_STOPS)
        for text, raw in zip(missing, raws):
            found[text] = parse_questions(raw, self.limit)
            self.store.write(self.store.questions_path(text, self.limit), {"raw": raw})
        return found

    def answers(self, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
        found = {pair: UNANSWERABLE for pair in pairs if not pair[0]}  # an empty text says nothing
        missing = []
        for pair in sorted(pairs - set(found)):
            cached = self.store.read(self.store.answer_path(*pair))
            if cached is None:
                missing.append(pair)
            else:
                found[pair] = parse_answer(cached["raw"])
        raws = self._generate([self._conversation("answering", text=t, question=q) for t, q in missing],
                              ANSWER_TOKENS, ANSWER_STOPS)
        for pair, raw in zip(missing, raws):
            found[pair] = parse_answer(raw)
            self.store.write(self.store.answer_path(*pair), {"question": pair[1], "raw": raw})
        return found


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _harmonic(precision: float | None, recall: float | None) -> float | None:
    """Harmonic mean; with one side missing (no questions anywhere) the other side stands alone."""
    if precision is None or recall is None:
        return recall if precision is None else precision
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _side_scores(asker: _Judge, items: list[tuple[str, str]]) -> tuple[dict, dict, int]:
    """Per side ("precision": questions from the prediction, "recall": from the reference), each item's mean
    answer F1 (None: no question kept for it); the questions kept per side; the questions asked in all."""
    questions = asker.questions({text for item in items for text in item})
    # side name -> (text the questions come from, the other text) for each item
    sides = {"precision": [(p, r) for p, r in items], "recall": [(r, p) for p, r in items]}

    # Ask each question of its own text first: only what that text answers goes to the other text.
    own = asker.answers({(src, q) for pairs in sides.values() for src, _ in pairs for q in questions[src]})
    kept = {side: [[q for q in questions[src] if own[(src, q)] != UNANSWERABLE] for src, _ in pairs]
            for side, pairs in sides.items()}
    other = asker.answers({(dst, q) for side, pairs in sides.items()
                           for (_, dst), qs in zip(pairs, kept[side]) for q in qs})
    per_item = {}
    for side, pairs in sides.items():
        per_item[side] = []
        for (src, dst), qs in zip(pairs, kept[side]):
            f1 = [0.0 if other[(dst, q)] == UNANSWERABLE else answer_f1(other[(dst, q)], own[(src, q)], q)
                  for q in qs]
            per_item[side].append(sum(f1) / len(f1) if f1 else None)
    counts = {side: sum(len(qs) for qs in kept[side]) for side in sides}
    asked = sum(len(questions[src]) for pairs in sides.values() for src, _ in pairs)
    return per_item, counts, asked


# The judge's sanity check: references judged against themselves and against another reference of the benchmark.
SANITY_ITEMS = 16  # references sampled (each costs its cross answers only: about 2 x questions_per_text calls)
SANITY_SEED = 0
SANITY_MARGIN = 0.1
JUDGE_WARNING = "judge cannot tell matching from unrelated answers"


def judge_sanity(asker: _Judge, references: list[str], items: int = SANITY_ITEMS, seed: int = SANITY_SEED,
                 margin: float = SANITY_MARGIN) -> dict:
    """Whether the judge separates a text from an unrelated one: up to `items` distinct references (seeded),
    each judged against itself ("self") and against a random other reference of the same set ("other"), the
    other one in the prediction's place; each figure is the mean of the items' scores (harmonic mean of an
    item's precision and recall; `scored` counts the items that have one). `ok` is False when self − other is
    below `margin`, or when the judge has no score for one of them (it writes no question its own text answers);
    None with fewer than two different references.

    A deterministic judge gives every text the same answer to a question both times it is asked, so "self" is
    1.0 whenever it has a question to ask; the check is in "other": how far unrelated text falls below that.
    A constant judge (one answer to everything) scores both the same.
    """
    import random

    texts = sorted({r for r in references if r})
    found = {"items": 0, "seed": seed, "margin": margin, "self": None, "other": None, "gap": None, "ok": None}
    if len(texts) < 2:
        return {**found, "note": "needs at least two different references"}
    rng = random.Random(seed)
    chosen = rng.sample(texts, min(items, len(texts)))
    partners = []
    for text in chosen:
        pick = rng.randrange(len(texts) - 1)
        partners.append(texts[pick + (pick >= texts.index(text))])  # any reference but this one

    def mean_score(pairs):
        per_item, _, _ = _side_scores(asker, pairs)
        scores = [s for p, r in zip(per_item["precision"], per_item["recall"])
                  if (s := _harmonic(p, r)) is not None]
        return _mean(scores), len(scores)

    (same, scored_same), (other, scored_other) = mean_score([(t, t) for t in chosen]), \
        mean_score(list(zip(partners, chosen)))
    found.update({"items": len(chosen), "self": same, "other": other,
                  "scored": {"self": scored_same, "other": scored_other}})
    if same is None or other is None:
        return {**found, "ok": False,
                "note": "the judge wrote no question that its own text answers, so it cannot be checked"}
    found["gap"] = same - other
    found["ok"] = found["gap"] >= margin
    return found


@register("questeval", description="QuestEval-style: a judge model asks questions of each text and compares the "
                                   "answers (harmonic mean of precision and recall).",
          outputs={"questeval": True, "questeval_precision": True, "questeval_recall": True},
          heavy=True, options=("judge", "questions_per_text", "batch_size", "sanity_items"))
def questeval(predictions: list[str], references: list[str], judge: str | None = None, questions_per_text: int = 3,
              batch_size: int = 8, sanity_items: int = SANITY_ITEMS) -> dict:
    """Question-answering consistency between each prediction and its reference, judged by `judge`.

    Beside the score, the judge's sanity (`judge_sanity`, on up to `sanity_items` of the references; 0: none):
    a judge that scores an unrelated reference nearly as high as the reference itself is flagged in
    `questeval_judge_warning`.

    >>> r = questeval(["Warfarin is an anticoagulant."],
    ...               ["Warfarin is an anticoagulant. It is cleared by CYP2C9 in the liver."], judge="dummy:judge")
    >>> {k: round(v, 3) for k, v in r.items() if k.startswith("questeval") and isinstance(v, float)}
    {'questeval': 0.667, 'questeval_precision': 1.0, 'questeval_recall': 0.5}
    >>> r["questeval_judge"], r["questeval_questions"]
    ('dummy:judge', {'precision': 1, 'recall': 2, 'dropped': 0})
    """
    from models.builtin import DEFAULT_MODEL

    for name, value, least in (("questions_per_text", questions_per_text, 1), ("batch_size", batch_size, 1),
                               ("sanity_items", sanity_items, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise MetricError(f"questeval: {name} must be a whole number of at least {least} (got {value!r})")
    ref = (judge or DEFAULT_MODEL).strip()
    asker = _Judge(ref, questions_per_text, batch_size)
    items = [(_one_line(p), _one_line(r)) for p, r in zip(predictions, references)]
    per_item, counts, asked = _side_scores(asker, items)
    result = {f"questeval_{side}": _mean([s for s in scores if s is not None]) for side, scores in per_item.items()}
    left_out = {side: sum(1 for s in scores if s is None) for side, scores in per_item.items()}
    out = {
        "questeval": _harmonic(result["questeval_precision"], result["questeval_recall"]),
        **result,
        "questeval_judge": ref,
        "questeval_questions": {**counts, "dropped": asked - counts["precision"] - counts["recall"]},
        "questeval_items_left_out": left_out,
    }
    if sanity_items:
        sanity = judge_sanity(asker, [r for _, r in items], sanity_items)
        out["questeval_judge_sanity"] = sanity
        if sanity["ok"] is False:
            why = (f"self {sanity['self']:.2f} vs other {sanity['other']:.2f}, below the margin {sanity['margin']}"
                   if sanity["gap"] is not None else sanity["note"])
            out["questeval_judge_warning"] = f"{JUDGE_WARNING} ({why})"
    out["questeval_judge_calls"] = asker.calls
    return out
