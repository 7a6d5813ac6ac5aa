"""PyTorch peer of the grokking training loop (lid-experiments/src/grokking), for timing only.

Same model (2 pre-norm blocks, width/heads/ff as given, GELU, dropout, learned positions, embeddings
scaled by sqrt(d), causal mask, final LayerNorm, head on the last position), same AdamW settings,
grad-norm clipping 1.0, batch drawn with replacement from the training split of (a + b) mod p.
Prints one JSON line with steps per second over the timed steps (after warm-up steps).
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--p", type=int, default=59)
    ap.add_argument("--frac", type=float, default=0.3)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ff", type=int, default=256)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--weight-decay", type=float, default=1.0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1234)
    p = a.p
    pairs = torch.cartesian_prod(torch.arange(p), torch.arange(p))
    perm = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(46))
    train = pairs[perm[: int(len(pairs) * a.frac)]]
    x_all = torch.stack([train[:, 0], torch.full_like(train[:, 0], p), train[:, 1], torch.full_like(train[:, 0], p + 1)], 1)
    y_all = (train[:, 0] + train[:, 1]) % p
    model = Model(p + 2, a.d, a.heads, a.ff, 2, 0.1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), eps=1e-6, weight_decay=a.weight_decay)
    model.train()

    def step():
        idx = torch.randint(0, len(x_all), (a.batch,))
        loss = F.cross_entropy(model(x_all[idx]), y_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    dt = time.perf_counter() - t0
    print(json.dumps({"impl": "pytorch", "torch": torch.__version__, "threads": a.threads, "steps": a.steps,
                      "seconds": dt, "steps_per_s": a.steps / dt, "final_batch_loss": float(loss.detach())}))


if __name__ == "__main__":
    main()
