#!/usr/bin/env python3
"""Golden training fixtures for lid-train: one forward/backward and three AdamW steps in PyTorch.

Writes lid-train/tests/fixtures/<case>/ for the cases
  bert_mlm     BertForMaskedLM               (MLM, BERT 80/10/10 corruption at fixed positions)
  roberta_mlm  RobertaForMaskedLM            (MLM, position ids from padding_idx)
  gpt2_clm     GPT2LMHeadModel               (CLM, gelu_new, tied head)
  llama_clm    LlamaForCausalLM              (CLM, GQA 4 heads / 2 kv heads, tied embeddings, plain rope)
  bert_cls     BertForSequenceClassification (7 labels, single_label_classification)
  llama_lora   peft LoRA (r 4, alpha 8, rsLoRA) on the llama_clm base, base frozen
  grokking     the model of benches/peers/grokking_torch.py (p 11, d 32, 4 heads, ff 64, 2 blocks)
Each folder holds
  model/config.json, model/model.safetensors   save_pretrained(safe_serialization=True) of the initial weights
                                               (grokking: state_dict() + our own config.json)
  adapter/adapter_config.json, adapter/adapter_model.safetensors   (llama_lora only; model/ is the frozen base)
  step.safetensors   inputs, `loss` [1], `grad.<name>`, `after3.<name>`, `train.*` per-step diagnostics,
                     `hidden_<i>` / `logits` (eval, initial weights; not grokking), llama_lora: `merged.<name>`
  meta.json          every setting, the MLM corruption choices, tied names, the no-decay list, versions, seed
All dropout probabilities are 0.0 in the configs (train mode == eval mode), float32, eager attention,
torch.set_num_threads(1), seed written to meta.json.  See meta.json["procedure"] for the exact recipe.

Regenerate (PyPI only; versions used: torch 2.15.0, transformers 5.24.0, peft 0.21.2, safetensors 0.8.0,
numpy 2.4.6):
  python3 -m venv /work/venvs/torch && /work/venvs/torch/bin/pip install torch transformers tokenizers \
      safetensors numpy peft
  bash tools/golden/train/run.sh          # == /work/venvs/torch/bin/python tools/golden/train/make_train_fixtures.py
  /work/venvs/torch/bin/python tools/golden/train/verify_train_fixtures.py   # replays them from the files alone
Other torch/transformers versions give slightly different floats; regenerate fixtures and Rust goldens together.
Sizes: hidden 32, 2 layers, 4 heads, intermediate 24, vocab 42..48, 4 rows x 12 tokens; ~1.5 MB for the 7 cases.
"""
import copy
import json
import math
import os
import re
import shutil

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import transformers
import peft
import safetensors
from safetensors.torch import save_file
from transformers import (BertConfig, BertForMaskedLM, BertForSequenceClassification, GPT2Config, GPT2LMHeadModel,
                          LlamaConfig, LlamaForCausalLM, RobertaConfig, RobertaForMaskedLM, Trainer,
                          get_linear_schedule_with_warmup)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
OUT = os.path.join(REPO, "lid-train", "tests", "fixtures")
SEED = 20240607
MAX_LEN = 12
LENGTHS = [12, 9, 11, 6]          # real tokens per row (right padding to MAX_LEN)
N_STEPS = 3
GRAD_ACCUM = 2
MICRO_BATCHES = [[0, 1], [2, 3]]  # rows of each micro-batch, in order, inside every optimizer step
LR = 1e-3
WD = 0.01
CLIP = 1.0
HIDDEN, LAYERS, HEADS, INTER = 32, 2, 4, 24  # intermediate 24: distinct from every other dim, keeps files small

# MLM corruption: (row, position, kind); positions are ordinary tokens (never special, never padding).
MLM_CHOICES = [(0, 2, "mask"), (0, 8, "random"), (1, 1, "mask"), (1, 5, "keep"),
               (2, 3, "mask"), (2, 9, "mask"), (3, 2, "mask"), (3, 4, "random")]

ADAMW_DOC = ("torch.optim.AdamW (foreach/fused off on CPU, amsgrad False, maximize False), per parameter, t = 1,2,3: "
             "p = p * (1 - lr_t * wd_group); m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g; "
             "p = p - (lr_t / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)")
CLIP_DOC = ("torch.nn.utils.clip_grad_norm_(trainable params, 1.0, norm_type 2): total = sqrt(sum over params of "
            "||g||^2) (computed as the 2-norm of the per-parameter 2-norms); coef = min(1, 1.0 / (total + 1e-6)); "
            "g = g * coef (applied even when coef == 1); train.grad_norm holds `total` before clipping")


NOISE_GRAD = 1e-6
ADAM_NOISE_NOTE = (
    "flattened (row-major) element indices per parameter whose accumulated, clipped gradient stayed in (0, 1e-6) in all "
    "3 steps: gradients that are zero in exact arithmetic (attention key biases: softmax is invariant to a per-query "
    "shift, so d loss / d key bias = 0) and are pure rounding noise in float32. Adam normalises them "
    "(update ~ lr * m / (sqrt(v) + eps) with |g| ~ eps), so their `after3` values are not reproducible across "
    "implementations: compare them with an absolute tolerance of the total step size sum(lr) = 1.67e-3 (or skip "
    "them); their `grad.*` entries are ~1e-10 and compare fine. Exactly-zero gradients (unused position/type rows) "
    "are not listed: their Adam update is exactly 0 (only weight decay acts).")


def seed_all(offset=0):
    torch.manual_seed(SEED + offset)
    np.random.seed(SEED + offset)


def reinit_(model):
    """Larger-than-default random weights (as lid-embed's fixtures) so every layer does visible work."""
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.2)
            elif "norm" in n.lower() or n.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
                p.uniform_(0.5, 1.5)
            else:
                p.normal_(0.0, 0.1)


def tied_groups(model):
    """Lists of names sharing one Parameter; the first is the name named_parameters() reports."""
    seen = {}
    for n, p in model.named_parameters(remove_duplicate=False):
        seen.setdefault(id(p), []).append(n)
    reported = {id(p): n for n, p in model.named_parameters()}
    groups = []
    for pid, names in seen.items():
        if len(names) > 1:
            rep = reported[pid]
            groups.append({"reported": rep, "also": [x for x in names if x != rep]})
    return groups


def no_decay_names(model):
    """HF Trainer.create_optimizer groups: decay iff name in Trainer.get_decay_parameter_names(model)."""
    decay = set(Trainer.get_decay_parameter_names(None, model))
    return [n for n, p in model.named_parameters() if p.requires_grad and n not in decay]


def token_rows(gen, lo, hi, lengths=LENGTHS):
    return [torch.randint(lo, hi, (n,), generator=gen).tolist() for n in lengths]


def pad_batch(rows, pad_id):
    ids = torch.full((len(rows), MAX_LEN), pad_id, dtype=torch.int64)
    mask = torch.zeros((len(rows), MAX_LEN), dtype=torch.int64)
    for b, r in enumerate(rows):
        ids[b, :len(r)] = torch.tensor(r)
        mask[b, :len(r)] = 1
    return ids, mask


def mlm_corrupt(ids, mask_id, lo, hi, gen):
    labels = torch.full_like(ids, -100)
    corrupted = ids.clone()
    record = []
    for b, t, kind in MLM_CHOICES:
        orig = int(ids[b, t])
        labels[b, t] = orig
        if kind == "mask":
            new = mask_id
        elif kind == "random":
            new = orig
            while new == orig:
                new = int(torch.randint(lo, hi, (1,), generator=gen))
        else:
            new = orig
        corrupted[b, t] = new
        record.append({"row": b, "pos": t, "kind": kind, "label": orig, "input": new})
    return corrupted, labels, record


def bert_inputs(gen, cls_id=2, sep_id=3, mask_id=4, lo=5, hi=48, pad_id=0):
    """[CLS] A [SEP] (B [SEP]); rows 0 and 2 are pairs (token_type 1 on B and its [SEP])."""
    segs = [(5, 4), (7,), (4, 4), (4,)]
    rows, types = [], []
    for s in segs:
        r, t = [cls_id], [0]
        for k, n in enumerate(s):
            r += torch.randint(lo, hi, (n,), generator=gen).tolist() + [sep_id]
            t += [k] * (n + 1)
        rows.append(r)
        types.append(t)
    assert [len(r) for r in rows] == LENGTHS
    ids, attn = pad_batch(rows, pad_id)
    tt = torch.zeros_like(ids)
    for b, t in enumerate(types):
        tt[b, :len(t)] = torch.tensor(t)
    return ids, attn, tt


# ----------------------------------------------------------------------------------------------------------
# Grokking model: copied from benches/peers/grokking_torch.py (parameter names kept).
class Block(nn.Module):
    def __init__(self, d, heads, ff, dropout):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, ff)
        self.ff2 = nn.Linear(ff, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, h, mask):
        b, t, d = h.shape
        hd = d // self.heads
        q, k, v = self.qkv(self.ln1(h)).split(d, dim=-1)
        q, k, v = (x.view(b, t, self.heads, hd).transpose(1, 2) for x in (q, k, v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(hd) + mask
        attn = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        h = h + self.drop(self.out(attn))
        return h + self.drop(self.ff2(F.gelu(self.ff1(self.ln2(h)))))


class Model(nn.Module):
    def __init__(self, vocab, d, heads, ff, blocks, dropout):
        super().__init__()
        self.d = d
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(5, d)
        self.blocks = nn.ModuleList(Block(d, heads, ff, dropout) for _ in range(blocks))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)
        self.drop = nn.Dropout(dropout)
        self.register_buffer("mask", torch.full((4, 4), float("-inf")).triu(1))

    def forward(self, x):
        h = self.drop(self.tok(x) * math.sqrt(self.d) + self.pos.weight[: x.shape[1]])
        for blk in self.blocks:
            h = blk(h, self.mask)
        return self.head(self.ln_f(h[:, -1]))


# ----------------------------------------------------------------------------------------------------------
def hf_loss(model, batch):
    return model(**batch).loss


def grok_loss(model, batch):
    return F.cross_entropy(model(batch["input_ids"]), batch["labels"])


def rows_of(batch, rows):
    return {k: v[rows] for k, v in batch.items()}


def eval_outputs(model, batch, prefix=""):
    """hidden_<i> (output_hidden_states=True) and logits, eval mode, no labels."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        kw = {k: v for k, v in batch.items() if k != "labels"}
        out = model(**kw, output_hidden_states=True)
    model.train(was_training)
    t = {f"{prefix}hidden_{i}": h.contiguous() for i, h in enumerate(out.hidden_states)}
    t[f"{prefix}logits"] = out.logits.contiguous()
    return t


def train_case(model, batch, loss_fn, opt_kw, schedule, decay_all=False):
    """Full-batch loss + grads, then 3 AdamW steps with grad accumulation 2 and clipping 1.0."""
    model.train()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    model.zero_grad(set_to_none=True)
    loss = loss_fn(model, batch)
    loss.backward()
    tensors = {"loss": loss.detach().reshape(1).clone()}
    no_grad = [n for n, p in named if p.grad is None]
    for n, p in named:
        tensors[f"grad.{n}"] = torch.zeros_like(p) if p.grad is None else p.grad.detach().clone()
    model.zero_grad(set_to_none=True)

    nd = [] if decay_all else no_decay_names(model)
    groups = [{"params": [p for n, p in named if n not in nd], "weight_decay": opt_kw["weight_decay"]},
              {"params": [p for n, p in named if n in nd], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=LR, betas=opt_kw["betas"], eps=opt_kw["eps"], foreach=False)
    sched = schedule(opt)
    lrs, norms, micro = [], [], []
    gmax = {}
    for _ in range(N_STEPS):
        lrs.append(opt.param_groups[0]["lr"])
        ml = []
        for rows in MICRO_BATCHES:
            l = loss_fn(model, rows_of(batch, rows))
            ml.append(float(l.detach()))
            (l / GRAD_ACCUM).backward()
        micro.append(ml)
        norms.append(float(torch.nn.utils.clip_grad_norm_([p for _, p in named], CLIP)))
        for n, p in named:
            g = p.grad.detach().abs()
            gmax[n] = g if n not in gmax else torch.maximum(gmax[n], g)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
    for n, p in named:
        tensors[f"after3.{n}"] = p.detach().clone()
    tensors["train.lr"] = torch.tensor(lrs, dtype=torch.float32)
    tensors["train.grad_norm"] = torch.tensor(norms, dtype=torch.float32)
    tensors["train.micro_loss"] = torch.tensor(micro, dtype=torch.float32)
    info = {"no_decay": nd, "trainable": [n for n, _ in named],
            "lr_per_step": lrs, "grad_norm_before_clip": norms, "clipped": [x > CLIP for x in norms],
            "micro_batch_losses": micro, "full_batch_loss": float(loss.detach()),
            "params_without_grad_written_as_zeros": no_grad,
            "adam_noise_elements": {n: torch.nonzero(((g > 0) & (g < NOISE_GRAD)).flatten()).flatten().tolist()
                                    for n, g in gmax.items() if bool(((g > 0) & (g < NOISE_GRAD)).any())},
            "adam_noise_note": ADAM_NOISE_NOTE}
    return tensors, info


def hf_schedule(opt):
    return get_linear_schedule_with_warmup(opt, num_warmup_steps=1, num_training_steps=4)


def grok_factor(step):
    return 1 / 3 + (2 / 3) * step / 10 if step < 10 else (400000 - step) / (400000 - 10)


def grok_schedule(opt):
    return torch.optim.lr_scheduler.LambdaLR(opt, grok_factor)


HF_OPT = {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": WD}
GROK_OPT = {"betas": (0.9, 0.98), "eps": 1e-6, "weight_decay": WD}


def base_meta(name, procedure_extra=None):
    return {
        "case": name, "seed": SEED, "dtype": "float32", "threads": 1,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
                     "safetensors": safetensors.__version__, "numpy": np.__version__},
        "procedure": {
            "mode": "model.train() with every dropout probability 0.0 (train == eval)",
            "attention": "eager",
            "full_batch": "`loss` = one forward on all 4 rows (the model's own mean loss); `grad.<name>` = d loss / d param "
                          "of that single backward (no accumulation, no clipping)",
            "steps": N_STEPS, "grad_accumulation": GRAD_ACCUM, "micro_batches_rows": MICRO_BATCHES,
            "micro_batch_note": "micro-batches are row slices of the padded [4, 12] tensors (no re-padding); each "
                                "micro-batch loss (mean over its own targets) is divided by 2 before backward; the "
                                "`after3` weights start from the initial weights (the full-batch grads are discarded)",
            "hf_trainer_difference": "transformers >= 4.46 Trainer normalises token losses by num_items_in_batch across "
                                     "the accumulated micro-batches when the model accepts loss kwargs; these "
                                     "fixtures use the simpler per-micro-batch mean / 2 as specified",
            "clip": CLIP_DOC,
            "optimizer": ADAMW_DOC,
            "order": "for each step: micro-batch backward x2, clip_grad_norm_, optimizer.step(), scheduler.step(), "
                     "zero_grad; `train.lr[s]` is the lr used by step s",
            **(procedure_extra or {}),
        },
    }


def hf_procedure(name, model):
    return {
        "optimizer_settings": {"lr": LR, "betas": list(HF_OPT["betas"]), "eps": HF_OPT["eps"],
                               "weight_decay": WD, "no_decay_weight_decay": 0.0},
        "schedule": "transformers.get_linear_schedule_with_warmup(num_warmup_steps=1, num_training_steps=4): "
                    "factor(s) = s/1 for s < 1 else max(0, (4 - s) / (4 - 1)); steps 0,1,2 use factors 0, 1, 2/3 "
                    "(step 0 has lr 0: it only fills the Adam moments and its weight decay is a no-op)",
        "no_decay_rule": "HF Trainer.create_optimizer: weight decay iff the name is in "
                         "Trainer.get_decay_parameter_names(model) = transformers.trainer_pt_utils.get_parameter_names("
                         "model, [nn.LayerNorm], forbidden patterns [r'bias', r'layernorm', r'rmsnorm', "
                         "r'(?:^|\\.)norm(?:$|\\.)', r'_norm(?:$|\\.)'] on the lower-cased full name) "
                         f"(transformers {transformers.__version__}: ALL_LAYERNORM_LAYERS is [nn.LayerNorm]; "
                         "LlamaRMSNorm is caught by the name patterns). Result listed in `no_decay`.",
    }


def dump_json(obj, path):
    """indent=1, but lists of numbers on one line (keeps meta.json small and readable)."""
    text = json.dumps(obj, indent=1)
    text = re.sub(r"\[\s*(-?[\d.e+-]+(?:,\s*-?[\d.e+-]+)*)\s*\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    text = re.sub(r"\[\s*(\[[^\[\]]*\](?:,\s*\[[^\[\]]*\])*)\s*\]",
                  lambda m: "[" + ", ".join(x.strip() for x in re.findall(r"\[[^\[\]]*\]", m.group(1))) + "]", text)
    with open(path, "w") as f:
        f.write(text + "\n")


def save_case(name, tensors, meta, model=None, config_json=None, state_dict=None):
    folder = os.path.join(OUT, name)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    mdir = os.path.join(folder, "model")
    os.makedirs(mdir)
    if model is not None:
        model.save_pretrained(mdir, safe_serialization=True)
    else:
        save_file({k: v.contiguous() for k, v in state_dict.items()}, os.path.join(mdir, "model.safetensors"))
        with open(os.path.join(mdir, "config.json"), "w") as f:
            json.dump(config_json, f, indent=1)
    from safetensors import safe_open
    with safe_open(os.path.join(mdir, "model.safetensors"), "pt") as f:
        meta["model_safetensors_keys"] = sorted(f.keys())
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    save_file(tensors, os.path.join(folder, "step.safetensors"), metadata={"seed": str(SEED)})
    meta["step_tensors"] = {k: f"{str(v.dtype).replace('torch.', '')} {list(v.shape)}"
                            for k, v in sorted(tensors.items())}
    dump_json(meta, os.path.join(folder, "meta.json"))
    return folder


def report(name, info):
    print(f"{name}: loss {info['full_batch_loss']:.6f} lr {['%.2e' % x for x in info['lr_per_step']]} "
          f"grad_norm {['%.3f' % x for x in info['grad_norm_before_clip']]} "
          f"trainable {len(info['trainable'])} no_decay {len(info['no_decay'])}")


# ----------------------------------------------------------------------------------------------------------
def case_mlm(name, cfg, cls, batch, vocab_meta, extra_meta, offset):
    seed_all(offset)
    model = cls(cfg)
    reinit_(model)
    hidden = eval_outputs(model, batch)
    tied = tied_groups(model)
    nd_model = copy.deepcopy(model)
    meta = base_meta(name, hf_procedure(name, model))
    tensors, info = train_case(model, batch, hf_loss, HF_OPT, hf_schedule)
    tensors.update({k: v for k, v in batch.items()})
    tensors.update(hidden)
    meta.update(info)
    meta.update(vocab_meta)
    meta.update(extra_meta)
    meta["tied_parameters"] = tied
    meta["hidden_states"] = f"{len([k for k in hidden if k.startswith('hidden_')])} (embeddings output, then each layer)"
    save_case(name, tensors, meta, model=nd_model)
    report(name, info)


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(SEED)

    # ---------------- bert_mlm / bert_cls ----------------
    bert_vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "ordinary": [5, 47]}
    ids, attn, tt = bert_inputs(gen)
    corrupted, labels, rec = mlm_corrupt(ids, 4, 5, 48, gen)
    bert_cfg = dict(vocab_size=48, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                    intermediate_size=INTER, hidden_act="gelu", max_position_embeddings=MAX_LEN, type_vocab_size=2,
                    layer_norm_eps=1e-12, pad_token_id=0, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                    classifier_dropout=0.0, attn_implementation="eager")
    batch = {"input_ids": corrupted, "attention_mask": attn, "token_type_ids": tt, "labels": labels}
    mlm_extra = {"mlm_corruption": rec, "original_input_ids": ids.tolist(),
                 "mlm_note": "BERT 80/10/10 as fixed choices: `mask` -> [MASK] id, `random` -> a random ordinary id "
                             "(drawn once from the seeded generator), `keep` -> unchanged; labels = original token "
                             "at those positions, -100 elsewhere (padding included)",
                 "inputs_note": "rows: [CLS] A [SEP] (B [SEP]), lengths " + str(LENGTHS) + ", right padded with [PAD]=0; "
                                "rows 0 and 2 are pairs with token_type_ids 1 on B and its [SEP]; padding has type 0",
                 "loss": "cross-entropy mean over positions with label != -100"}
    case_mlm("bert_mlm", BertConfig(**bert_cfg), BertForMaskedLM, batch, {"vocab": bert_vocab}, mlm_extra, 1)

    seed_all(5)
    cls_labels = torch.tensor([3, 0, 6, 5], dtype=torch.int64)
    cfg = BertConfig(**bert_cfg, num_labels=7, problem_type="single_label_classification")
    model = BertForSequenceClassification(cfg)
    reinit_(model)
    batch = {"input_ids": ids, "attention_mask": attn, "token_type_ids": tt, "labels": cls_labels}
    hidden = eval_outputs(model, batch)
    tied = tied_groups(model)
    nd_model = copy.deepcopy(model)
    meta = base_meta("bert_cls", hf_procedure("bert_cls", model))
    tensors, info = train_case(model, batch, hf_loss, HF_OPT, hf_schedule)
    tensors.update(batch)
    tensors.update(hidden)
    meta.update(info)
    meta.update({"vocab": bert_vocab, "tied_parameters": tied, "num_labels": 7,
                 "inputs_note": "same (uncorrupted) rows as bert_mlm's original_input_ids, same token_type_ids",
                 "loss": "cross-entropy over 7 classes of classifier(pooler(h[:, 0])) (pooler = tanh(dense)), mean over rows",
                 "hidden_states": "3 (embeddings output, then each layer)"})
    save_case("bert_cls", tensors, meta, model=nd_model)
    report("bert_cls", info)

    # ---------------- roberta_mlm ----------------
    rob_vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4, "ordinary": [5, 45]}
    rows = [[0] + torch.randint(5, 46, (n - 2,), generator=gen).tolist() + [2] for n in LENGTHS]
    rids, rattn = pad_batch(rows, 1)
    rcorr, rlabels, rrec = mlm_corrupt(rids, 4, 5, 46, gen)
    rcfg = RobertaConfig(vocab_size=46, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                         intermediate_size=INTER, hidden_act="gelu", max_position_embeddings=MAX_LEN + 2,
                         type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                         hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0,
                         attn_implementation="eager")
    pos = (rids.ne(1).long().cumsum(1) * rids.ne(1).long()) + 1
    batch = {"input_ids": rcorr, "attention_mask": rattn, "labels": rlabels}
    rextra = {"mlm_corruption": rrec, "original_input_ids": rids.tolist(),
              "mlm_note": mlm_extra["mlm_note"].replace("[MASK]", "<mask>"),
              "inputs_note": "rows: <s> tokens </s>, lengths " + str(LENGTHS) + ", right padded with <pad>=1; no "
                             "token_type_ids passed (type_vocab_size 1, the model uses zeros)",
              "position_ids": pos.tolist(),
              "position_ids_rule": "transformers create_position_ids_from_input_ids: mask = input_ids != padding_idx(1); "
                                   "pos = cumsum(mask) * mask + 1 (real tokens 2..len+1, padding 1); computed from the "
                                   "corrupted input_ids (no corruption uses the pad id, so identical)",
              "loss": mlm_extra["loss"]}
    case_mlm("roberta_mlm", rcfg, RobertaForMaskedLM, batch, {"vocab": rob_vocab}, rextra, 2)

    # ---------------- gpt2_clm ----------------
    rows = token_rows(gen, 3, 44)
    gids, gattn = pad_batch(rows, 0)
    glabels = gids.masked_fill(gattn == 0, -100)
    gcfg = GPT2Config(vocab_size=44, n_positions=MAX_LEN, n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS, n_inner=INTER,
                      activation_function="gelu_new", layer_norm_epsilon=1e-5, resid_pdrop=0.0, embd_pdrop=0.0,
                      attn_pdrop=0.0, summary_first_dropout=0.0, bos_token_id=0, eos_token_id=0,
                      tie_word_embeddings=True, attn_implementation="eager")
    clm_extra = {"loss": "causal LM: logits[:, :-1] vs labels[:, 1:] (transformers shifts internally), cross-entropy "
                         "mean over shifted labels != -100",
                 "labels_rule": "labels = input_ids with -100 at padding"}
    case_mlm("gpt2_clm", gcfg, GPT2LMHeadModel, {"input_ids": gids, "attention_mask": gattn, "labels": glabels},
             {"vocab": {"<|endoftext|> (pad here)": 0, "ordinary": [3, 43]}},
             {**clm_extra, "inputs_note": f"rows of ordinary ids, lengths {LENGTHS}, right padded with 0; positions "
                                          "0..11 for every row (arange)",
              "hidden_states_note": "last hidden state has ln_f applied"}, 3)

    # ---------------- llama_clm ----------------
    rows = [[1] + r for r in token_rows(gen, 3, 42, [n - 1 for n in LENGTHS])]
    lids, lattn = pad_batch(rows, 0)
    llabels = lids.masked_fill(lattn == 0, -100)
    lcfg = LlamaConfig(vocab_size=42, hidden_size=HIDDEN, intermediate_size=INTER, num_hidden_layers=LAYERS,
                       num_attention_heads=HEADS, num_key_value_heads=2, max_position_embeddings=16,
                       rms_norm_eps=1e-5, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                       tie_word_embeddings=True, attention_dropout=0.0, attention_bias=False, mlp_bias=False,
                       pad_token_id=0, bos_token_id=1, eos_token_id=2, attn_implementation="eager")
    llama_batch = {"input_ids": lids, "attention_mask": lattn, "labels": llabels}
    llama_vocab = {"vocab": {"pad": 0, "bos": 1, "eos": 2, "ordinary": [3, 41]}}
    llama_extra = {**clm_extra, "inputs_note": f"rows: bos(1) + ordinary ids, lengths {LENGTHS}, right padded with 0; "
                                               "positions 0..11 (arange) for every row",
                   "rope": "default rope, theta 10000, head_dim 8, rotate_half convention (HF)",
                   "config_note": "transformers 5 writes rope as config.json['rope_parameters'] = {rope_theta, rope_type}",
                   "hidden_states_note": "last hidden state has the final RMSNorm applied"}
    seed_all(4)
    llama_base = LlamaForCausalLM(lcfg)
    reinit_(llama_base)
    llama_base_init = copy.deepcopy(llama_base)
    case_mlm_model("llama_clm", lcfg, llama_base, llama_batch, llama_vocab, llama_extra)

    # ---------------- llama_lora ----------------
    case_lora(copy.deepcopy(llama_base_init), llama_batch, llama_vocab, llama_extra)

    # ---------------- grokking ----------------
    case_grokking()


def case_mlm_model(name, cfg, model, batch, vocab_meta, extra):
    hidden = eval_outputs(model, batch)
    tied = tied_groups(model)
    nd_model = copy.deepcopy(model)
    meta = base_meta(name, hf_procedure(name, model))
    tensors, info = train_case(model, batch, hf_loss, HF_OPT, hf_schedule)
    tensors.update(batch)
    tensors.update(hidden)
    meta.update(info)
    meta.update(vocab_meta)
    meta.update(extra)
    meta["tied_parameters"] = tied
    meta["hidden_states"] = "3 (embeddings output, then each layer)"
    save_case(name, tensors, meta, model=nd_model)
    report(name, info)


def case_lora(base, batch, vocab_meta, extra):
    from peft import LoraConfig, get_peft_model
    name = "llama_lora"
    targets = ["q_proj", "k_proj", "v_proj", "o_proj"]
    base_copy = copy.deepcopy(base)
    lcfg = LoraConfig(r=4, lora_alpha=8, use_rslora=True, target_modules=targets, lora_dropout=0.0, bias="none",
                      task_type="CAUSAL_LM")
    seed_all(6)
    model = get_peft_model(base, lcfg)
    with torch.no_grad():
        g = torch.Generator().manual_seed(SEED + 7)
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert all("lora_" in n for n in trainable), trainable
    hidden = eval_outputs(model, batch)
    init_model = copy.deepcopy(model)

    # merged weights of the ORIGINAL adapter, and the merged model's outputs
    merged = copy.deepcopy(model).merge_and_unload()
    mt = {}
    for n, p in merged.named_parameters():
        if any(f"self_attn.{t}.weight" in n for t in targets):
            mt[f"merged.{n}"] = p.detach().clone()
    mh = eval_outputs(merged, batch)
    merge_diff = {k: float((mh[k] - hidden[k]).abs().max()) for k in hidden}
    # check against the explicit formula W + scaling * B @ A
    scaling = 8 / math.sqrt(4)
    formula_diff = 0.0
    for n, p in model.named_parameters():
        if "lora_A" in n:
            mod = n.replace(".lora_A.default.weight", "")
            a = p.detach()
            b = dict(model.named_parameters())[mod + ".lora_B.default.weight"].detach()
            w = dict(base_copy.named_parameters())[mod.replace("base_model.model.", "") + ".weight"].detach()
            key = "merged." + mod.replace("base_model.model.", "") + ".weight"
            formula_diff = max(formula_diff, float((w + scaling * b @ a - mt[key]).abs().max()))

    meta = base_meta(name, hf_procedure(name, model))
    tensors, info = train_case(model, batch, hf_loss, HF_OPT, hf_schedule)
    tensors.update(batch)
    tensors.update(hidden)
    tensors.update(mt)
    meta.update(info)
    meta.update(vocab_meta)
    meta.update(extra)
    meta["lora"] = {
        "r": 4, "lora_alpha": 8, "use_rslora": True, "scaling": scaling,
        "scaling_rule": "rsLoRA: lora_alpha / sqrt(r) = 4.0; y = W x + scaling * B (A x)",
        "target_modules": targets, "lora_dropout": 0.0, "bias": "none", "task_type": "CAUSAL_LM",
        "init": "lora_A: peft default (kaiming_uniform_(a=sqrt(5)) under torch.manual_seed(seed+6)); lora_B: "
                "normal(0, 0.02) from torch.Generator().manual_seed(seed+7) (instead of zeros)",
        "frozen": "every base weight (requires_grad False); trainable = lora_A / lora_B only",
        "names": "step.safetensors uses named_parameters() names of the PeftModel, e.g. "
                 "base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight; adapter/adapter_model."
                 "safetensors drops the adapter name: base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight. "
                 "A: [r, in], B: [out, r]",
        "hidden_and_logits": "hidden_<i> / logits = adapter-applied model (eval) on the step inputs, initial adapter",
        "merged": "merged.<name> = q/k/v/o weights of copy.deepcopy(model).merge_and_unload() with the initial adapter",
        "merge_check_max_abs_diff_vs_adapter_applied": merge_diff,
        "merge_check_max_abs_diff_vs_W_plus_scaling_BA": formula_diff,
    }
    meta["tied_parameters"] = tied_groups(base_copy)
    meta["tied_note"] = "base model ties lm_head.weight to model.embed_tokens.weight; both frozen here"
    meta["hidden_states"] = "3 (embeddings output, then each layer; last with final RMSNorm)"
    save_case(name, tensors, meta, model=base_copy)
    adir = os.path.join(OUT, name, "adapter")
    init_model.save_pretrained(adir, safe_serialization=True)
    acfg_path = os.path.join(adir, "adapter_config.json")
    with open(acfg_path) as f:
        acfg = json.load(f)
    acfg["target_modules"] = sorted(acfg["target_modules"])  # peft writes a set: make the file deterministic
    with open(acfg_path, "w") as f:
        json.dump(acfg, f, indent=2, sort_keys=True)
    readme = os.path.join(adir, "README.md")
    if os.path.exists(readme):
        os.remove(readme)
    from safetensors import safe_open
    with safe_open(os.path.join(adir, "adapter_model.safetensors"), "pt") as f:
        meta["adapter_safetensors_keys"] = sorted(f.keys())
    dump_json(meta, os.path.join(OUT, name, "meta.json"))
    print(f"llama_lora: merge vs adapter max diff {max(merge_diff.values()):.2e}, formula {formula_diff:.2e}")
    report(name, info)


def case_grokking():
    p = 11
    cfgj = {"p": p, "vocab": p + 2, "d": 32, "heads": 4, "ff": 64, "blocks": 2, "dropout": 0.0, "positions": 5,
            "layer_norm_eps": 1e-5, "activation": "gelu (erf)", "embedding_scale": "sqrt(d)",
            "source": "benches/peers/grokking_torch.py"}
    seed_all(8)
    model = Model(cfgj["vocab"], cfgj["d"], cfgj["heads"], cfgj["ff"], cfgj["blocks"], 0.0)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    pairs = [(3, 5), (10, 7), (0, 9), (6, 6)]
    x = torch.tensor([[a, p, b, p + 1] for a, b in pairs], dtype=torch.int64)
    y = torch.tensor([(a + b) % p for a, b in pairs], dtype=torch.int64)
    batch = {"input_ids": x, "labels": y}
    meta = base_meta("grokking", {
        "optimizer_settings": {"lr": LR, "betas": list(GROK_OPT["betas"]), "eps": GROK_OPT["eps"],
                               "weight_decay": WD},
        "schedule": "LambdaLR factor(s) = 1/3 + (2/3) * s / 10 for s < 10, else (400000 - s) / (400000 - 10); steps "
                    "0,1,2 use lr 1e-3 * factor(0,1,2)",
        "no_decay_rule": "none: weight decay applies to every parameter (one group)"})
    tensors, info = train_case(model, batch, grok_loss, GROK_OPT, grok_schedule, decay_all=True)
    tensors.update(batch)
    meta.update(info)
    meta.update({
        "model": cfgj, "pairs": pairs,
        "inputs_note": "input_ids rows [a, p, b, p+1] (p = 11 is '=' / op token, 12 the end token), labels (a+b) mod p",
        "loss": "cross-entropy of head(ln_f(h[:, -1])) (last position only), mean over rows",
        "forward": "h = tok(x) * sqrt(d) + pos.weight[:4]; 2 pre-norm blocks: h += out(attn(ln1 h)) with fused qkv "
                   "(split q|k|v along the output dim, 4 heads of 8, causal mask, scale 1/sqrt(8)); "
                   "h += ff2(gelu(ff1(ln2 h))); logits = head(ln_f(h[:, -1]))",
        "state_dict_note": "model.safetensors is the full state_dict(): the parameters plus the non-trainable buffer "
                           "`mask` ([4, 4] f32 causal mask, -inf above the diagonal)",
        "init": "PyTorch default init under torch.manual_seed(seed+8)",
        "tied_parameters": [],
    })
    save_case("grokking", tensors, meta, config_json=cfgj, state_dict=state)
    report("grokking", info)


if __name__ == "__main__":
    main()
