"""A transformers causal LM behind the ChatModel API: chat template, context truncation, batching, streaming.

Every forward pass runs on the process's single compute thread (models/compute.py explains why); that also
serialises generation, so one loaded model is shared safely by every chat session.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from models import compute
from models.errors import ModelError
from models.generation import (
    ChatModel, ChoiceScores, Generation, GenerationParams, LabelScore, Message, TextStream, check_labels, cut_at_stop,
    validate_messages,
)

PLAIN_TEMPLATE_NOTE = "This model has no chat template, so a plain 'User:/Assistant:' prompt was used."
# Choice scoring runs a prefix that every prompt of a batch shares (system prompt, few-shot examples) once, when
# it is at least this many tokens; below that the extra forward pass costs more than it saves.
SHARED_PREFIX_MIN_TOKENS = 16


def pick_device_and_dtype(dtype_name: str):
    """auto: bfloat16 on CPU (about 2x float32 speed on 2 cores) and on GPUs that support it, else float16.
    exact: float32 on CPU, where bfloat16 makes greedy answers depend on the batch size; auto on a GPU."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype_name == "exact":
        dtype_name = "float32" if device == "cpu" else "auto"
    if dtype_name != "auto":
        dtype = getattr(torch, dtype_name, None)
        if not isinstance(dtype, torch.dtype):
            raise ModelError(f"PHARMATUNE_DTYPE={dtype_name!r} is not a torch dtype (try float32 or bfloat16).")
        return device, dtype
    if device == "cuda":
        return device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return device, torch.bfloat16


def counting_streamer(tokenizer, timeout: float):
    """A TextIteratorStreamer that also counts generated tokens (defined here so transformers loads only on use)."""
    from transformers import TextIteratorStreamer

    class Counting(TextIteratorStreamer):
        generated = 0

        def put(self, value):
            if not (self.skip_prompt and self.next_tokens_are_prompt):
                self.generated += int(value.numel())
            super().put(value)

    return Counting(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=timeout)


class TransformersChatModel(ChatModel):
    def __init__(self, ref: str, model, tokenizer, *, notes: list[str] | None = None):
        self.ref = ref
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.load_notes = list(notes or [])
        self.memory_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
        self.context_length = int(getattr(model.config, "max_position_embeddings", 0) or 2048)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"

    # -- prompts -------------------------------------------------------------------------------------------
    def _encode(self, messages: list[Message]) -> list[int]:
        if self.tokenizer.chat_template:
            enc = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
            return list(enc["input_ids"])
        return self.tokenizer(self._prompt_text(messages))["input_ids"]

    def _prompt_text(self, messages: list[Message]) -> str:
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return "".join(f"{m['role'].capitalize()}: {m['content']}\n" for m in messages) + "Assistant:"

    def prompt_ids(self, messages: list[Message], max_new_tokens: int) -> tuple[list[int], list[str]]:
        """Token ids of the prompt, cut to fit the context with room for the answer, and notes saying what was cut."""
        validate_messages(messages)
        notes = [] if self.tokenizer.chat_template else [PLAIN_TEMPLATE_NOTE]
        budget = self.context_length - max_new_tokens
        if budget < 16:
            raise ModelError(
                f"max new tokens ({max_new_tokens}) leaves no room for the prompt in {self.ref}'s "
                f"{self.context_length}-token context; lower it."
            )
        ids = self._encode(messages)
        if len(ids) <= budget:
            return ids, notes
        system = [m for m in messages[:1] if m["role"] == "system"]
        turns = messages[len(system):]
        dropped = 0
        while len(turns) > 1 and len(ids) > budget:
            turns = turns[2:] if len(turns) > 2 else turns[1:]
            dropped += 1
            ids = self._encode(system + turns)
        if dropped:
            notes.append(f"Earlier turns were left out to fit {self.ref}'s {self.context_length}-token context.")
        if len(ids) > budget:
            last = turns[-1]
            content_ids = self.tokenizer(last["content"], add_special_tokens=False)["input_ids"]
            overflow = len(ids) - budget
            keep = len(content_ids) - overflow
            if keep < 1:
                raise ModelError(f"The system prompt alone is longer than {self.ref}'s context; shorten it.")
            cut = self.tokenizer.decode(content_ids[:keep])
            ids = self._encode(system + turns[:-1] + [{"role": "user", "content": cut}])[:budget]
            notes.append(
                f"Your message was {len(content_ids)} tokens; {self.ref} reads {self.context_length} tokens "
                f"in all, so its last {overflow} tokens were cut."
            )
        return ids, notes

    def _generate_kwargs(self, params: GenerationParams) -> dict:
        kwargs = dict(
            max_new_tokens=params.max_new_tokens,
            do_sample=not params.greedy,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        if params.greedy:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=None)
        if params.stop:
            kwargs.update(stop_strings=params.stop, tokenizer=self.tokenizer)
        if params.repetition_penalty != 1:
            kwargs["repetition_penalty"] = float(params.repetition_penalty)
        if params.no_repeat_ngram_size:
            kwargs["no_repeat_ngram_size"] = int(params.no_repeat_ngram_size)
        return kwargs

    def _seed(self, params: GenerationParams) -> None:
        if params.seed is not None:
            import torch

            torch.manual_seed(params.seed)

    # -- batch ---------------------------------------------------------------------------------------------
    def generate(self, conversations: list[list[Message]], params: GenerationParams) -> list[Generation]:
        """Left-padded batch generation; each answer is cut at the first stop string."""
        import torch

        prompts = [self.prompt_ids(m, params.max_new_tokens) for m in conversations]
        width = max(len(ids) for ids, _ in prompts)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids, _ in prompts])
        attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids, _ in prompts])
        device = self.model.device

        def run():
            with torch.inference_mode():
                self._seed(params)
                start = time.perf_counter()
                out = self.model.generate(
                    input_ids=input_ids.to(device), attention_mask=attention.to(device),
                    **self._generate_kwargs(params),
                )
                return out, time.perf_counter() - start

        out, seconds = compute.run(run)
        eos = set(self._eos_ids())
        results = []
        for row, (ids, notes) in zip(out[:, width:].tolist(), prompts):
            n = next((i for i, t in enumerate(row) if t in eos), len(row))
            text, stopped = cut_at_stop(self.tokenizer.decode(row[:n], skip_special_tokens=True), params.stop)
            finish = "stop" if stopped or n < len(row) else "length"
            results.append(Generation(text, len(ids), n, seconds, None, finish, notes))
        return results

    def _eos_ids(self) -> list[int]:
        eos = self.model.generation_config.eos_token_id
        ids = eos if isinstance(eos, list) else [eos]
        return [i for i in ids + [self.tokenizer.eos_token_id] if i is not None]

    # -- choice scoring ------------------------------------------------------------------------------------
    def label_ids(self, messages: list[Message], label: str) -> list[int]:
        """The label's tokens as the model would write them right after this prompt: the text prompt + label is
        tokenized and the prompt's own tokens are cut off, so a merge at the boundary cannot shift them (as
        lm-evaluation-harness does). When the two disagree at the boundary, the label is tokenized alone."""
        text = self._prompt_text(messages)
        context = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        whole = self.tokenizer(text + label, add_special_tokens=False)["input_ids"]
        ids = whole[len(context):] if whole[: len(context)] == context else \
            self.tokenizer(label, add_special_tokens=False)["input_ids"]
        if not ids:
            raise ModelError(f"The label {label!r} tokenizes to nothing for {self.ref}, so it cannot be scored; "
                             "give it visible text.")
        return list(ids)

    def choice_logprobs(self, conversations: list[list[Message]], labels: list[str]) -> list[ChoiceScores]:
        """Each label's summed log-probability after the chat-templated prompt, with its token count.

        The prompt runs once per item (left-padded batch); every label is scored from that pass's cache, so
        n labels never cost n prompts. A prefix all prompts share (system prompt, few-shot examples) runs once
        per batch. Only labels longer than one token need a second, short pass (their tokens after the first)."""
        labels = check_labels(labels)
        prepared = []
        for messages in conversations:
            per_label = {label: self.label_ids(messages, label) for label in labels}
            longest = max(len(ids) for ids in per_label.values())
            ids, _ = self.prompt_ids(messages, longest)
            prepared.append((ids, per_label))
        if not prepared:
            return []
        return compute.run(self._score_choices, prepared)

    def _score_choices(self, prepared: list[tuple[list[int], dict[str, list[int]]]]) -> list[ChoiceScores]:
        import torch

        device, pad = self.model.device, self.tokenizer.pad_token_id
        prompts = [ids for ids, _ in prepared]
        shared = _common_prefix(prompts, cap=min(len(ids) for ids in prompts) - 1)
        if len(prompts) < 2 or shared < SHARED_PREFIX_MIN_TOKENS:
            shared = 0
        with torch.inference_mode():
            cache = None
            if shared:
                cache = self.model(input_ids=torch.tensor([prompts[0][:shared]], device=device), use_cache=True,
                                   logits_to_keep=1).past_key_values
                cache.batch_repeat_interleave(len(prompts))
            # The rest of each prompt, left-padded after the shared part; positions continue from the prefix.
            tails = [ids[shared:] for ids in prompts]
            width = max(len(t) for t in tails)
            input_ids = [[pad] * (width - len(t)) + t for t in tails]
            mask = [[1] * shared + [0] * (width - len(t)) + [1] * len(t) for t in tails]
            positions = [[0] * (width - len(t)) + list(range(shared, shared + len(t))) for t in tails]
            out = self.model(input_ids=torch.tensor(input_ids, device=device),
                             attention_mask=torch.tensor(mask, device=device),
                             position_ids=torch.tensor(positions, device=device),
                             past_key_values=cache, use_cache=True, logits_to_keep=1)
            first = out.logits[:, -1].float().log_softmax(-1)
            # Labels of several tokens: their tokens after the first, right-padded, on copies of each item's cache.
            rows = [(b, label, ids) for b, (_, per_label) in enumerate(prepared)
                    for label, ids in per_label.items() if len(ids) > 1]
            rest: dict[tuple[int, str], float] = {}
            if rows:
                cache = out.past_key_values
                cache.batch_select_indices(torch.tensor([b for b, _, _ in rows], device=device))
                steps = max(len(ids) for _, _, ids in rows) - 1
                feed = [ids[:-1] + [pad] * (steps - len(ids) + 1) for _, _, ids in rows]
                row_mask = [mask[b] + [1] * (len(ids) - 1) + [0] * (steps - len(ids) + 1) for b, _, ids in rows]
                row_pos = [list(range(len(prompts[b]), len(prompts[b]) + steps)) for b, _, _ in rows]
                logits = self.model(input_ids=torch.tensor(feed, device=device),
                                    attention_mask=torch.tensor(row_mask, device=device),
                                    position_ids=torch.tensor(row_pos, device=device),
                                    past_key_values=cache, use_cache=False).logits.float().log_softmax(-1)
                for r, (b, label, ids) in enumerate(rows):
                    steps_of = torch.arange(len(ids) - 1, device=logits.device)
                    picked = logits[r, steps_of, torch.tensor(ids[1:], device=logits.device)]
                    rest[(b, label)] = float(picked.sum())
        results = []
        for b, (ids, per_label) in enumerate(prepared):
            scores = {label: LabelScore(float(first[b, lids[0]]) + rest.get((b, label), 0.0), len(lids))
                      for label, lids in per_label.items()}
            results.append(ChoiceScores(scores, prompt_tokens=len(ids)))
        return results

    # -- streaming -----------------------------------------------------------------------------------------
    def stream(self, messages: list[Message], params: GenerationParams) -> TextStream:
        """Generate on the compute thread and hand text over as tokens arrive; closing the stream stops it."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        ids, notes = self.prompt_ids(messages, params.max_new_tokens)
        streamer = counting_streamer(self.tokenizer, timeout=600)
        cancelled = threading.Event()

        class StopWhenCancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return cancelled.is_set()

        errors: list[BaseException] = []

        def run():
            try:
                with torch.inference_mode():
                    self._seed(params)
                    self.model.generate(
                        input_ids=torch.tensor([ids], device=self.model.device),
                        attention_mask=torch.ones(1, len(ids), dtype=torch.long, device=self.model.device),
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([StopWhenCancelled()]),
                        **self._generate_kwargs(params),
                    )
            except BaseException as exc:  # surfaced to the reader below, never lost in the thread
                errors.append(exc)
                streamer.end()

        def chunks():
            if compute.on_compute_thread():  # no other thread could run the job: generate first, then hand it over
                self.last_job = None
                run()
            else:
                self.last_job = compute.submit(run)
            for piece in streamer:
                yield piece
            if self.last_job is not None:
                self.last_job.result()
            if errors:
                raise ModelError(f"{self.ref} failed while generating: {errors[0]}") from errors[0]

        return TextStream(
            chunks(), params, prompt_tokens=len(ids), notes=notes,
            count_tokens=lambda: streamer.generated, cancel=cancelled.set,
        )


def _common_prefix(sequences: list[list[int]], cap: int) -> int:
    """How many leading tokens every sequence shares, at most `cap`."""
    first = sequences[0]
    n = 0
    while n < cap and all(len(s) > n and s[n] == first[n] for s in sequences):
        n += 1
    return n


def load_folder(ref: str, folder: str | Path, *, adapter: str | Path | None = None, notes=None) -> TransformersChatModel:
    """Load a transformers folder (or hub id), optionally with a PEFT adapter merged in for speed."""
    return compute.run(_load_folder, ref, folder, adapter, notes)


def _load_folder(ref, folder, adapter, notes) -> TransformersChatModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import settings

    device, dtype = pick_device_and_dtype(settings.inference_dtype())
    trust = settings.trust_remote_code()
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype, trust_remote_code=trust)
    tokenizer_source = folder
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
        if (Path(adapter) / "tokenizer_config.json").exists():
            tokenizer_source = adapter
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_source), trust_remote_code=trust)
    return TransformersChatModel(ref, model.to(device), tokenizer, notes=notes)
