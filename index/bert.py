"""The BERT encoder's forward pass, for the models sentence-transformers would run as
Transformer(BertModel) → mean Pooling → Normalize, such as the bundled all-MiniLM-L6-v2.

Two executors over the same weights (read from the model's safetensors):
- `NumpyBert.forward`: one text, NumPy only, for queries: a cold `newsqa ask` must
  not pay the ~8 s that importing sentence-transformers (torch, transformers,
  scikit-learn) costs.
- `NumpyBert.token_embeddings_torch`: padded batches in torch, for building: the
  same speed as sentence-transformers' batched pass, without its import time
  (measured: 1.4 s for torch against 7.5 s; see BENCHMARKS.md).
`tests/test_embedding.py` checks both against sentence-transformers itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

# Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, far below float32 noise in GELU.
_P = 0.3275911
_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def _erf(x: np.ndarray) -> np.ndarray:
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + _P * x)
    poly = t * (_A[0] + t * (_A[1] + t * (_A[2] + t * (_A[3] + t * _A[4]))))
    return sign * (1.0 - poly * np.exp(-x * x))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class NumpyBert:
    """Mean-pooled, normalized BERT sentence embeddings for one text at a time."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict[str, Any], max_len: int):
        self.w = weights
        self.layers = int(config["num_hidden_layers"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.max_len = max_len
        self._torch: dict[str, Any] | None = None

    @staticmethod
    def supports(path: Path) -> bool:
        try:
            config = json.loads((path / "config.json").read_text())
            modules = json.loads((path / "modules.json").read_text())
            pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
        except (OSError, ValueError):
            return False
        return (
            config.get("model_type") == "bert"
            and config.get("hidden_act") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and (path / "model.safetensors").is_file()
            and [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
            == ["Transformer", "Pooling", "Normalize"]
            and pooling.get("pooling_mode_mean_tokens") is True
        )

    @classmethod
    def load(cls, path: Path, max_len: int) -> NumpyBert:
        from safetensors.numpy import load_file

        raw = load_file(str(path / "model.safetensors"))
        prefix = "bert." if any(k.startswith("bert.") for k in raw) else ""
        weights = {}
        for key, value in raw.items():
            if not key.startswith(prefix):
                continue
            key = key[len(prefix) :]
            # Linear layers are stored (out, in); keep them as (in, out) for x @ W.
            if key.endswith(".weight") and value.ndim == 2 and not key.startswith("embeddings."):
                value = np.ascontiguousarray(value.T)
            weights[key] = value.astype(np.float32, copy=False)
        config = json.loads((path / "config.json").read_text())
        return cls(weights, config, max_len)

    def token_embeddings_torch(self, ids: Any, mask: Any) -> Any:
        """Last hidden states for a padded batch: ids and mask are (batch, length) tensors."""
        import torch
        import torch.nn.functional as F

        w = self._torch_weights()
        batch, length = ids.shape
        dim = w["embeddings.word_embeddings.weight"].shape[1]
        head = dim // self.heads
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = F.layer_norm(
            x, (dim,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps
        )
        attend = mask.bool()[:, None, None, :]
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def heads(name: str, x: torch.Tensor = x, p: str = p) -> torch.Tensor:
                y = x @ w[p + name + ".weight"] + w[p + name + ".bias"]
                return y.view(batch, length, self.heads, head).transpose(1, 2)

            context = (
                F.scaled_dot_product_attention(
                    heads("attention.self.query"),
                    heads("attention.self.key"),
                    heads("attention.self.value"),
                    attn_mask=attend,
                )
                .transpose(1, 2)
                .reshape(batch, length, dim)
            )
            attn = (
                context @ w[p + "attention.output.dense.weight"]
                + w[p + "attention.output.dense.bias"]
            )
            x = F.layer_norm(
                x + attn,
                (dim,),
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                self.eps,
            )
            hidden = F.gelu(
                x @ w[p + "intermediate.dense.weight"] + w[p + "intermediate.dense.bias"]
            )
            out = hidden @ w[p + "output.dense.weight"] + w[p + "output.dense.bias"]
            x = F.layer_norm(
                x + out,
                (dim,),
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
                self.eps,
            )
        return x

    def _torch_weights(self) -> dict[str, Any]:
        if self._torch is None:
            import torch

            self._torch = {key: torch.from_numpy(value) for key, value in self.w.items()}
        return self._torch

    def encode(self, tokenizer: Any, text: str) -> np.ndarray:
        ids = tokenizer.encode(text, add_special_tokens=True).ids
        if len(ids) > self.max_len:
            ids = [*ids[: self.max_len - 1], ids[-1]]
        return self.forward(np.asarray(ids, dtype=np.int64))

    def forward(self, ids: np.ndarray) -> np.ndarray:
        w = self.w
        n = len(ids)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(
            x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps
        )
        dim = x.shape[1]
        head = dim // self.heads
        scale = np.float32(1.0 / np.sqrt(head))
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q = x @ w[p + "attention.self.query.weight"] + w[p + "attention.self.query.bias"]
            k = x @ w[p + "attention.self.key.weight"] + w[p + "attention.self.key.bias"]
            v = x @ w[p + "attention.self.value.weight"] + w[p + "attention.self.value.bias"]
            q = q.reshape(n, self.heads, head).transpose(1, 0, 2)
            k = k.reshape(n, self.heads, head).transpose(1, 2, 0)
            v = v.reshape(n, self.heads, head).transpose(1, 0, 2)
            scores = (q @ k) * scale
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(1, 0, 2).reshape(n, dim)
            attn = (
                context @ w[p + "attention.output.dense.weight"]
                + w[p + "attention.output.dense.bias"]
            )
            x = _layer_norm(
                x + attn,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                self.eps,
            )
            hidden = _gelu(
                x @ w[p + "intermediate.dense.weight"] + w[p + "intermediate.dense.bias"]
            )
            out = hidden @ w[p + "output.dense.weight"] + w[p + "output.dense.bias"]
            x = _layer_norm(
                x + out, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps
            )
        pooled = x.mean(axis=0)
        return (pooled / max(float(np.linalg.norm(pooled)), 1e-12)).astype(np.float32)
