#!/usr/bin/env python3
"""SmolLM2-135M-Instruct Q4_1 GGUF -> float32, as PyTorch `transformers` reads it: export + committed reference.

transformers loads the GGUF (gguf_file=...), dequantises every tensor with gguf-py (Q4_1: f32(d) * q + f32(m),
Q8_0: q * f32(d), F32 as is) and reverses llama.cpp's q/k row permutation:
    w_hf = w_gguf.reshape(n_head, rows / n_head / 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)
(n_head = 9 for attn_q, the kv head count 3 for attn_k). This script checks that statement bit-exactly against its
own gguf-py dequantisation of the sliced tensors and records it in meta.json.

  gguf_reference.py                   writes lid-train/tests/fixtures/smollm2_reference/{reference.safetensors,meta.json}
  gguf_reference.py --export DIR      also saves the dequantised f32 model as a plain Hugging Face directory at DIR
                                      (config.json without quantization_config, model.safetensors ~540 MB,
                                      generation_config.json, tokenizer.json + tokenizer_config.json), reloads it and
                                      checks it reproduces the reference hidden states. DIR must be outside the repo or
                                      git-ignored (suggested: /work/exports/smollm2-135m-instruct-f32).
  --no-fixture                        with --export: do not rewrite the fixture.
  --gguf PATH                         default assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf

reference.safetensors (3 texts, right padded to the longest with the pad id 2, float32 model, eval, eager attention,
each text run alone without padding, then stacked):
  input_ids i64 [3, T], attention_mask i64 [3, T]
  hidden_1 f32 [3, T, 576]     output of block 0 (hidden_states[1]); zeros at padding
  hidden_last f32 [3, T, 576]  hidden_states[30] = after the final RMSNorm; zeros at padding
  argmax i64 [3, T]            argmax of the logits (tied head) per position; -1 at padding
  top2 f32 [3, T, 2]           the two largest logits per position (how safe the argmax is); zeros at padding
  w.<name> f32 [4, cols]       first 4 rows of model.layers.0.self_attn.{q,k,v}_proj.weight,
                               model.layers.29.mlp.down_proj.weight, model.embed_tokens.weight
  w.model.norm.weight f32 [576] entire
  wsel.<name> f32 [k, 576]     rows meta["wsel_rows"][name] of layer-0 q_proj / k_proj (several heads and both halves,
                               to pin the un-permutation)
Regenerate (PyPI only): /work/venvs/torch/bin/pip install gguf==0.19.0  (with torch 2.15.0, transformers 5.24.0,
safetensors 0.8.0, numpy 2.4.6, tokenizers 0.23.3), then
  /work/venvs/torch/bin/python tools/golden/train/gguf_reference.py [--export /work/exports/smollm2-135m-instruct-f32]
"""
import argparse
import json
import os
import shutil

import numpy as np
import torch
import transformers
import gguf
from safetensors.torch import save_file

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
OUT = os.path.join(REPO, "lid-train", "tests", "fixtures", "smollm2_reference")
DEFAULT_GGUF = os.path.join(REPO, "assets", "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
TEXTS = [
    "I need a cheap restaurant in the centre.",
    "Book a taxi to the station, please!",
    "Is there free parking at the hotel?",
]
SLICES = {  # HF name -> GGUF name
    "model.layers.0.self_attn.q_proj.weight": "blk.0.attn_q.weight",
    "model.layers.0.self_attn.k_proj.weight": "blk.0.attn_k.weight",
    "model.layers.0.self_attn.v_proj.weight": "blk.0.attn_v.weight",
    "model.layers.29.mlp.down_proj.weight": "blk.29.ffn_down.weight",
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
}
WSEL = {
    "model.layers.0.self_attn.q_proj.weight": [1, 31, 32, 33, 63, 64, 96, 320, 575],
    "model.layers.0.self_attn.k_proj.weight": [1, 31, 32, 33, 63, 64, 96, 160, 191],
}


def unpermute(w, n_head):
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def own_dequant(reader, gname, cfg):
    t = next(x for x in reader.tensors if x.name == gname)
    w = gguf.quants.dequantize(t.data, t.tensor_type)
    w = np.asarray(w, dtype=np.float32).reshape([int(s) for s in reversed(t.shape)])  # GGUF shape is (cols, rows)
    if gname.endswith("attn_q.weight"):
        w = unpermute(w, cfg.num_attention_heads)
    elif gname.endswith("attn_k.weight"):
        w = unpermute(w, cfg.num_key_value_heads)
    return w, t.tensor_type.name


def load(gguf_path):
    d, f = os.path.split(os.path.abspath(gguf_path))
    tok = transformers.AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = transformers.AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32,
                                                              attn_implementation="eager").eval()
    return tok, model


def run_texts(model, tok):
    ids_list = [tok(t)["input_ids"] for t in TEXTS]
    T = max(len(x) for x in ids_list)
    hdim = model.config.hidden_size
    pad = model.config.pad_token_id if model.config.pad_token_id is not None else tok.eos_token_id
    out = {"input_ids": torch.full((3, T), pad, dtype=torch.int64), "attention_mask": torch.zeros((3, T), dtype=torch.int64),
           "hidden_1": torch.zeros((3, T, hdim)), "hidden_last": torch.zeros((3, T, hdim)),
           "argmax": torch.full((3, T), -1, dtype=torch.int64), "top2": torch.zeros((3, T, 2))}
    n_states = None
    for b, ids in enumerate(ids_list):
        x = torch.tensor([ids], dtype=torch.int64)
        with torch.no_grad():
            o = model(input_ids=x, output_hidden_states=True)
        n_states = len(o.hidden_states)
        L = len(ids)
        out["input_ids"][b, :L] = x[0]
        out["attention_mask"][b, :L] = 1
        out["hidden_1"][b, :L] = o.hidden_states[1][0]
        out["hidden_last"][b, :L] = o.hidden_states[-1][0]
        out["argmax"][b, :L] = o.logits[0].argmax(-1)
        out["top2"][b, :L] = o.logits[0].topk(2, dim=-1).values
    return out, ids_list, n_states, pad


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", default=DEFAULT_GGUF)
    ap.add_argument("--export")
    ap.add_argument("--no-fixture", action="store_true")
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    transformers.logging.set_verbosity_error()
    tok, model = load(a.gguf)
    cfg = model.config
    ref, ids_list, n_states, pad = run_texts(model, tok)

    if a.export:
        d = os.path.abspath(a.export)
        if d.startswith(REPO + os.sep) and not d.startswith(os.path.join(REPO, "assets")):
            print(f"warning: {d} is inside the repository; make sure it is git-ignored")
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer = None
        model.save_pretrained(d, safe_serialization=True)
        tok.save_pretrained(d)
        cj = json.load(open(os.path.join(d, "config.json")))
        assert "quantization_config" not in cj, "quantization_config left in config.json"
        m2 = transformers.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
        tok2 = transformers.AutoTokenizer.from_pretrained(d)
        assert [tok2(t)["input_ids"] for t in TEXTS] == ids_list, "exported tokenizer differs"
        ref2, _, _, _ = run_texts(m2, tok2)
        diff = max(float((ref2[k] - ref[k]).abs().max()) for k in ("hidden_1", "hidden_last"))
        same_argmax = bool(torch.equal(ref2["argmax"], ref["argmax"]))
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        print(f"export: {d} ({size / 1e6:.1f} MB; files {sorted(os.listdir(d))}); reload max abs diff {diff:.2e}, "
              f"argmax equal {same_argmax}")
        del m2
        if a.no_fixture:
            return

    reader = gguf.GGUFReader(a.gguf)
    params = dict(model.named_parameters())
    tensors = dict(ref)
    slices_meta = {}
    for name, gname in SLICES.items():
        w = params[name].detach()
        own, qtype = own_dequant(reader, gname, cfg)
        exact = bool(np.array_equal(own, w.numpy()))
        assert exact, f"{name}: transformers' dequantisation differs from gguf-py + unpermute"
        tensors[f"w.{name}"] = w.clone() if w.dim() == 1 else w[:4].clone()
        slices_meta[name] = {"gguf_tensor": gname, "gguf_type": qtype, "hf_shape": list(w.shape),
                             "stored": "entire" if w.dim() == 1 else "rows 0..4",
                             "bit_exact_vs_own_gguf_py_dequant": exact}
    for name, rows in WSEL.items():
        tensors[f"wsel.{name}"] = params[name].detach()[rows].clone()
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    os.makedirs(OUT, exist_ok=True)
    save_file(tensors, os.path.join(OUT, "reference.safetensors"))

    meta = {
        "gguf": os.path.relpath(a.gguf, REPO), "gguf_size": os.path.getsize(a.gguf),
        "texts": TEXTS, "input_ids": ids_list, "tokens": [tok.convert_ids_to_tokens(x) for x in ids_list],
        "tokenizer": "AutoTokenizer.from_pretrained(dir, gguf_file=...) (transformers' GGUF conversion: byte-level BPE, "
                     "no special tokens added: add_bos_token false in the GGUF); texts avoid digits (the converted "
                     "tokenizer has no per-digit pre-tokenizer, unlike the original SmolLM2 tokenizer.json)",
        "pad_id_used": pad,
        "special_tokens": {"bos": tok.bos_token, "eos": tok.eos_token, "pad": tok.pad_token, "unk": tok.unk_token},
        "config": {k: getattr(cfg, k) for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                                                 "num_attention_heads", "num_key_value_heads", "head_dim",
                                                 "rms_norm_eps", "max_position_embeddings", "tie_word_embeddings",
                                                 "hidden_act")},
        "rope_parameters": dict(cfg.rope_parameters) if getattr(cfg, "rope_parameters", None) else None,
        "forward": "each text alone (batch 1, no padding, positions 0..L-1), float32, eager attention, eval; "
                   "hidden_states has %d entries (embeddings, then each of the 30 blocks; the last with the final "
                   "RMSNorm applied)" % n_states,
        "dequantisation": {
            "Q4_1": "block of 32: f16 d, f16 m, 16 bytes; element j < 16 = low nibble of byte j, j >= 16 = high nibble "
                    "of byte j-16; value = f32(d) * f32(q) + f32(m), two float32 roundings (no fused multiply-add)",
            "Q8_0": "block of 32: f16 d, 32 int8; value = f32(q) * f32(d)",
            "F32": "as stored",
            "layout": "GGUF shape (cols, rows) = ne0, ne1; rows of the HF matrix are contiguous",
            "qk_unpermute": "w_hf = w_gguf.reshape(n_head, rows / n_head / 2, 2, cols).swapaxes(1, 2).reshape(rows, "
                            "cols), n_head = 9 for attn_q, 3 (kv heads) for attn_k; i.e. HF row h*64 + s*32 + i = "
                            "GGUF row h*64 + 2*i + s",
        },
        "slices": slices_meta,
        "wsel_rows": WSEL,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "gguf": getattr(gguf, "__version__", None) or _dist_version("gguf"), "numpy": np.__version__},
        "tensors": {k: f"{str(v.dtype).replace('torch.', '')} {list(v.shape)}" for k, v in sorted(tensors.items())},
    }
    with open(os.path.join(OUT, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"fixture: {OUT} ({os.path.getsize(os.path.join(OUT, 'reference.safetensors')) / 1e3:.0f} kB), "
          f"{n_states} hidden states, ids {ids_list}")
    print("argmax:", ref["argmax"].tolist())


def _dist_version(name):
    from importlib.metadata import version
    return version(name)


if __name__ == "__main__":
    main()
