"""The extractive reader, one package of its parts.

- `reading.py`: `read()`, which picks the sentence(s) that answer, the short answer and
  the outcome (`answer`, `unsure`, `none`);
- `model.py`: the trained reader model (relevance and short-answer span, ONNX);
- `support.py`: the support judgment (does the sentence state the claim?);
- `qualifiers.py`: the question's years, numbers and names the sentence must meet;
- `features.py`: the hand-written sentence score, the fallback without weights;
- `answer_types.py`: what kind of answer a question wants, and the candidate spans;
- `citations.py`: verbatim quotes with exact offsets, dated and ordered;
- `text_rules.py`: the word lists and patterns the parts share;
- `runtime.py`: opening the models' tokenizers and ONNX Runtime sessions.
"""

from .model import Calibration, ReaderModel, ReaderModelError
from .reading import Choice, ReaderConfig, Reading, read
from .support import Claim, SupportModel, SupportModelError

__all__ = [
    "Calibration",
    "Choice",
    "Claim",
    "ReaderConfig",
    "ReaderModel",
    "ReaderModelError",
    "Reading",
    "SupportModel",
    "SupportModelError",
    "read",
]
