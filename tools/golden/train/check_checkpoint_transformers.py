"""A lid-train checkpoint loaded by PyTorch `transformers` gives lid-train's hidden states.

    LID_KEEP_CHECKPOINT=/tmp/lid-ckpt cargo test -p lid-train --test trainer checkpoints_load_back
    /work/venvs/torch/bin/python tools/golden/train/check_checkpoint_transformers.py /tmp/lid-ckpt

The test copies `checkpoint-3/` of its tiny BERT masked-LM run (dropout on, 3 AdamW updates, the
head initialised by lid-train) and writes lid-train's every hidden state of a fixed token sequence
to `lid_hidden_states.json`; this script loads the folder with `AutoModelForMaskedLM` (the class
named in its config.json), runs the same ids, and prints the largest difference per hidden state.
Exit status 1 above 1e-5.
"""
import json
import sys

import torch
from transformers import AutoConfig, AutoModelForMaskedLM


def main():
    folder = sys.argv[1]
    ref = json.load(open(f"{folder}/lid_hidden_states.json"))
    config = AutoConfig.from_pretrained(folder)
    model = AutoModelForMaskedLM.from_pretrained(folder).eval()
    ids = torch.tensor([ref["ids"]])
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True)
    worst = 0.0
    for i, (theirs, ours) in enumerate(zip(out.hidden_states, ref["hidden_states"])):
        d = (theirs[0].flatten() - torch.tensor(ours)).abs().max().item()
        worst = max(worst, d)
        print(f"hidden state {i}: max abs diff {d:.3g}")
    print(f"{config.architectures[0]} from {folder}: {len(out.hidden_states)} hidden states, max abs diff {worst:.3g}")
    sys.exit(0 if worst <= 1e-5 else 1)


if __name__ == "__main__":
    main()
