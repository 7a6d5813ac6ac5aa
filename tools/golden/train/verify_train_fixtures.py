#!/usr/bin/env python3
"""Re-derives lid-train/tests/fixtures/* from the committed files alone, as the Rust side has to.

For each case: loads model/ (from_pretrained; llama_lora: base + adapter/ via peft; grokking: our config.json +
state_dict), recomputes the full-batch `loss` and `grad.*`, and replays the 3 optimizer steps with a hand-written
clip + AdamW + schedule that follows meta.json["procedure"] (not torch.optim), then prints the max abs diff of
loss, grads, hidden states / logits and `after3.*` against step.safetensors. Exit 1 when a diff exceeds --tol
(elements listed in meta.json["adam_noise_elements"] are reported apart as after3_noise, tolerance 2e-3).
Writes nothing.

  /work/venvs/torch/bin/python tools/golden/train/verify_train_fixtures.py [--tol 1e-5]
Versions used: torch 2.15.0, transformers 5.24.0, peft 0.21.2, safetensors 0.8.0.
"""
import argparse
import importlib.util
import json
import math
import os
import sys

import torch
import transformers
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
FIX = os.path.join(REPO, "lid-train", "tests", "fixtures")
CASES = ["bert_mlm", "roberta_mlm", "gpt2_clm", "llama_clm", "bert_cls", "llama_lora", "grokking"]


def load_case(name):
    folder = os.path.join(FIX, name)
    meta = json.load(open(os.path.join(folder, "meta.json")))
    st = load_file(os.path.join(folder, "step.safetensors"))
    mdir = os.path.join(folder, "model")
    if name == "grokking":
        spec = importlib.util.spec_from_file_location("mk", os.path.join(HERE, "make_train_fixtures.py"))
        mk = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mk)
        c = json.load(open(os.path.join(mdir, "config.json")))
        model = mk.Model(c["vocab"], c["d"], c["heads"], c["ff"], c["blocks"], c["dropout"])
        model.load_state_dict(load_file(os.path.join(mdir, "model.safetensors")))
        loss_fn = mk.grok_loss
    else:
        arch = json.load(open(os.path.join(mdir, "config.json")))["architectures"][0]
        cls = getattr(transformers, arch)
        model = cls.from_pretrained(mdir, attn_implementation="eager", dtype=torch.float32)
        if name == "llama_lora":
            from peft import PeftModel
            model = PeftModel.from_pretrained(model, os.path.join(folder, "adapter"), is_trainable=True)
        loss_fn = lambda m, b: m(**b).loss  # noqa: E731
    keys = ["input_ids", "attention_mask", "token_type_ids", "labels"]
    batch = {k: st[k] for k in keys if k in st}
    return meta, st, model, batch, loss_fn


def lr_factor(name, s):
    if name == "grokking":
        return 1 / 3 + (2 / 3) * s / 10 if s < 10 else (400000 - s) / (400000 - 10)
    return s / 1 if s < 1 else max(0.0, (4 - s) / (4 - 1))


def maxdiff(a, b):
    return float((a.double() - b.double()).abs().max())


def verify(name, tol):
    meta, st, model, batch, loss_fn = load_case(name)
    model.train()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert [n for n, _ in named] == meta["trainable"], "trainable names differ"
    worst = {}
    if "logits" in st:
        model.eval()
        with torch.no_grad():
            out = model(**{k: v for k, v in batch.items() if k != "labels"}, output_hidden_states=True)
        model.train()
        worst["hidden"] = max(maxdiff(h, st[f"hidden_{i}"]) for i, h in enumerate(out.hidden_states))
        worst["logits"] = maxdiff(out.logits, st["logits"])
    loss = loss_fn(model, batch)
    loss.backward()
    worst["loss"] = abs(float(loss.detach()) - float(st["loss"][0]))
    worst["grad"] = max(maxdiff(p.grad, st[f"grad.{n}"]) for n, p in named)
    for _, p in named:
        p.grad = None

    o = meta["procedure"]["optimizer_settings"]
    b1, b2 = o["betas"]
    eps, wd, lr0 = o["eps"], o["weight_decay"], o["lr"]
    nd = set(meta["no_decay"])
    m = {n: torch.zeros_like(p) for n, p in named}
    v = {n: torch.zeros_like(p) for n, p in named}
    for s in range(meta["procedure"]["steps"]):
        for rows in meta["procedure"]["micro_batches_rows"]:
            (loss_fn(model, {k: t[rows] for k, t in batch.items()}) / meta["procedure"]["grad_accumulation"]).backward()
        with torch.no_grad():
            total = math.sqrt(sum(float(p.grad.double().pow(2).sum()) for _, p in named))
            coef = min(1.0, 1.0 / (total + 1e-6))
            lr = lr0 * lr_factor(name, s)
            t = s + 1
            for n, p in named:
                g = p.grad * coef
                p.mul_(1 - lr * (0.0 if n in nd else wd))
                m[n].mul_(b1).add_(g, alpha=1 - b1)
                v[n].mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = v[n].sqrt() / math.sqrt(1 - b2 ** t) + eps
                p.addcdiv_(m[n], denom, value=-lr / (1 - b1 ** t))
                p.grad = None
    noisy = meta.get("adam_noise_elements", {})
    worst["after3"], worst["after3_noise"] = 0.0, 0.0
    for n, p in named:
        d = (p.detach().double() - st[f"after3.{n}"].double()).abs().flatten()
        keep = torch.ones_like(d, dtype=torch.bool)
        if noisy.get(n):
            keep[noisy[n]] = False
            worst["after3_noise"] = max(worst["after3_noise"], float(d[~keep].max()))
        if keep.any():
            worst["after3"] = max(worst["after3"], float(d[keep].max()))
    noise_tol = 2e-3
    ok = all(x <= (noise_tol if k == "after3_noise" else tol) for k, x in worst.items())
    print(f"{name:12s} " + " ".join(f"{k} {x:.2e}" for k, x in worst.items()) + ("" if ok else "  FAIL"))
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tol", type=float, default=1e-5)
    a = ap.parse_args()
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    ok = all([verify(c, a.tol) for c in CASES])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
