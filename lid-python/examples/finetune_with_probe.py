"""A PyTorch fine-tuning loop (Hugging Face transformers) watched by ``lid.Probe``.

Masked-language-model fine-tuning of a local BERT-family model on a text corpus, with the mean
local dimension of a fixed held-out probe set measured every ``--every`` steps from the last hidden
state (Ruppik et al., NeurIPS 2025: a label-free training monitor), plotted next to the training
and held-out losses. Everything is local: the model folder and the corpus are paths (no hub).

    python lid-python/examples/finetune_with_probe.py --model assets/minilm \
        --corpus assets/prose/lee_background.cor --out /tmp/probe-run

Writes ``lid.csv`` (the probe's series, ``Probe.to_csv``), ``loss.csv`` (step, training loss,
held-out loss) and ``lid_and_loss.png`` into ``--out``. Needs ``torch``, ``transformers`` and
``matplotlib`` besides ``lid``; docs/python.md shows a measured run.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import time

import numpy as np
import torch
from transformers import AutoTokenizer, BertForMaskedLM, DataCollatorForLanguageModeling

import lid


def sentences(path: str) -> list[str]:
    """One sentence per item: the corpus split at sentence ends, short fragments dropped."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    parts = re.split(r"(?<=[.!?])\s+", text)
    return [p.strip() for p in parts if len(p.split()) >= 5]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a BERT-family model folder (config.json, weights, tokenizer)")
    ap.add_argument("--corpus", required=True, help="a plain-text file")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--every", type=int, default=25, help="probe every k steps")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--probe-sequences", type=int, default=300)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    texts = sentences(args.corpus)
    random.shuffle(texts)
    held_out, train = texts[: args.probe_sequences], texts[args.probe_sequences :]
    print(f"{len(train)} training sentences, {len(held_out)} held out for the probe")

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    # The checkpoint's encoder; the MLM head is new when the folder has none (a warning says so).
    model = BertForMaskedLM.from_pretrained(args.model)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)

    probe_batch = tokenizer(
        held_out, padding=True, truncation=True, max_length=args.max_length, return_tensors="pt"
    )
    encoded_train = [
        tokenizer(t, truncation=True, max_length=args.max_length)["input_ids"] for t in train
    ]
    # The probe: N and L sized to the held-out tokens (the paper: N 60,000, L 128).
    probe = lid.Probe(n_points=4000, neighbors=128, seed=args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    held_masked = collator([{"input_ids": ids} for ids in probe_batch["input_ids"].tolist()])

    def measure(step: int, train_loss: float, rows: list) -> None:
        model.eval()
        with torch.no_grad():
            out = model.bert(**probe_batch, output_hidden_states=False)
            point = probe.measure(step, out.last_hidden_state, probe_batch["attention_mask"])
            held = model(
                input_ids=held_masked["input_ids"],
                attention_mask=(held_masked["input_ids"] != tokenizer.pad_token_id).long(),
                labels=held_masked["labels"],
            ).loss.item()
        model.train()
        rows.append((step, train_loss, held))
        print(f"step {step:4d}  train loss {train_loss:.3f}  held-out loss {held:.3f}  "
              f"mean LID {point.mean:.3f} over {point.n_points} points")

    rows: list = []
    model.train()
    running = float("nan")
    start = time.time()
    for step in range(args.steps + 1):
        if step % args.every == 0:
            measure(step, running, rows)
        if step == args.steps:
            break
        picks = torch.randint(len(encoded_train), (args.batch,), generator=gen).tolist()
        batch = collator([{"input_ids": encoded_train[i]} for i in picks])
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        running = loss.item() if np.isnan(running) else 0.9 * running + 0.1 * loss.item()
    print(f"{args.steps} steps in {time.time() - start:.0f} s")

    probe.to_csv(os.path.join(args.out, "lid.csv"))
    with open(os.path.join(args.out, "loss.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "train_loss_ema", "held_out_loss"])
        w.writerows(rows)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [p.step for p in probe.series]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, [p.mean for p in probe.series], "o-", color="tab:blue", label="mean LID (held out)")
    ax.set_xlabel("training step")
    ax.set_ylabel("mean local dimension (TwoNN, L = 128)", color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot([r[0] for r in rows[1:]], [r[1] for r in rows[1:]], "s--", color="tab:red", label="training loss (EMA)")
    ax2.plot([r[0] for r in rows], [r[2] for r in rows], "^-", color="tab:orange", label="held-out MLM loss")
    ax2.set_ylabel("loss", color="tab:red")
    lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(lines, [l.get_label() for l in lines], loc="upper right", fontsize=8)
    ax.set_title("Fine-tuning watched by lid.Probe")
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "lid_and_loss.png"), dpi=120)
    print(f"wrote {args.out}/lid.csv, loss.csv, lid_and_loss.png")


if __name__ == "__main__":
    main()
