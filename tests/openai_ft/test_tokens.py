"""Token counts are tiktoken's own, offline, with the cookbook's per-message billing rule."""
import json
import re
from pathlib import Path

import pytest

from openai_ft import tokens


def test_the_bundled_vocabularies_are_the_files_tiktoken_expects():
    import tiktoken_ext.openai_public as public

    source = Path(public.__file__).read_text()
    for name, (url, digest) in tokens.SOURCES.items():
        # tiktoken's own constructor names the same URL and hash
        assert re.search(re.escape(url) + r'",\s*expected_hash="' + digest, source), name
        assert tokens.prime_cache(name).is_file()


@pytest.mark.parametrize("name,text,ids", [
    ("o200k_base", "hello world", [24912, 2375]),
    ("cl100k_base", "hello world", [15339, 1917]),
])
def test_known_token_ids(name, text, ids):
    assert tokens.encoding(name).encode(text) == ids


def test_models_map_to_tiktokens_encodings():
    assert tokens.encoding_name("gpt-4o-2024-08-06") == "o200k_base"
    assert tokens.encoding_name("openai:ft:gpt-4o-mini-2024-07-18:org::abc") == "o200k_base"
    assert tokens.encoding_name("gpt-3.5-turbo-0125") == "cl100k_base"


def test_the_billing_rule_on_one_message():
    # 3 framing + "user" (1) + "hello world" (2) + 3 reply priming; a name adds its tokens + 1
    assert tokens.count_messages_naive([{"role": "user", "content": "hello world"}]) == 9
    assert tokens.count_messages_naive([{"role": "user", "content": "hello world", "name": "ana"}]) == 9 + 1 + 1


def test_fast_counter_equals_a_plain_tiktoken_loop_on_a_known_file():
    rows = [
        [{"role": "system", "content": "You are a pharmacist."}, {"role": "user", "content": "Warfarin + fluconazole?"},
         {"role": "assistant", "content": "Interaction: CYP2C9 inhibition raises INR.", "weight": 1}],
        [{"role": "user", "content": "Énoncé: ibuprofène ✓ 日本語 <|endoftext|>", "name": "dr_b"},
         {"role": "assistant", "content": [{"type": "text", "text": "No "}, {"type": "text", "text": "interaction."}],
          "weight": 0}],
        [{"role": "user", "content": "SMILES CC(=O)OC1=CC=CC=C1C(=O)O"}, {"role": "assistant", "content": "aspirin"}],
    ] * 5
    for name in ("o200k_base", "cl100k_base"):
        fast = tokens.ChatCounter(name).count_examples(rows)
        enc = tokens.encoding(name)
        plain = []
        for messages in rows:
            total = 3
            for m in messages:
                content = m["content"] if isinstance(m["content"], str) else "".join(p["text"] for p in m["content"])
                total += 3 + len(enc.encode(m["role"], disallowed_special=())) + len(enc.encode(content, disallowed_special=()))
                if "name" in m:
                    total += 1 + len(enc.encode(m["name"]))
            plain.append(total)
        assert fast == plain == [tokens.count_messages_naive(m, name) for m in rows]
        json.dumps(fast)
