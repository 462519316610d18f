"""QuestEval-style factual consistency with a judge model the user chooses.

QuestEval (Scialom et al., 2021) asks questions of one text and checks that the other text gives the same answers;
its package pins libraries that no longer install, so this keeps the idea with any chat model as the judge
(builtin, hf:, run: or openai:). Recall: questions written from the reference, answered from the reference and
from the candidate. Precision: questions written from the candidate, answered from both. The two answers of a
question are compared with SQuAD token F1 (words copied from the question left out); "unanswerable" from the
other text scores 0, and a question the judge cannot answer from its own text is dropped. The headline is the
harmonic mean of precision and recall.

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


@register("questeval", description="QuestEval-style: a judge model asks questions of each text and compares the "
                                   "answers (harmonic mean of precision and recall).",
          outputs={"questeval": True, "questeval_precision": True, "questeval_recall": True},
          heavy=True, options=("judge", "questions_per_text", "batch_size"))
def questeval(predictions: list[str], references: list[str], judge: str | None = None, questions_per_text: int = 3,
              batch_size: int = 8) -> dict:
    """Question-answering consistency between each prediction and its reference, judged by `judge`.

    >>> r = questeval(["Warfarin is an anticoagulant."],
    ...               ["Warfarin is an anticoagulant. It is cleared by CYP2C9 in the liver."], judge="dummy:judge")
    >>> {k: round(v, 3) for k, v in r.items() if k.startswith("questeval") and isinstance(v, float)}
    {'questeval': 0.667, 'questeval_precision': 1.0, 'questeval_recall': 0.5}
    >>> r["questeval_judge"], r["questeval_questions"]
    ('dummy:judge', {'precision': 1, 'recall': 2, 'dropped': 0})
    """
    from models.builtin import DEFAULT_MODEL

    for name, value in (("questions_per_text", questions_per_text), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise MetricError(f"questeval: {name} must be a whole number of at least 1 (got {value!r})")
    ref = (judge or DEFAULT_MODEL).strip()
    asker = _Judge(ref, questions_per_text, batch_size)
    items = [(_one_line(p), _one_line(r)) for p, r in zip(predictions, references)]
    questions = asker.questions({text for item in items for text in item})
    # side name -> (text the questions come from, the other text) for each item
    sides = {"precision": [(p, r) for p, r in items], "recall": [(r, p) for p, r in items]}

    # Ask each question of its own text first: only what that text answers goes to the other text.
    own = asker.answers({(src, q) for pairs in sides.values() for src, _ in pairs for q in questions[src]})
    kept = {side: [[q for q in questions[src] if own[(src, q)] != UNANSWERABLE] for src, _ in pairs]
            for side, pairs in sides.items()}
    other = asker.answers({(dst, q) for side, pairs in sides.items()
                           for (_, dst), qs in zip(pairs, kept[side]) for q in qs})

    result, counts, left_out = {}, {}, {}
    for side, pairs in sides.items():
        scores = []
        for (src, dst), qs in zip(pairs, kept[side]):
            f1 = [0.0 if other[(dst, q)] == UNANSWERABLE else answer_f1(other[(dst, q)], own[(src, q)], q)
                  for q in qs]
            if f1:
                scores.append(sum(f1) / len(f1))
        result[f"questeval_{side}"] = _mean(scores)
        counts[side] = sum(len(qs) for qs in kept[side])
        left_out[side] = len(pairs) - len(scores)
    asked = sum(len(questions[src]) for pairs in sides.values() for src, _ in pairs)
    return {
        "questeval": _harmonic(result["questeval_precision"], result["questeval_recall"]),
        **result,
        "questeval_judge": ref,
        "questeval_questions": {**counts, "dropped": asked - counts["precision"] - counts["recall"]},
        "questeval_items_left_out": left_out,
        "questeval_judge_calls": asker.calls,
    }
