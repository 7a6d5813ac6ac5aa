"""lid.embed (cargo feature `embed`) on the offline MiniLM asset (scripts/fetch-assets.sh).

Skipped when the build has no `embed` (the default build: it compiles candle) or the asset is
missing. lid-embed's forward pass itself is checked against PyTorch in lid-embed/tests.
"""

from pathlib import Path

import numpy as np
import pytest

import lid

MINILM = Path(__file__).resolve().parents[2] / "assets" / "minilm"
TEXTS = [
    "I would like a cheap restaurant in the centre of town.",
    "The train leaves Cambridge at 9:15 and arrives in London at 10:08.",
    "",
    "Thanks, that is all I need. Goodbye!",
]


def test_without_the_feature_embed_is_a_clear_error():
    if lid.EMBED_AVAILABLE:
        pytest.skip("this build has embed")
    with pytest.raises(RuntimeError, match="--features embed"):
        lid.embed(MINILM, TEXTS)


needs_embed = pytest.mark.skipif(
    not (lid.EMBED_AVAILABLE and (MINILM / "model.safetensors").is_file()),
    reason="build without the embed feature, or assets/minilm missing",
)


@needs_embed
def test_embed_minilm_tokens_and_vectors():
    vectors, tokens = lid.embed(MINILM, TEXTS, layer=-1, max_length=128)
    n = len(tokens["token"])
    assert vectors.dtype == np.float32 and vectors.shape == (n, 384)
    assert np.all(np.isfinite(vectors))
    assert tokens["layer"] == 6  # MiniLM-L6: hidden states 0..6
    # Texts in order, positions counting from 0 in each. BERT has no bos/eos ids: the paper's
    # pad-eos filter keeps [CLS] and [SEP] and drops only padding; the empty text is [CLS] [SEP].
    assert tokens["sequence"].tolist() == sorted(tokens["sequence"].tolist())
    assert sorted(set(tokens["sequence"].tolist())) == [0, 1, 2, 3]
    empty = tokens["sequence"] == 2
    assert [t for t, e in zip(tokens["token"], empty) if e] == ["[CLS]", "[SEP]"]
    assert tokens["token"].count("[CLS]") == tokens["token"].count("[SEP]") == 4
    assert "[PAD]" not in tokens["token"] and tokens["empty_sequences"] == 0
    for s in range(4):
        rows = tokens["sequence"] == s
        assert tokens["position"][rows].tolist() == list(range(rows.sum()))
    # Another layer differs; the batch size does not change the vectors (beyond float noise).
    emb, _ = lid.embed(MINILM, TEXTS, layer=0, max_length=128)
    assert emb.shape == vectors.shape and not np.allclose(emb, vectors)
    one_by_one, _ = lid.embed(MINILM, TEXTS, max_length=128, batch_size=1)
    np.testing.assert_allclose(one_by_one, vectors, atol=1e-5)
    # The "special" filter only drops the rows of special tokens.
    words, meta = lid.embed(MINILM, TEXTS, max_length=128, filter="special")
    keep = np.array([t not in ("[CLS]", "[SEP]") for t in tokens["token"]])
    assert len(words) == n - 8 and meta["token"] == [t for t, k in zip(tokens["token"], keep) if k]
    np.testing.assert_array_equal(words, vectors[keep])


@needs_embed
def test_embed_errors():
    with pytest.raises(ValueError):
        lid.embed(MINILM.parent / "no-such-model", TEXTS)
    with pytest.raises(ValueError, match="filter"):
        lid.embed(MINILM, TEXTS, filter="odd")
    with pytest.raises(ValueError):
        lid.embed(MINILM, TEXTS, layer=7)
    with pytest.raises(TypeError):
        lid.embed(MINILM, "one string")


@needs_embed
def test_embed_then_local_dimensions():
    texts = [f"Sentence number {i} talks about {w}." for i, w in enumerate(["trains", "hotels", "taxis", "restaurants"] * 10)]
    vectors, _ = lid.embed(MINILM, texts, max_length=64)
    result = lid.local_dimensions(vectors, neighbors=16)
    assert np.all(np.isfinite(result.values)) and result.values.mean() > 1
