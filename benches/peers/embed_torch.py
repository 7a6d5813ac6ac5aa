#!/usr/bin/env python3
"""PyTorch peer of `lid embed` for benches/peers/embed_bench.sh: same model, same sequences, same
tokenisation (tokenizer.json with padding off, truncation to --max-length), same length-grouped batches
of --batch-size, fp32 eval, last hidden state.

Timed exactly as `lid embed` times itself (its `forward_seconds`): from after tokenisation and model
loading to the kept rows being written as one .npy file, i.e. building the padded batches, the forward
passes, gathering the real tokens and writing them. Prints tokens/second and the peak RSS of this
process. --attn picks the attention implementation: `sdpa` (the transformers default, PyTorch's fused
scaled_dot_product_attention) or `eager` (the reference path the golden fixtures use)."""
import argparse
import os
import resource
import tempfile
import time

import numpy as np
import torch
import transformers
from tokenizers import Tokenizer

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--corpus", required=True)
p.add_argument("--first", type=int, required=True)
p.add_argument("--batch-size", type=int, default=32)
p.add_argument("--max-length", type=int, default=512)
p.add_argument("--threads", type=int, default=0)
p.add_argument("--attn", choices=["sdpa", "eager"], default="sdpa")
p.add_argument("--out", default=None, help=".npy to write (default: a temporary file, removed)")
a = p.parse_args()
if a.threads:
    torch.set_num_threads(a.threads)
torch.set_grad_enabled(False)

texts = [l for l in open(a.corpus, encoding="utf8").read().splitlines() if l.strip()][: a.first]
tok = Tokenizer.from_file(f"{a.model}/tokenizer.json")
tok.no_padding()
tok.enable_truncation(a.max_length)
encs = [e.ids for e in tok.encode_batch(texts)]
model = transformers.AutoModel.from_pretrained(a.model, attn_implementation=a.attn).eval()
out_path = a.out or os.path.join(tempfile.mkdtemp(), "torch.npy")

order = sorted(range(len(encs)), key=lambda i: (len(encs[i]), i))
tokens = 0
kept = [None] * len(encs)
start = time.perf_counter()
for s in range(0, len(order), a.batch_size):
    idx = order[s : s + a.batch_size]
    batch = [encs[i] for i in idx]
    t = max(len(x) for x in batch)
    ids = torch.zeros((len(batch), t), dtype=torch.long)
    mask = torch.zeros((len(batch), t), dtype=torch.long)
    for b, x in enumerate(batch):
        ids[b, : len(x)] = torch.tensor(x)
        mask[b, : len(x)] = 1
    out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1]
    for b, i in enumerate(idx):  # real tokens only, in corpus order, as lid embed stores them
        kept[i] = out[b, : len(batch[b])].numpy()
    tokens += int(mask.sum())
np.save(out_path, np.concatenate(kept))
elapsed = time.perf_counter() - start
if a.out is None:
    os.remove(out_path)
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"torch {torch.__version__} transformers {transformers.__version__} attn {a.attn} "
      f"threads {torch.get_num_threads()}: {len(encs)} sequences, {tokens} tokens in {elapsed:.2f} s "
      f"= {tokens / elapsed:.0f} tokens/s, peak RSS {rss_mb:.0f} MB")
