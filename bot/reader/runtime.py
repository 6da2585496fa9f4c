"""Opening the reader's and the support model's files: one tokenizer, one ONNX Runtime
session, with a one-line error naming the file when either does not load."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_tokenizer(path: Path, error: type[Exception], what: str) -> Any:
    """The `tokenizers` tokenizer at `path`, without truncation or padding (the models
    assemble their own rows)."""
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises plain Exceptions
        raise error(f"the {what}'s tokenizer at {path} does not load: {exc}") from exc
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def open_session(onnx_file: Path, threads: int, error: type[Exception], what: str) -> Any:
    """A CPU inference session over `onnx_file` (`threads` 0: ONNX Runtime's default)."""
    import onnxruntime as ort

    if not onnx_file.is_file():
        raise error(f"{what} weights not found at {onnx_file} (run make train-{what})")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise error(f"{what} weights at {onnx_file} do not load: {exc}") from exc
