"""lid.compare (cargo feature `embed`) on the offline MiniLM asset and a perturbed copy of it.

Skipped when the build has no `embed` or the asset is missing. The rows must equal those of the
`lid compare` command on the same corpora and settings (both call lid_train::compare); the command
is taken from $LID_BIN or the workspace's target/debug/lid (built by the README's test command),
and that check is skipped when neither exists.
"""

import json
import os
import shutil
import struct
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

import lid

ROOT = Path(__file__).resolve().parents[2]
MINILM = ROOT / "assets" / "minilm"

needs_models = pytest.mark.skipif(
    not lid.EMBED_AVAILABLE or not (MINILM / "model.safetensors").is_file(),
    reason="build without the embed feature, or assets/minilm missing",
)

DIALOGUE = [
    f"I need a {p} restaurant in the {a} of town for {n} people."
    for p in ["cheap", "moderately priced", "expensive"]
    for a in ["north", "south", "centre", "east", "west"]
    for n in ["two", "three", "four"]
]
PROSE = [
    f"The {s} of the {t} was reported by {w} on {d}."
    for s in ["collapse", "opening", "sale", "closure"]
    for t in ["bridge", "factory", "museum", "harbour", "bank"]
    for w in ["officials", "residents", "the council"]
    for d in ["Monday", "Friday"]
]
SETTINGS = dict(sequences=30, sequence_seed=778, n_points=400, neighbors=20, max_length=64)


def perturbed_copy(dst: Path) -> Path:
    """MiniLM with the last block's output projection scaled by 0.5: the same tokenizer, other
    hidden states. Written with the safetensors layout by hand (8-byte header length, JSON header,
    little-endian data), so no extra package is needed."""
    dst.mkdir()
    for name in ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"]:
        if (MINILM / name).is_file():
            shutil.copy(MINILM / name, dst / name)
    raw = (MINILM / "model.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = bytearray(raw[8 + n :])
    key = next(k for k in header if k.endswith("layer.5.output.dense.weight"))
    meta = header[key]
    assert meta["dtype"] == "F32"
    lo, hi = meta["data_offsets"]
    w = np.frombuffer(bytes(data[lo:hi]), dtype="<f4") * np.float32(0.5)
    data[lo:hi] = w.astype("<f4").tobytes()
    (dst / "model.safetensors").write_bytes(raw[: 8 + n] + bytes(data))
    return dst


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return MINILM, perturbed_copy(tmp_path_factory.mktemp("m") / "tuned")


@needs_models
def test_compare_ranks_corpora_and_matches_the_command(models, tmp_path):
    base, tuned = models
    rows = lid.compare(base, tuned, {"dialogue": DIALOGUE, "prose": PROSE}, in_domain=["dialogue"], **SETTINGS)
    assert [r["rank"] for r in rows] == [1, 2]
    assert rows[0]["smd"] >= rows[1]["smd"]
    by_name = {r["corpus"]: r for r in rows}
    assert by_name["dialogue"]["in_domain"] and not by_name["prose"]["in_domain"]
    for r in rows:
        assert r["smd_lower"] <= r["smd"] <= r["smd_upper"]
        assert 0 < r["base_points"] <= SETTINGS["n_points"]
        # The perturbation changes the hidden states, so the means differ.
        assert r["base_mean"] != r["tuned_mean"]
        for token, count, drop in r["largest_drops"]:
            assert isinstance(token, str) and count >= 5 and np.isfinite(drop)

    # The same base model on both sides: every SMD is exactly zero.
    same = lid.compare(base, base, {"dialogue": DIALOGUE}, **SETTINGS)
    assert same[0]["smd"] == 0.0 and same[0]["base_mean"] == same[0]["tuned_mean"]

    binary = Path(os.environ.get("LID_BIN", ROOT / "target" / "debug" / "lid"))
    if not binary.is_file():
        pytest.skip(f"no lid binary at {binary} to compare with")
    for name, texts in [("dialogue", DIALOGUE), ("prose", PROSE)]:
        (tmp_path / f"{name}.txt").write_text("\n".join(texts) + "\n")
    out = tmp_path / "cmd"
    subprocess.run(
        [str(binary), "compare", "--model", str(base), "--model", str(tuned),
         "--corpus", str(tmp_path / "dialogue.txt"), "--corpus", str(tmp_path / "prose.txt"),
         "--out", str(out), "--sequences", "30", "--sequence-seed", "778", "--n-points", "400",
         "--neighbors", "20", "--max-length", "64"],
        check=True, capture_output=True,
    )
    command = json.loads((out / "comparisons.json").read_text())
    assert [c["corpus"] for c in command] == [r["corpus"] for r in rows]
    for c, r in zip(command, rows):
        for k in ["base_mean", "tuned_mean", "smd", "smd_lower", "smd_upper", "base_points", "tuned_points"]:
            assert c[k] == r[k], k


@needs_models
def test_compare_errors_and_warnings(models):
    base, tuned = models
    with pytest.raises(ValueError, match="in_domain"):
        lid.compare(base, tuned, {"dialogue": DIALOGUE}, in_domain=["prose"], **SETTINGS)
    with pytest.raises(TypeError, match="corpora"):
        lid.compare(base, tuned, DIALOGUE, **SETTINGS)
    with pytest.raises(ValueError, match="no-such-model"):
        lid.compare(base.parent / "no-such-model", tuned, {"dialogue": DIALOGUE}, **SETTINGS)
    with pytest.raises(ValueError, match="sequences"):
        lid.compare(base, tuned, {"dialogue": DIALOGUE}, **{**SETTINGS, "sequences": 1})
    with pytest.warns(UserWarning, match="n_points=100000"):
        lid.compare(base, tuned, {"dialogue": DIALOGUE}, **{**SETTINGS, "n_points": 100_000})


def test_without_the_feature_compare_is_a_clear_error():
    if lid.EMBED_AVAILABLE:
        pytest.skip("this build has embed")
    with pytest.raises(RuntimeError, match="--features embed"):
        lid.compare(MINILM, MINILM, {"a": ["x"]})
