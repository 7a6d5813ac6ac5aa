#!/usr/bin/env python3
"""Golden fixtures for lid-embed: every hidden state from PyTorch `transformers` on fixed inputs.

Writes into lid-embed/tests/fixtures/:
  minilm/expected.safetensors        hidden states of the real all-MiniLM-L6-v2 weights (asset `minilm`,
                                     fetched by scripts/fetch-assets.sh; the weights are not committed)
  tiny_{roberta,gpt2,llama}/         tiny random-weight models: config.json, model.safetensors,
                                     tokenizer.json, expected.safetensors
Each expected.safetensors holds `input_ids` (i64, batch x seq, right padded), `attention_mask` (i64) and
`hidden_<i>` (f32, batch x seq x hidden) for every i in 0..=n, from
`model(input_ids, attention_mask=..., output_hidden_states=True)` in eval mode, fp32, eager attention.
`inputs.json` holds the texts and versions.

Regenerate (venv with torch, transformers, tokenizers, safetensors from PyPI):
  python3 -m venv /work/venvs/torch && /work/venvs/torch/bin/pip install torch transformers tokenizers safetensors
  bash scripts/fetch-assets.sh minilm
  /work/venvs/torch/bin/python tools/golden/embed/make_fixtures.py
"""
import json
import os
import sys

import torch
import transformers
import tokenizers
from safetensors.torch import save_file
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, processors, trainers

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
OUT = os.path.join(REPO, "lid-embed", "tests", "fixtures")
ASSETS = os.environ.get("LID_ASSETS", os.path.join(REPO, "assets"))

TEXTS = [
    "I need a cheap restaurant in the centre of town.",
    "Book a taxi to the train station, please!",
    "hi",
    "The hotel should have free parking and free wifi, and it must be in the north; 4 stars would be fine.",
]

TRAIN_TEXT = [
    "i would like to book a table for two people at an italian restaurant",
    "is there a cheap hotel in the north with free parking and wifi",
    "please book a taxi from the hotel to the train station at 5 pm",
    "the museum is open from 10 am to 5 pm every day of the week",
    "what is the phone number and address of the hospital",
] * 4


def hidden_states(model, enc):
    with torch.no_grad():
        out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], output_hidden_states=True)
    return out.hidden_states


def save_expected(folder, enc, states):
    tensors = {
        "input_ids": enc["input_ids"].to(torch.int64).contiguous(),
        "attention_mask": enc["attention_mask"].to(torch.int64).contiguous(),
    }
    for i, h in enumerate(states):
        tensors[f"hidden_{i}"] = h.to(torch.float32).contiguous()
    save_file(tensors, os.path.join(folder, "expected.safetensors"))


def encode(tok, texts, pad_id, max_length=512):
    """Right-padded batch from a `tokenizers` Tokenizer with padding/truncation overridden."""
    tok.no_padding()
    tok.enable_truncation(max_length)
    encs = tok.encode_batch(texts)
    t = max(len(e.ids) for e in encs)
    ids = torch.full((len(encs), t), pad_id, dtype=torch.int64)
    mask = torch.zeros((len(encs), t), dtype=torch.int64)
    for b, e in enumerate(encs):
        ids[b, : len(e.ids)] = torch.tensor(e.ids)
        mask[b, : len(e.ids)] = 1
    return {"input_ids": ids, "attention_mask": mask}


def bpe_tokenizer(special, template_single=None, add_prefix_space=False):
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(TRAIN_TEXT, trainer=trainer)
    if template_single:
        tok.post_processor = processors.TemplateProcessing(
            single=template_single,
            special_tokens=[(s, tok.token_to_id(s)) for s in special if s in template_single])
    return tok


def write_tiny(name, config, model_cls, tok, pad_id):
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(1234)
    model = model_cls(config).eval()
    # Larger-than-default random weights so every layer does visible work.
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.2)
            elif "norm" in n.lower() or n.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
                p.uniform_(0.5, 1.5)
            else:
                p.normal_(0.0, 0.1)
    model.save_pretrained(folder, safe_serialization=True)
    tok.save(os.path.join(folder, "tokenizer.json"))
    enc = encode(tok, TEXTS, pad_id)
    states = hidden_states(model, enc)
    save_expected(folder, enc, states)
    print(f"{name}: {len(states)} hidden states, batch {tuple(enc['input_ids'].shape)}")


def main():
    torch.set_grad_enabled(False)
    os.makedirs(OUT, exist_ok=True)
    meta = {"texts": TEXTS, "torch": torch.__version__, "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__}

    # Real MiniLM (BERT) weights from the fetched asset.
    minilm_dir = os.path.join(ASSETS, "minilm")
    if not os.path.isfile(os.path.join(minilm_dir, "model.safetensors")):
        sys.exit(f"missing {minilm_dir}; run scripts/fetch-assets.sh minilm first")
    model = transformers.BertModel.from_pretrained(minilm_dir, attn_implementation="eager").eval()
    tok = Tokenizer.from_file(os.path.join(minilm_dir, "tokenizer.json"))
    enc = encode(tok, TEXTS, 0)
    folder = os.path.join(OUT, "minilm")
    os.makedirs(folder, exist_ok=True)
    save_expected(folder, enc, hidden_states(model, enc))
    print(f"minilm: batch {tuple(enc['input_ids'].shape)}")

    # Tiny RoBERTa: <s> $A </s>, pad id 1 (positions start at pad + 1).
    rtok = bpe_tokenizer(["<s>", "<pad>", "</s>", "<unk>"], "<s> $A </s>", add_prefix_space=True)
    rcfg = transformers.RobertaConfig(vocab_size=rtok.get_vocab_size(), hidden_size=32, num_hidden_layers=3,
                                      num_attention_heads=4, intermediate_size=64, max_position_embeddings=130,
                                      type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                                      attn_implementation="eager")
    write_tiny("tiny_roberta", rcfg, transformers.RobertaModel, rtok, 1)

    # Tiny GPT-2: no special tokens added; <|endoftext|> is bos = eos.
    gtok = bpe_tokenizer(["<|endoftext|>"])
    gcfg = transformers.GPT2Config(vocab_size=gtok.get_vocab_size(), n_positions=128, n_embd=32, n_layer=3, n_head=4,
                                   bos_token_id=0, eos_token_id=0, attn_implementation="eager")
    write_tiny("tiny_gpt2", gcfg, transformers.GPT2Model, gtok, 0)

    # Tiny Llama: grouped-query attention and llama3 rotary scaling; bos added, pad = eos.
    ltok = bpe_tokenizer(["<s>", "</s>"], "<s> $A")
    lcfg = transformers.LlamaConfig(vocab_size=ltok.get_vocab_size(), hidden_size=32, intermediate_size=48,
                                    num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
                                    max_position_embeddings=128, rms_norm_eps=1e-5, rope_theta=10000.0,
                                    rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                  "high_freq_factor": 4.0, "original_max_position_embeddings": 8},
                                    bos_token_id=0, eos_token_id=1, pad_token_id=1, attn_implementation="eager")
    write_tiny("tiny_llama", lcfg, transformers.LlamaModel, ltok, 1)

    with open(os.path.join(OUT, "inputs.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print("versions:", meta["torch"], meta["transformers"], meta["tokenizers"])


if __name__ == "__main__":
    main()
