#!/usr/bin/env python3
"""Builds the Hugging Face conformance fixtures under test/models/fixtures/hf/.

Runs where torch, transformers 5.17 and tokenizers are installed (the GPU machine; the
reference itself runs on the CPU in f32, eager attention, so it is deterministic):

  python3 tools/hf-fixtures/make.py OUT_DIR

For every architecture and config variant it writes a random-init checkpoint with
save_pretrained (then, for the v4 layout, rewrites config.json the way transformers 4
wrote it), loads it back with AutoModelForCausalLM, and records transformers' own greedy
tokens and per-token logprobs (prefill of the whole prompt, then one token per step with
the KV cache, as the engine does). Tokenizers are trained with HF tokenizers; their ids
on hard strings and the chat templates rendered by apply_chat_template are recorded.
Every variant is built in its own try block: one failure is logged, the rest go on.
"""
import copy
import json
import math
import os
import shutil
import sys
import traceback

import torch

import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

OUT = sys.argv[1] if len(sys.argv) > 1 else "hf-fixtures-out"
LOG = []
torch.set_num_threads(max(1, min(16, os.cpu_count() or 1)))
torch.use_deterministic_algorithms(True, warn_only=True)

VOCAB = 320
PROMPT_LENGTHS = [6, 70, 600]
NEW_TOKENS = 10


def log(*parts):
    line = " ".join(str(p) for p in parts)
    print(line, flush=True)
    LOG.append(line)


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=1)


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------- tokenizers

CORPUS_LINES = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello world! Hello there, how are you doing today?",
    "I'm fine, thanks. You're welcome. We'll see, they'd say.",
    "def add(a, b):\n    return a + b\n\nprint(add(1, 2))",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 123 2024 3.14159 1,000,000",
    "café naïve résumé über straße 日本語 한국어 中文 Ελληνικά русский",
    "Emoji: 🤖 👍🏽 🎉 ✨ and symbols Ω ≈ ç √ ∫ ˜ µ ≤ ≥ ÷",
    "    indented line\twith tab\n\n\nthree newlines and   spaces   ",
    "user: what is the capital of France? assistant: Paris is the capital.",
    "system: you are a helpful assistant. tool: the weather is sunny.",
]
CORPUS = [line for _ in range(30) for line in CORPUS_LINES]

LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

CHATML = (
    "{%- if tools %}<|im_start|>system\n# Tools\n{%- for tool in tools %}\n{{ tool | tojson }}{%- endfor %}"
    "<|im_end|>\n{%- endif %}"
    "{%- for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

LLAMA3_TEMPLATE = (
    "{{- bos_token }}"
    "{%- set today = strftime_now('%Y') %}"
    "{%- if messages[0]['role'] == 'system' %}{%- set system = messages[0]['content'] | trim %}"
    "{%- set messages = messages[1:] %}{%- else %}{%- set system = '' %}{%- endif %}"
    "<|start_header_id|>system<|end_header_id|>\n\n"
    "{%- if today | length == 4 %}Year known.\n{%- endif %}"
    "{%- if documents %}Documents:\n{%- for doc in documents %}\n[{{ loop.index }}] {{ doc['title'] }}: {{ doc['text'] }}{%- endfor %}\n{%- endif %}"
    "{%- if tools %}Tools: {%- for t in tools %} {{ t['function']['name'] }}{%- endfor %}\n{%- endif %}"
    "{{ system }}<|eot_id|>"
    "{%- for message in messages %}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{%- endif %}"
    "<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n{{ message['content'] | trim }}<|eot_id|>"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{%- endif %}"
)

TOOL_USE_TEMPLATE = (
    "{%- for message in messages %}[{{ message.role | upper }}] {{ message.content }}\n{%- endfor %}"
    "{%- if tools %}[TOOLS] {{ tools | length }} {{ tools[0].function.name }}\n{%- endif %}"
    "{%- if add_generation_prompt %}[ASSISTANT]{% endif %}"
)

HARD_STRINGS = [
    "Hello world",
    "Hello world! How are you?",
    "  two leading spaces",
    "trailing spaces   ",
    "multiple     spaces inside",
    "tabs\tand\nnewlines\n\n\nend",
    "\n\n",
    "digits 1234567890 and 3.14159 and 1,000,000",
    "Unicode: café naïve 日本語 한국어 🤖👍🏽 Ω≈ç√",
    "decomposed: cafe\u0301 and e\u0301",
    "don't you're I'll WE'LL",
    "<|im_start|>user\nhi there<|im_end|>\n",
    "text<|endoftext|>more text",
    "special<|eot_id|>inside<|begin_of_text|>",
    "mask: a <mask> b and a<mask>b",
    "sep: x [SEP]   y",
    "zz and zzz and azz zz",
    "greeting: Hello world in text",
    "a",
    "",
    "def f(x):\n    return x ** 2  # square\n",
]

CONVERSATIONS = [
    {"name": "system-user", "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi there!"}]},
    {"name": "multi-turn", "messages": [
        {"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": " 4 "},
        {"role": "user", "content": "And 3+3? 日本語 🤖"}]},
    {"name": "tools", "messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": [
        {"type": "function", "function": {"name": "get_weather", "description": "Current weather",
                                          "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                         "required": ["city"]}}}]},
    {"name": "documents", "messages": [{"role": "user", "content": "Summarize."}], "documents": [
        {"title": "Doc A", "text": "Alpha text."}, {"title": "Doc B", "text": "Beta text."}]},
    {"name": "bad-roles", "messages": [{"role": "assistant", "content": "I speak first"}, {"role": "user", "content": "no"}]},
]


def train_bpe(pre_tokenizer, specials, normalizer=None, ignore_merges=False, vocab_size=290):
    model = models.BPE(ignore_merges=True) if ignore_merges else models.BPE()
    tok = Tokenizer(model)
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def add_flagged_tokens(tok):
    tok.add_tokens([
        AddedToken("<mask>", lstrip=True, rstrip=False, single_word=False, normalized=False, special=True),
        AddedToken("[SEP]", lstrip=False, rstrip=True, single_word=False, normalized=False, special=True),
        AddedToken("zz", single_word=True, normalized=False, special=False),
        AddedToken("Hello world", normalized=True, special=False),
        AddedToken("café", normalized=True, special=False),
    ])


def make_gpt2_tokenizer():
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = train_bpe(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True), specials,
                    normalizer=normalizers.NFC())
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    add_flagged_tokens(tok)
    return tok


def make_llama3_tokenizer():
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok = train_bpe(pre, specials, ignore_merges=True)
    bos = tok.token_to_id("<|begin_of_text|>")
    template = processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|>:1 $B:1",
                                             special_tokens=[("<|begin_of_text|>", bos)])
    try:
        tok.post_processor = processors.Sequence([processors.ByteLevel(trim_offsets=False), template])
    except Exception as err:  # older tokenizers without processors.Sequence
        log("  post_processor Sequence failed, TemplateProcessing alone:", err)
        tok.post_processor = template
    add_flagged_tokens(tok)
    return tok


def make_sentencepiece_tokenizer(style):
    """Llama 2 / Mistral v1 style: BPE with byte fallback over '▁'-spaced text, <s> added by the post-processor.
    style 'legacy': normalizer Prepend + Replace (Llama 2); 'metaspace': a Metaspace pre-tokenizer (prepend 'first')."""
    specials = ["<unk>", "<s>", "</s>"]
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    if style == "legacy":
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    else:
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    trainer = trainers.BpeTrainer(vocab_size=420, special_tokens=specials + byte_tokens, show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)])
    # As in Llama 2's tokenizer.json: the byte tokens live in the model's vocabulary, not among the added tokens.
    spec = json.loads(tok.to_str())
    spec["added_tokens"] = [t for t in spec["added_tokens"] if t["content"] in specials]
    tok = Tokenizer.from_str(json.dumps(spec))
    tok.add_tokens([AddedToken("<mask>", lstrip=True, normalized=False, special=True), AddedToken("[SEP]", rstrip=True, normalized=False, special=True)])
    return tok


def tokenizer_dirs():
    """(name, tokenizer, tokenizer_config, where the chat template goes)."""
    gpt2_cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|endoftext|>", "eos_token": "<|im_end|>",
                "unk_token": None, "pad_token": "<|endoftext|>", "model_max_length": 1024, "clean_up_tokenization_spaces": False}
    llama_cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>",
                 "model_max_length": 1024, "clean_up_tokenization_spaces": False}
    sp_cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
              "model_max_length": 1024, "clean_up_tokenization_spaces": False}
    return [
        ("gpt2-chatml", make_gpt2_tokenizer, gpt2_cfg, ("config", CHATML)),
        ("gpt2-template-json", make_gpt2_tokenizer, gpt2_cfg, ("json", CHATML)),
        ("gpt2-named-templates", make_gpt2_tokenizer, gpt2_cfg, ("named", [{"name": "default", "template": CHATML},
                                                                          {"name": "tool_use", "template": TOOL_USE_TEMPLATE}])),
        ("gpt2-add-bos-eos", make_gpt2_tokenizer, {**gpt2_cfg, "add_bos_token": True, "add_eos_token": True}, ("config", CHATML)),
        ("llama3", make_llama3_tokenizer, llama_cfg, ("jinja", LLAMA3_TEMPLATE)),
        ("sp-legacy", lambda: make_sentencepiece_tokenizer("legacy"), sp_cfg, ("config", CHATML)),
        ("sp-metaspace", lambda: make_sentencepiece_tokenizer("metaspace"), sp_cfg, ("config", CHATML)),
    ]


def write_tokenizer_dir(path, tok, cfg, template):
    os.makedirs(path, exist_ok=True)
    tok.save(os.path.join(path, "tokenizer.json"))
    cfg = dict(cfg)
    where, value = template
    if where in ("config", "named"):
        cfg["chat_template"] = value
    elif where == "json":
        write_json(os.path.join(path, "chat_template.json"), {"chat_template": value})
    elif where == "jinja":
        with open(os.path.join(path, "chat_template.jinja"), "w", encoding="utf-8") as f:
            f.write(value)
    write_json(os.path.join(path, "tokenizer_config.json"), cfg)


def record_tokenizer(name, path, tok, template):
    expected = {"name": name, "encode": [], "chat": [], "errors": []}
    try:
        hf = AutoTokenizer.from_pretrained(path)
        expected["auto_class"] = type(hf).__name__
    except Exception as err:
        hf = None
        expected["errors"].append("AutoTokenizer: " + repr(err))
        log("  AutoTokenizer failed", name, repr(err))
    for text in HARD_STRINGS:
        case = {"text": text,
                "ids": tok.encode(text, add_special_tokens=True).ids,
                "idsNoSpecial": tok.encode(text, add_special_tokens=False).ids}
        if hf is not None:
            try:
                case["autoIds"] = hf(text)["input_ids"]
                case["autoIdsNoSpecial"] = hf(text, add_special_tokens=False)["input_ids"]
                case["autoDecoded"] = hf.decode(case["autoIds"], skip_special_tokens=False)
            except Exception as err:
                case["autoError"] = repr(err)
        case["decoded"] = tok.decode(case["ids"], skip_special_tokens=False)
        expected["encode"].append(case)
    if hf is not None:
        for conv in CONVERSATIONS:
            for gen in (True, False):
                kwargs = {}
                for key in ("tools", "documents"):
                    if key in conv:
                        kwargs[key] = conv[key]
                entry = {"name": conv["name"], "messages": conv["messages"], "add_generation_prompt": gen, **kwargs}
                if template[0] == "json":
                    kwargs["chat_template"] = template[1]
                    entry["explicit_template"] = True
                try:
                    entry["text"] = hf.apply_chat_template(conv["messages"], tokenize=False, add_generation_prompt=gen, **kwargs)
                except Exception as err:
                    entry["error"] = f"{type(err).__name__}: {err}"
                expected["chat"].append(entry)
        expected["special"] = {"bos": hf.bos_token, "eos": hf.eos_token}
    write_json(os.path.join(path, "expected.json"), expected)


# ---------------------------------------------------------------- models

def randomize(model, arch):
    """Weights large enough that greedy choices are clear (HF's 0.02 init gives near-uniform logits)."""
    gen = torch.Generator().manual_seed(1234)
    gemma = arch.startswith("gemma")
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            is_norm = "norm" in name or "ln_" in name
            if p.ndim >= 2:
                std = 0.1 if "wpe" in name else 0.2
                p.copy_(noise * std)
            elif is_norm and not name.endswith("bias") and gemma:
                # Gemma norms scale by (1 + w); large post-norms keep the sqrt(hidden)-scaled tied
                # embedding from dominating the residual (greedy would only repeat the last token).
                p.copy_(noise * 0.3 + 3.0 if "post_" in name else noise * 0.2)
            elif is_norm and not name.endswith("bias"):
                p.copy_(1.0 + noise * 0.2)
            else:
                p.copy_(noise * 0.1)


def base_kwargs(hidden=32, heads=2, kv=1, head_dim=16, ffn=64, max_pos=1024, tied=False):
    return dict(vocab_size=VOCAB, hidden_size=hidden, intermediate_size=ffn, num_hidden_layers=2,
                num_attention_heads=heads, num_key_value_heads=kv, head_dim=head_dim, max_position_embeddings=max_pos,
                tie_word_embeddings=tied, bos_token_id=0, eos_token_id=2, pad_token_id=None)


def rope(theta=10000.0, **extra):
    return {"rope_type": extra.pop("rope_type", "default"), "rope_theta": theta, **extra}


def variants():
    """(name, model_type, config kwargs, layout, dtype, tokenizer)."""
    V = []
    add = lambda *a: V.append(a)
    # Llama: every RoPE type, both layouts, GQA and MHA, tied and untied, f32 and bf16.
    add("llama-v5-theta5e5-gqa", "llama", {**base_kwargs(heads=4, kv=2), "rope_parameters": rope(5e5)}, "v5", "f32", "llama3")
    add("llama-v4-theta5e5-gqa", "llama", {**base_kwargs(heads=4, kv=2), "rope_parameters": rope(5e5)}, "v4", "f32", "llama3")
    add("llama-v4-linear-mha-tied", "llama", {**base_kwargs(kv=2, tied=True, max_pos=512),
                                              "rope_parameters": rope(10000.0, rope_type="linear", factor=2.0)}, "v4-type", "f32", "llama3")
    add("llama-v5-linear", "llama", {**base_kwargs(max_pos=512), "rope_parameters": rope(10000.0, rope_type="linear", factor=2.0)}, "v5", "f32", "llama3")
    add("llama-v5-dynamic", "llama", {**base_kwargs(max_pos=256), "rope_parameters": rope(10000.0, rope_type="dynamic", factor=4.0)}, "v5", "f32", "llama3")
    add("llama-v4-dynamic", "llama", {**base_kwargs(max_pos=256), "rope_parameters": rope(10000.0, rope_type="dynamic", factor=4.0)}, "v4", "f32", "llama3")
    add("llama-v5-yarn", "llama", {**base_kwargs(max_pos=1024), "rope_parameters": rope(10000.0, rope_type="yarn", factor=4.0,
                                                                                      original_max_position_embeddings=256)}, "v5", "f32", "llama3")
    add("llama-v4-yarn-betas", "llama", {**base_kwargs(max_pos=2048), "rope_parameters": rope(
        50000.0, rope_type="yarn", factor=8.0, beta_fast=16.0, beta_slow=2.0, original_max_position_embeddings=128)}, "v4", "f32", "llama3")
    add("llama-v5-yarn-noorig", "llama", {**base_kwargs(max_pos=1024), "rope_parameters": rope(10000.0, rope_type="yarn", factor=2.0)}, "v5", "f32", "llama3")
    add("llama-v5-llama3", "llama", {**base_kwargs(max_pos=1024), "rope_parameters": rope(
        5e5, rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=128)}, "v5", "f32", "llama3")
    add("llama-v4-llama3-bf16", "llama", {**base_kwargs(max_pos=1024), "rope_parameters": rope(
        5e5, rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=128)}, "v4", "bf16", "llama3")
    add("llama-v5-mha-tied-bf16", "llama", {**base_kwargs(kv=2, tied=True), "rope_parameters": rope(10000.0)}, "v5", "bf16", "llama3")
    # Mistral with a sliding window shorter than the prompts.
    add("mistral-v5-window", "mistral", {**base_kwargs(), "sliding_window": 48, "rope_parameters": rope(1e6)}, "v5", "f32", "gpt2-chatml")
    add("mistral-v4", "mistral", {**base_kwargs(), "sliding_window": None, "rope_parameters": rope(1e6)}, "v4", "f32", "gpt2-chatml")
    # Qwen2 (q/k/v bias), Qwen3 (q/k norms, explicit head_dim != hidden / heads).
    add("qwen2-v4-tied", "qwen2", {**base_kwargs(tied=True), "rope_parameters": rope(1e6)}, "v4", "f32", "gpt2-chatml")
    add("qwen2-v5-bf16", "qwen2", {**base_kwargs(), "rope_parameters": rope(1e6)}, "v5", "bf16", "gpt2-chatml")
    add("qwen2-v5-window", "qwen2", {**base_kwargs(), "use_sliding_window": True, "sliding_window": 40, "max_window_layers": 1,
                                     "rope_parameters": rope(1e6)}, "v5", "f32", "gpt2-chatml")
    add("qwen3-v5", "qwen3", {**base_kwargs(head_dim=16, heads=4, kv=2), "rope_parameters": rope(1e6)}, "v5", "f32", "gpt2-chatml")
    add("qwen3-v4-tied-yarn", "qwen3", {**base_kwargs(heads=4, kv=2, tied=True), "rope_parameters": rope(
        1e6, rope_type="yarn", factor=4.0, original_max_position_embeddings=256)}, "v4", "f32", "gpt2-chatml")
    add("qwen3-v5-bf16", "qwen3", {**base_kwargs(), "rope_parameters": rope(1e6)}, "v5", "bf16", "gpt2-chatml")
    # GPT-2.
    gpt2 = dict(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=1024, bos_token_id=0, eos_token_id=0)
    add("gpt2-f32", "gpt2", gpt2, "v5", "f32", "gpt2-chatml")
    add("gpt2-bf16", "gpt2", gpt2, "v5", "bf16", "gpt2-chatml")
    # Gemma 2 / 3.
    g2 = {**base_kwargs(tied=True), "query_pre_attn_scalar": 24, "sliding_window": 48, "attn_logit_softcapping": 5.0,
          "final_logit_softcapping": 3.0, "hidden_activation": "gelu_pytorch_tanh", "rope_parameters": rope(10000.0)}
    add("gemma2-v5", "gemma2", g2, "v5", "f32", "gpt2-chatml")
    add("gemma2-v4", "gemma2", g2, "v4", "f32", "gpt2-chatml")
    g3 = {**base_kwargs(tied=True), "query_pre_attn_scalar": 16, "sliding_window": 48, "layer_types": ["sliding_attention", "full_attention"],
          "hidden_activation": "gelu_pytorch_tanh",
          "rope_parameters": {"full_attention": rope(1e6, rope_type="linear", factor=4.0), "sliding_attention": rope(10000.0)}}
    add("gemma3-v5", "gemma3_text", g3, "v5", "f32", "gpt2-chatml")
    add("gemma3-v4", "gemma3_text", g3, "v4", "f32", "gpt2-chatml")
    add("gemma3-v5-bf16", "gemma3_text", g3, "v5", "bf16", "gpt2-chatml")
    # Gemma 3 as the 4B+ checkpoints ship: Gemma3ForConditionalGeneration, the text model under text_config
    # (a tiny vision tower beside it, unused by text prompts).
    g3mm = {"text_config": {**{k: v for k, v in g3.items()}, "model_type": "gemma3_text"},
            "vision_config": {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                              "image_size": 28, "patch_size": 14, "model_type": "siglip_vision_model"},
            "mm_tokens_per_image": 4, "image_token_index": VOCAB - 1, "boi_token_index": VOCAB - 2, "eoi_token_index": VOCAB - 3}
    add("gemma3-multimodal-v5", "gemma3", g3mm, "v5", "f32", "gpt2-chatml")
    # Phi-3 (fused qkv_proj / gate_up_proj), longrope, Phi-4-mini's partial rotary.
    phi = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=2, max_position_embeddings=1024, bos_token_id=0, eos_token_id=2, pad_token_id=None,
               sliding_window=None)
    add("phi3-v4", "phi3", {**phi, "tie_word_embeddings": False, "rope_parameters": rope(10000.0)}, "v4", "f32", "llama3")
    short = [1.0, 1.1, 1.3, 1.6, 2.0, 2.5, 3.0, 4.0]
    long = [1.0, 1.5, 2.5, 4.0, 6.0, 9.0, 12.0, 16.0]
    add("phi3-v5-longrope", "phi3", {**phi, "tie_word_embeddings": False, "original_max_position_embeddings": 256,
                                     "rope_parameters": rope(10000.0, rope_type="longrope", short_factor=short, long_factor=long,
                                                             original_max_position_embeddings=256)}, "v5", "f32", "llama3")
    add("phi4mini-v4-partial-longrope", "phi3", {**phi, "tie_word_embeddings": True, "partial_rotary_factor": 0.75,
                                                  "original_max_position_embeddings": 256,
                                                  "rope_parameters": rope(10000.0, rope_type="longrope", short_factor=short[:6],
                                                                          long_factor=long[:6], original_max_position_embeddings=256,
                                                                          partial_rotary_factor=0.75)}, "v4", "f32", "llama3")
    add("phi3-v5-window-bf16", "phi3", {**phi, "tie_word_embeddings": False, "sliding_window": 64,
                                        "rope_parameters": rope(10000.0)}, "v5", "bf16", "llama3")
    return V


def build_config(model_type, kwargs):
    cls = transformers.CONFIG_MAPPING[model_type]
    kwargs = dict(kwargs)
    try:
        return cls(**kwargs)
    except Exception as err:
        log("  config with rope_parameters failed:", repr(err), "- retrying with v4 keywords")
        rp = kwargs.pop("rope_parameters", None) or {}
        if "full_attention" in rp:
            kwargs["rope_local_base_freq"] = rp.get("sliding_attention", {}).get("rope_theta", 10000.0)
            rp = rp["full_attention"]
        if "rope_theta" in rp:
            kwargs["rope_theta"] = rp["rope_theta"]
        if rp.get("rope_type", "default") != "default":
            kwargs["rope_scaling"] = {k: v for k, v in rp.items() if k != "rope_theta"}
        return cls(**kwargs)


V4_TOP_LEVEL = {"partial_rotary_factor"}
DERIVED_LAYER_TYPES = {"llama", "mistral", "qwen2", "qwen3", "phi3", "gemma2"}


def to_v4_layout(config_path, use_type_key=False):
    """transformers 4 wrote rope_theta (and rope_local_base_freq) at the top and the scaling in rope_scaling."""
    cfg = read_json(config_path)
    if "dtype" in cfg:
        cfg["torch_dtype"] = cfg.pop("dtype")
    if cfg.get("model_type") in DERIVED_LAYER_TYPES:
        cfg.pop("layer_types", None)  # transformers 4 derived them from sliding_window & co.
    rp = cfg.pop("rope_parameters", None)
    if rp is None:
        write_json(config_path, cfg)
        return cfg
    if "full_attention" in rp or "sliding_attention" in rp:  # Gemma 3: one entry per layer type
        full = dict(rp.get("full_attention") or {})
        local = dict(rp.get("sliding_attention") or {})
        if "rope_theta" in local:
            cfg["rope_local_base_freq"] = local["rope_theta"]
        rp = full
    rp = dict(rp)
    if "rope_theta" in rp:
        cfg["rope_theta"] = rp.pop("rope_theta")
    for key in V4_TOP_LEVEL:
        if key in rp:
            cfg[key] = rp.pop(key)
    kind = rp.get("rope_type", "default")
    if kind != "default":
        scaling = dict(rp)
        if use_type_key:
            scaling["type"] = scaling.pop("rope_type")
        cfg["rope_scaling"] = scaling
    else:
        cfg["rope_scaling"] = None
    write_json(config_path, cfg)
    return cfg


def rotary_state(model):
    state = {}
    for mod_name, module in model.named_modules():
        if "rotary" not in mod_name.lower() and "rotary" not in type(module).__name__.lower():
            continue
        for buf_name, buf in module.named_buffers(recurse=False):
            if "inv_freq" in buf_name:
                state[f"{mod_name}.{buf_name}"] = [float(x) for x in buf.float().tolist()]
        for attr in dir(module):
            if "attention_scaling" in attr:
                value = getattr(module, attr)
                if isinstance(value, (int, float)):
                    state[f"{mod_name}.{attr}"] = float(value)
                elif isinstance(value, dict):
                    state[f"{mod_name}.{attr}"] = {k: float(v) for k, v in value.items()}
    return state


@torch.no_grad()
def greedy(model, prompt, n):
    out = model(input_ids=torch.tensor([prompt]), use_cache=True)
    past = out.past_key_values
    tokens, logprobs, gaps = [], [], []
    for _ in range(n):
        lp = torch.log_softmax(out.logits[0, -1].double(), dim=-1)
        top = torch.topk(lp, 2)
        t = int(top.indices[0])
        tokens.append(t)
        logprobs.append(float(top.values[0]))
        gaps.append(float(top.values[0] - top.values[1]))
        out = model(input_ids=torch.tensor([[t]]), past_key_values=past, use_cache=True)
        past = out.past_key_values
    return tokens, logprobs, gaps


def prompts():
    gen = torch.Generator().manual_seed(99)
    return [torch.randint(3, VOCAB, (n,), generator=gen).tolist() for n in PROMPT_LENGTHS]


def auto_class(config):
    """AutoModelForCausalLM, or the image-text class for multimodal configs it does not map."""
    try:
        AutoModelForCausalLM._model_mapping[type(config)]
        return AutoModelForCausalLM
    except Exception:
        from transformers import AutoModelForImageTextToText
        return AutoModelForImageTextToText


def load(path, dtype):
    config = transformers.AutoConfig.from_pretrained(path)
    return auto_class(config).from_pretrained(path, dtype=dtype, attn_implementation="eager").eval()


def copy_tokenizer(tok_dir, path):
    for f in os.listdir(tok_dir):
        if f != "expected.json":
            shutil.copy(os.path.join(tok_dir, f), os.path.join(path, f))


def build_variant(name, model_type, kwargs, layout, dtype, tok_name, root):
    path = os.path.join(root, "models", name)
    os.makedirs(path, exist_ok=True)
    config = build_config(model_type, kwargs)
    torch.manual_seed(0)
    model = auto_class(config).from_config(config, attn_implementation="eager").eval()
    randomize(model, model_type)
    if dtype == "bf16":
        model = model.to(torch.bfloat16)
    model.save_pretrained(path, safe_serialization=True)
    gen_cfg = GenerationConfig(bos_token_id=0, eos_token_id=[2, 1], temperature=0.7, top_p=0.9, top_k=20,
                               repetition_penalty=1.05, do_sample=True)
    gen_cfg.save_pretrained(path)
    if layout.startswith("v4"):
        to_v4_layout(os.path.join(path, "config.json"), use_type_key=layout == "v4-type")
    copy_tokenizer(os.path.join(root, "tokenizers", tok_name), path)
    expected = {"name": name, "model_type": model_type, "layout": layout, "dtype": dtype, "transformers": transformers.__version__,
                "torch": torch.__version__, "tokenizer": tok_name, "prompts": [], "notes": []}
    torch_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    reloaded = load(path, torch_dtype)
    expected["config_as_read"] = json.loads(reloaded.config.to_json_string())
    expected["rotary"] = rotary_state(reloaded)
    # Same logits from the in-memory model and the reloaded one (the v4 rewrite is read back as it was meant).
    probe = torch.tensor([prompts()[1]])
    with torch.no_grad():
        diff = (model(input_ids=probe).logits.float() - reloaded(input_ids=probe).logits.float()).abs().max().item()
    expected["reload_max_abs_diff"] = diff
    if diff > 1e-5:
        log(f"  WARNING {name}: reloaded model differs from the saved one by {diff}")
    upcast = load(path, torch.float32) if dtype == "bf16" else None
    for prompt in prompts():
        entry = {"ids": prompt}
        fresh = copy.deepcopy(reloaded)  # dynamic / longrope RoPE keep state across calls: a fresh module per prompt
        entry["tokens"], entry["logprobs"], entry["gaps"] = greedy(fresh, prompt, NEW_TOKENS)
        if upcast is not None:
            fresh = copy.deepcopy(upcast)
            t, lp, g = greedy(fresh, prompt, NEW_TOKENS)
            entry["f32"] = {"tokens": t, "logprobs": lp, "gaps": g}
        expected["prompts"].append(entry)
    expected["rotary_after_long_prompt"] = rotary_state(fresh)
    write_json(os.path.join(path, "expected.json"), expected)
    size = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
    log(f"  ok {name}: {size} bytes, tokens {[p['tokens'][:4] for p in expected['prompts']]}, min gap "
        f"{min(min(p['gaps']) for p in expected['prompts']):.2e}")


def main():
    root = OUT
    os.makedirs(os.path.join(root, "tokenizers"), exist_ok=True)
    log("transformers", transformers.__version__, "tokenizers", tokenizers.__version__, "torch", torch.__version__)
    status = {}
    for name, factory, cfg, template in tokenizer_dirs():
        try:
            path = os.path.join(root, "tokenizers", name)
            tok = factory()
            write_tokenizer_dir(path, tok, cfg, template)
            record_tokenizer(name, path, tok, template)
            status["tokenizer:" + name] = "ok"
            log("ok tokenizer", name, "vocab", tok.get_vocab_size())
        except Exception:
            status["tokenizer:" + name] = traceback.format_exc()
            log("FAILED tokenizer", name, traceback.format_exc())
    only = set(sys.argv[2].split(",")) if len(sys.argv) > 2 else None  # e.g. "none": tokenizers only
    for name, model_type, kwargs, layout, dtype, tok_name in variants():
        if only and name not in only:
            continue
        try:
            build_variant(name, model_type, kwargs, layout, dtype, tok_name, root)
            status[name] = "ok"
        except Exception:
            status[name] = traceback.format_exc()
            log("FAILED", name, traceback.format_exc())
    write_json(os.path.join(root, "manifest.json"), {"status": status, "transformers": transformers.__version__,
                                                     "tokenizers": tokenizers.__version__, "torch": torch.__version__})
    with open(os.path.join(root, "make.log"), "w") as f:
        f.write("\n".join(LOG))
    failed = [k for k, v in status.items() if v != "ok"]
    log("done;", len(status) - len(failed), "ok,", len(failed), "failed:", failed)


if __name__ == "__main__":
    main()
