"""The Ollama Modelfile written beside a .gguf file (models.gguf_export): FROM, a Go TEMPLATE derived from a ChatML
chat template (checked against the Jinja template on sample conversations), SYSTEM and the stop parameters.
"""
from __future__ import annotations

import json
from pathlib import Path

from models.errors import ModelError
from models.gguf_vocab import Vocab

MODELFILE = "Modelfile"


def ollama_template(tokenizer, template: str | None) -> tuple[str | None, str | None, str]:
    """(Go TEMPLATE, the template's default system prompt, why not) for Ollama from a ChatML chat template
    (`<|im_start|>role\\ncontent<|im_end|>\\n`). The result is checked against the Jinja template on sample
    conversations; anything else gives (None, None, the reason), and Ollama falls back on the template stored in the
    GGUF (tokenizer.chat_template)."""
    if not template:
        return None, None, "the model has no chat template"
    if "<|im_start|>" not in template:
        return None, None, "its chat template is not ChatML (<|im_start|>), so no Ollama TEMPLATE was derived"
    try:
        alone = tokenizer.apply_chat_template([{"role": "user", "content": "U"}], tokenize=False)
    except Exception as exc:  # noqa: BLE001 - a template that cannot render is reported, not fatal
        return None, None, f"its chat template does not render ({type(exc).__name__})"
    default = None
    head = "<|im_start|>system\n"
    if alone.startswith(head) and "<|im_end|>\n" in alone:
        default = alone[len(head):alone.index("<|im_end|>\n")]
    if default is not None and ("{{" in default or '"""' in default):
        return None, None, "its default system prompt cannot be written into a Go template"
    samples = [
        [{"role": "user", "content": "Does warfarin interact with fluconazole?"}],
        [{"role": "system", "content": "You answer drug questions.\nBe brief."},
         {"role": "user", "content": "What does aspirin inhibit?"}],
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!\nAsk me."},
         {"role": "user", "content": "Is metformin first-line?"}],
        [{"role": "system", "content": "S"}, {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
         {"role": "user", "content": "c"}],
    ]
    for messages in samples:
        try:
            expected = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except Exception as exc:  # noqa: BLE001
            return None, None, f"its chat template does not render a sample conversation ({type(exc).__name__})"
        if render_chatml(messages, default) != expected:
            return None, None, "its chat template differs from plain ChatML, so no Ollama TEMPLATE was derived"
    otherwise = f"{{{{ else }}}}<|im_start|>system\n{default}<|im_end|>\n" if default is not None else ""
    go = ("{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n" + otherwise + "{{ end }}"
          "{{ range $i, $m := .Messages }}{{ if ne $m.Role \"system\" }}<|im_start|>{{ $m.Role }}\n"
          "{{ $m.Content }}<|im_end|>\n{{ end }}"
          "{{ if and (eq (len (slice $.Messages $i)) 1) (ne $m.Role \"assistant\") }}<|im_start|>assistant\n{{ end }}"
          "{{ end }}")
    return go, default, ""


def render_chatml(messages: list[dict], default_system: str | None) -> str:
    """What the Go template from ollama_template renders, in Python (Ollama gives a template the system messages
    joined as .System, and every message in .Messages)."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    if not system and default_system is not None:
        system = default_system
    out = f"<|im_start|>system\n{system}<|im_end|>\n" if system or default_system is not None else ""
    for i, m in enumerate(messages):
        if m["role"] != "system":
            out += f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n"
        if i == len(messages) - 1 and m["role"] != "assistant":
            out += "<|im_start|>assistant\n"
    return out


def modelfile_text(gguf_name: str, *, template: str | None, stops: list[str], system: str | None,
                   what: str, note: str = "") -> str:
    lines = [f"# Ollama Modelfile for {what}, written by PharmaTune beside {gguf_name}.",
             f"# Use: ollama create {Path(gguf_name).stem.lower()} -f Modelfile && ollama run {Path(gguf_name).stem.lower()}",
             f"FROM ./{gguf_name}"]
    if template:
        lines.append(f'TEMPLATE """{template}"""')
    elif note:
        lines.append(f"# No TEMPLATE: {note}; Ollama uses the chat template stored in the GGUF where it knows it.")
    if system:
        lines.append(f'SYSTEM """{system}"""')
    lines += [f"PARAMETER stop {json.dumps(stop)}" for stop in stops]
    return "\n".join(lines) + "\n"


def write_modelfile(target: Path, tokenizer, words: Vocab, *, system: str | None, what: str) -> tuple[Path, str]:
    """The Modelfile beside `target` (atomically); returns it and a note when something could not be carried."""
    from data.io import DiskFull, atomic_write

    template, _default, why = ollama_template(tokenizer, words.chat_template)
    note = why
    if system and '"""' in system:
        note, system = "the data's system prompt contains triple quotes, so the Modelfile has no SYSTEM line", None
    stops = list(words.eog)
    if template and "<|im_start|>" not in stops:
        stops.insert(0, "<|im_start|>")
    path = target.with_name(MODELFILE)
    try:
        with atomic_write(path) as handle:
            handle.write(modelfile_text(target.name, template=template, stops=stops, system=system, what=what,
                                        note=why))
    except DiskFull as exc:  # its sentence names the folder; a ModelError like the rest of the export
        raise ModelError(str(exc)) from None
    return path, note
