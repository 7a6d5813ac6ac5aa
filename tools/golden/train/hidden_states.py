#!/usr/bin/env python3
"""Every hidden state of a Hugging Face checkpoint in PyTorch `transformers`, and a comparison of two such files.

  hidden_states.py --model DIR --input ids.json --out OUT.safetensors [--compare OTHER.safetensors --tol 1e-5]
  hidden_states.py --out OUT.safetensors --compare OTHER.safetensors [--tol 1e-5]   (compare two existing files)

--model DIR   a Hugging Face directory (config.json + model.safetensors) of a bert / roberta / gpt2 / llama model,
              e.g. a checkpoint written by the Rust trainer. Loaded with AutoModel (the base model: heads such as
              cls.* / lm_head are ignored; prefixed names like `bert.` / `model.` are handled by transformers),
              eval mode, float32, attn_implementation="eager".
--input FILE  JSON {"input_ids": [[...], ...], "attention_mask": [[...], ...]} (rows of equal length, right
              padded; attention_mask optional, default all ones; optional "token_type_ids").
--out FILE    writes `input_ids` (i64), `attention_mask` (i64) and `hidden_<i>` (f32, batch x seq x hidden) for
              every hidden state of model(..., output_hidden_states=True) (embeddings output first; for gpt2 / llama
              the last one has the final norm applied). Prints the number of hidden states.
--compare F   compares every `hidden_<i>` present in both OUT (just computed, or existing when --model is absent) and
              F; prints the max abs diff per layer; exit 1 when any exceeds --tol (default 1e-5). Only positions with
              attention_mask 1 are compared unless --all-positions.

Versions used: torch 2.15.0, transformers 5.24.0, safetensors 0.8.0 (venv /work/venvs/torch, PyPI).
"""
import argparse
import json
import re
import sys

import torch
from safetensors.torch import load_file, save_file


def compute(model_dir, input_path):
    import transformers
    transformers.logging.set_verbosity_error()
    spec = json.load(open(input_path))
    ids = torch.tensor(spec["input_ids"], dtype=torch.int64)
    mask = torch.tensor(spec.get("attention_mask", [[1] * ids.shape[1]] * ids.shape[0]), dtype=torch.int64)
    kw = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in spec:
        kw["token_type_ids"] = torch.tensor(spec["token_type_ids"], dtype=torch.int64)
    model = transformers.AutoModel.from_pretrained(model_dir, attn_implementation="eager", dtype=torch.float32).eval()
    with torch.no_grad():
        out = model(**kw, output_hidden_states=True)
    t = {"input_ids": ids, "attention_mask": mask}
    for i, h in enumerate(out.hidden_states):
        t[f"hidden_{i}"] = h.float().contiguous()
    print(f"{type(model).__name__}: {len(out.hidden_states)} hidden states, batch {tuple(ids.shape)}, "
          f"hidden {out.hidden_states[0].shape[-1]}")
    return t


def compare(a, b, tol, all_positions):
    keys = sorted((k for k in a if re.fullmatch(r"hidden_\d+", k) and k in b), key=lambda k: int(k.split("_")[1]))
    if not keys:
        print("no common hidden_<i> tensors")
        return False
    mask = None
    if not all_positions:
        mask = a.get("attention_mask", b.get("attention_mask"))
    ok = True
    for k in keys:
        x, y = a[k].double(), b[k].double()
        if x.shape != y.shape:
            print(f"{k}: shape {tuple(x.shape)} vs {tuple(y.shape)}  FAIL")
            ok = False
            continue
        d = (x - y).abs()
        if mask is not None and mask.shape == d.shape[:2]:
            d = d[mask.bool()]
        m = float(d.max()) if d.numel() else 0.0
        bad = m > tol or m != m
        ok &= not bad
        print(f"{k}: max abs diff {m:.3e}" + ("  FAIL" if bad else ""))
    only = sorted(set(k for k in list(a) + list(b) if re.fullmatch(r"hidden_\d+", k)) - set(keys),
                  key=lambda k: int(k.split("_")[1]))
    if only:
        print("present in one file only:", ", ".join(only))
    print(f"{len(keys)} hidden states compared, tol {tol:g}: {'OK' if ok else 'FAIL'}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model")
    ap.add_argument("--input")
    ap.add_argument("--out")
    ap.add_argument("--compare")
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--all-positions", action="store_true")
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    if a.model:
        if not a.input:
            ap.error("--model needs --input")
        t = compute(a.model, a.input)
        if a.out:
            save_file(t, a.out)
    elif a.out and a.compare:
        t = load_file(a.out)
    else:
        ap.error("give --model/--input (and --out and/or --compare), or --out EXISTING --compare OTHER")
    if a.compare:
        sys.exit(0 if compare(t, load_file(a.compare), a.tol, a.all_positions) else 1)


if __name__ == "__main__":
    main()
