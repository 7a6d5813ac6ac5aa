"""PyTorch CPU peer of the lid-train training loop, for throughput comparison only (not a test).

Loads a Hugging Face directory and runs fp32 training steps on CPU:
  --task mlm   AutoModelForMaskedLM; BERT masking of 15 % of the non-special, non-padding tokens
               (80 % -> mask token, 10 % -> uniform random id, 10 % kept), labels -100 elsewhere.
               A checkpoint without an MLM head (e.g. all-MiniLM-L6-v2, a BertModel) gets one initialised exactly as
               BertForMaskedLM.from_pretrained does (decoder tied to the word embeddings); a stderr line says so.
  --task clm   AutoModelForCausalLM; labels = input_ids with -100 at padding (pad = eos when the tokenizer has none).
  --task cls   AutoModelForSequenceClassification (--num-labels, default 7); synthetic label = line index % num_labels.
Sequences are taken in file order (one per line, cycling), tokenised with the directory's tokenizer (special tokens
added, truncated to --max-length), micro-batches of --batch rows padded to their longest row (dynamic padding).
Each optimizer step = --grad-accum micro-batches (loss / grad_accum before backward), clip_grad_norm_ 1.0, AdamW
(lr --lr, betas (0.9, 0.999), eps 1e-8) with the HF Trainer parameter groups (weight decay --weight-decay except
Trainer.get_decay_parameter_names' exclusions: biases and norm weights), linear schedule
(get_linear_schedule_with_warmup, --lr-warmup steps, total = warm-up + timed steps), zero_grad.
The model keeps its configured dropout (model.train()). Batches (tokenisation, padding, masking) are built before
the clock starts; the timed part is forward + backward + clip + optimizer + scheduler of the steps after
--warmup-steps untimed steps. torch.set_num_threads(--threads).

Prints one JSON line: {"impl": "pytorch", "task", "steps", "tokens" (non-padding tokens in the timed steps),
"seconds", "steps_per_s", "tokens_per_s", "torch_version", "threads", ...extra settings and the last loss}.

  /work/venvs/torch/bin/python benches/peers/train_torch.py --model assets/minilm --task mlm --texts T.txt \
      --batch 8 --max-length 64 --steps 10 --warmup-steps 2 --threads 2
Versions used: torch 2.15.0 (CPU build with CUDA libraries, run on CPU), transformers 5.24.0.
"""
import argparse
import json
import sys
import time

import torch
import transformers
from transformers import (AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer,
                          Trainer, get_linear_schedule_with_warmup)


def load_model(a):
    kw = {"dtype": torch.float32, "attn_implementation": a.attn}
    if a.task == "mlm":
        model, info = AutoModelForMaskedLM.from_pretrained(a.model, output_loading_info=True, **kw)
    elif a.task == "clm":
        model, info = AutoModelForCausalLM.from_pretrained(a.model, output_loading_info=True, **kw)
    else:
        model, info = AutoModelForSequenceClassification.from_pretrained(a.model, num_labels=a.num_labels,
                                                                         output_loading_info=True, **kw)
    missing = sorted(info.get("missing_keys", []))
    if missing:
        what = "MLM head" if a.task == "mlm" else ("classification head" if a.task == "cls" else "weights")
        print(f"train_torch: {a.model} has no {what}; initialised as {type(model).__name__}.from_pretrained does: "
              f"{', '.join(missing)}", file=sys.stderr)
    return model


def batches(a, tok, n_micro, gen):
    lines = [l.rstrip("\n") for l in open(a.texts, encoding="utf-8")]
    lines = [l for l in lines if l.strip()]
    if not lines:
        sys.exit(f"{a.texts}: no text")
    if tok.pad_token is None:
        # Llama-family tokenizers ship without one (and a tokenizer.json exported from a GGUF has
        # no eos either); padded positions are masked out of the attention and the labels, so
        # which id fills them does not matter.
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.convert_ids_to_tokens(0)
    pad_id = tok.pad_token_id
    out, cursor = [], 0
    for _ in range(n_micro):
        idx = [(cursor + i) % len(lines) for i in range(a.batch)]
        cursor += a.batch
        enc = tok([lines[i] for i in idx], truncation=True, max_length=a.max_length, padding="longest",
                  return_tensors="pt", return_special_tokens_mask=True)
        ids, mask = enc["input_ids"], enc["attention_mask"]
        b = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in enc and a.task != "clm":
            b["token_type_ids"] = enc["token_type_ids"]
        if a.task == "mlm":
            special = enc["special_tokens_mask"].bool() | (mask == 0)
            prob = torch.full(ids.shape, a.mlm_prob)
            prob.masked_fill_(special, 0.0)
            chosen = torch.bernoulli(prob, generator=gen).bool()
            labels = ids.masked_fill(~chosen, -100)
            r = torch.rand(ids.shape, generator=gen)
            ids = ids.clone()
            ids[chosen & (r < 0.8)] = tok.mask_token_id
            rnd = chosen & (r >= 0.8) & (r < 0.9)
            ids[rnd] = torch.randint(len(tok), ids.shape, generator=gen)[rnd]
            b["input_ids"] = ids
            b["labels"] = labels
        elif a.task == "clm":
            b["labels"] = ids.masked_fill(mask == 0, -100)
        else:
            b["labels"] = torch.tensor([i % a.num_labels for i in idx], dtype=torch.int64)
        out.append(b)
    return out, pad_id


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--task", choices=["mlm", "clm", "cls"], required=True)
    ap.add_argument("--texts", required=True)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup-steps", type=int, default=2, help="untimed steps before the clock starts")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--lr-warmup", type=int, default=0, help="learning-rate warm-up steps of the linear schedule")
    ap.add_argument("--grad-accum", type=int, default=1)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--mlm-prob", type=float, default=0.15)
    ap.add_argument("--num-labels", type=int, default=7)
    ap.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"])
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    transformers.logging.set_verbosity_error()

    tok = AutoTokenizer.from_pretrained(a.model)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = load_model(a)
    if a.task == "cls" and model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    model.train()

    total_steps = a.warmup_steps + a.steps
    data, _ = batches(a, tok, total_steps * a.grad_accum, torch.Generator().manual_seed(a.seed))
    decay = set(Trainer.get_decay_parameter_names(None, model))
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [{"params": [p for n, p in named if n in decay], "weight_decay": a.weight_decay},
              {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=a.lr_warmup, num_training_steps=total_steps)
    params = [p for _, p in named]

    def step(s):
        loss_sum = 0.0
        for mb in data[s * a.grad_accum:(s + 1) * a.grad_accum]:
            loss = model(**mb).loss / a.grad_accum
            loss.backward()
            loss_sum += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        return loss_sum

    for s in range(a.warmup_steps):
        step(s)
    tokens = sum(int(mb["attention_mask"].sum()) for mb in data[a.warmup_steps * a.grad_accum:])
    t0 = time.perf_counter()
    for s in range(a.warmup_steps, total_steps):
        last = step(s)
    dt = time.perf_counter() - t0
    print(json.dumps({"impl": "pytorch", "task": a.task, "steps": a.steps, "tokens": tokens, "seconds": dt,
                      "steps_per_s": a.steps / dt, "tokens_per_s": tokens / dt, "torch_version": torch.__version__,
                      "threads": a.threads, "model": a.model, "batch": a.batch, "max_length": a.max_length,
                      "grad_accum": a.grad_accum, "warmup_steps": a.warmup_steps, "attn": a.attn,
                      "transformers_version": transformers.__version__, "params": sum(p.numel() for p in params),
                      "last_loss": last}))


if __name__ == "__main__":
    main()
