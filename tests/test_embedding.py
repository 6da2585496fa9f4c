"""The bundled model, loaded offline; our BERT executors agree with sentence-transformers."""

from __future__ import annotations

import numpy as np
import pytest

TEXTS = [
    "Who represented the US?",
    "How many detainees were released?",
    "Ünïcödé — Zelensky’s 4,600 émigrés 🎉",
    "word " * 400,  # longer than the model's 256 tokens: truncated the same way
    "",
]


@pytest.fixture(scope="module")
def reference(embedder):
    model = embedder._st_model  # sentence-transformers on the bundled model, the oracle
    return model.encode(TEXTS, normalize_embeddings=True)


def test_bundled_model_is_found_offline(embedder) -> None:
    assert embedder.name == "all-MiniLM-L6-v2"
    assert (embedder.path / "model.safetensors").is_file()
    assert embedder.dim == 384


def test_query_vectors_match_sentence_transformers(embedder, reference) -> None:
    for text, expected in zip(TEXTS, reference, strict=True):
        vector = embedder.embed_query(text)
        assert vector.shape == (384,)
        assert float(vector @ expected) > 0.9999, text[:30]


def test_passage_and_late_chunked_sentence_vectors(embedder, reference) -> None:
    text = "The US sent two envoys. Russia sent its spy chief. Kyiv sent officials."
    spans = [(0, 23), (24, 50), (51, 72)]
    [encoded] = embedder.encode_passages([text], [spans])
    whole = embedder._st_model.encode([text], normalize_embeddings=True)[0]
    assert float(encoded.vector @ whole) > 0.9999
    assert encoded.sentence_vectors.shape == (3, 384)
    norms = np.linalg.norm(encoded.sentence_vectors, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5)
    # Late chunking: each sentence's vector is closest to a question about it.
    question = embedder.embed_query("Whom did Russia send?")
    assert int(np.argmax(encoded.sentence_vectors @ question)) == 1


def test_batches_do_not_change_vectors(embedder) -> None:
    texts = ["Short one.", "A much longer passage about peace talks in Abu Dhabi. " * 5]
    spans = [[(0, 10)], [(0, 54)]]
    together = embedder.encode_passages(texts, spans)
    alone = [embedder.encode_passages([t], [s])[0] for t, s in zip(texts, spans, strict=True)]
    for a, b in zip(together, alone, strict=True):
        assert float(a.vector @ b.vector) > 0.9999


def test_unknown_model_setting_is_a_clear_error(tmp_path) -> None:
    from newsqa.index import Embedder, ModelNotFoundError

    with pytest.raises(ModelNotFoundError, match="not a local sentence-transformers model"):
        Embedder(str(tmp_path / "nope"))
