"""Near-duplicate articles: the same news story published twice, found by MinHash + LSH.

A wire story republished by several sites differs by a rewritten lead, a changed byline or
dateline, added boilerplate ("Read more:", newsletter plugs), a new headline, small edits or
trimmed last paragraphs. `normalize` removes the parts that differ for no editorial reason;
the rest is cut into word k-shingles and summarised by a MinHash signature (datasketch,
fixed seed, SHA-1 of the shingle bytes, so signatures are the same in every process).
`DuplicateFinder` keeps the signatures of the articles already indexed in a MinHashLSH
index and answers "which of them is this new text a copy of?" by verifying each LSH
candidate's estimated Jaccard similarity against the threshold.

Templated briefs (market closes, results, earnings) share most of their wording and
differ in their figures, so the signature also keeps a small bottom-k sketch of the
figures (tokens with a digit): when both texts have at least `FIGURE_MIN` distinct figures,
a match also needs `figure_overlap` of the smaller set of figures in common. Copies keep
their figures; a brief from the same template with other numbers does not.

The default threshold (0.27), shingle length (5 words) and figure overlap (0.6) were chosen
on the 200-pair set of `python -m bench.near_duplicates` (true copies against same-topic
stories, follow-ups that reuse a background paragraph or a quote, and templated briefs
with other figures).
"""

from __future__ import annotations

import re
import struct
import threading
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DEFAULT_FIGURE_OVERLAP",
    "DEFAULT_THRESHOLD",
    "DuplicateFinder",
    "DuplicateOf",
    "figures",
    "normalize",
    "shingles",
]

DEFAULT_THRESHOLD = 0.27
DEFAULT_FIGURE_OVERLAP = 0.6
FIGURE_MIN = 4  # figures each text needs before the figure check applies
FIGURE_SKETCH = 32  # bottom-k hashes of the figures kept in a signature
SEED = 1  # datasketch permutation seed: fixed, so signatures match across processes

# Signature bytes: magic, format version, shingle length, num_perm, number of distinct
# shingles, number of distinct figures, number of figure hashes kept (k); then num_perm
# little-endian uint32 MinHash values (datasketch's "affine32") and the k smallest uint32
# hashes of the figures, ascending.
_MAGIC = b"NQD"
_HEADER = struct.Struct("<3sBHHIHB")
_VERSION = 1

_PUNCT = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u00b4": "'", "`": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u00ab": '"', "\u00bb": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
        "\u2015": "-", "\u2212": "-", "\u2043": "-",
        "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u200b": "", "\ufeff": "",
    }
)  # fmt: skip

# "By Jane Doe", "By Jane Doe and John Roe, Reuters", "By J. Smith | Staff writer".
_BYLINE = re.compile(
    r"^(?i:by|words by|written by|story by)\s+(?:[A-Z][\w.'-]*\s*){1,4}"
    r"(?:(?:,|and|&|\||-)\s*[^.!?]{0,60})?$"
)
# "GENEVA (Reuters) - ", "NEW YORK, March 3 (AP) -- ", "(AP) - ", "LONDON: ".
_DATELINE = re.compile(
    r"^(?P<place>[A-Z][A-Z.'-]+(?:\s+[A-Z][A-Z.'-]+)*"
    r"(?:,\s*[A-Z][\w.]*(?:\s+[\w.]+){0,2})?\s*)?"
    r"(?P<agency>\([A-Za-z][\w .&/-]{0,30}\)\s*)?(?:-{1,2}|:)\s+"
)
_BOILERPLATE = re.compile(
    r"^(?:read more|read also|more:|related:|related (?:coverage|stories|articles)|see also|"
    r"also read|recommended:|sign up|subscribe|get the latest|get our|don'?t miss|"
    r"advertisement|sponsored|copyright|\(c\)|©|all rights reserved|follow us|click here|"
    r"follow (?:\w+ ){0,3}on (?:twitter|x|facebook|instagram|social)|share this|share on|"
    r"reporting by|additional reporting|editing by|writing by|compiled by|"
    r"this (?:story|article) (?:has been|was) (?:updated|corrected)|"
    r"download (?:our|the) app|photo:|image:|video:|watch:|listen:|contact us|newsletter|"
    r"[\w .,']{1,60} contributed to this (?:report|story|article)|"
    r"(?:reuters|ap|afp|associated press|bloomberg|staff (?:reporter|writer))\.?$)"
)
_BOILERPLATE_ANYWHERE = re.compile(
    r"all rights reserved|sign up (?:for|to) (?:our|the)|our newsletter|"
    r"subscribe (?:now|today|to our)|https?://|www\."
)
_HEADLINE_TAG = re.compile(r"^(?:update \d+|exclusive|breaking|analysis|corrected)\s*[-:]\s*")
_PERCENT = re.compile(r"\s*\b(?:per ?cent|percent)\b")
_SPACES = re.compile(r"\s+")
_TOKEN = re.compile(r"\w+(?:[.,']\w+)*")
_DIGIT = re.compile(r"\d")


def _is_boilerplate(line: str, lowered: str) -> bool:
    words = len(lowered.split())
    if _BOILERPLATE.match(lowered) and words <= 40:
        return True
    if _BOILERPLATE_ANYWHERE.search(lowered) and words <= 25:
        return True
    return bool(words <= 14 and _BYLINE.match(line))


def normalize(text: str) -> str:
    """`text` as compared for duplicates: NFKC, one kind of quote and dash, without byline,
    dateline and boilerplate lines, lower-case, "percent" as "%", whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).translate(_PUNCT)
    kept: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        line = _DATELINE.sub(lambda m: "" if m["place"] or m["agency"] else m[0], line, count=1)
        lowered = line.lower()
        if not lowered or _is_boilerplate(line, lowered):
            continue
        kept.append(_HEADLINE_TAG.sub("", lowered))
    joined = _PERCENT.sub("%", " ".join(kept))
    return _SPACES.sub(" ", joined).strip()


def _shingles(tokens: list[str], k: int) -> set[str]:
    if len(tokens) <= k:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i : i + k]) for i in range(len(tokens) - k + 1)}


def _figures(tokens: list[str]) -> set[str]:
    return {t.replace(",", "") for t in tokens if _DIGIT.search(t)}


def shingles(text: str, k: int = 5) -> set[str]:
    """The distinct word k-shingles of `normalize(text)` (punctuation dropped); a text of
    fewer than k words is one shingle; an empty text has none."""
    return _shingles(_TOKEN.findall(normalize(text)), k)


def figures(text: str) -> set[str]:
    """The distinct figures of `normalize(text)`: tokens with a digit, without commas."""
    return _figures(_TOKEN.findall(normalize(text)))


def _figure_overlap(a: tuple[int, np.ndarray], b: tuple[int, np.ndarray]) -> float | None:
    """Share of the smaller set of figures found in the other text, from two bottom-k
    sketches (exact while both sets fit in the sketch); None when either text has fewer
    than FIGURE_MIN figures, so the check does not apply."""
    (n, x), (m, y) = a, b
    if min(n, m) < FIGURE_MIN:
        return None
    import numpy as np

    if n <= len(x) and m <= len(y):
        return len(np.intersect1d(x, y)) / min(n, m)
    k = min(len(x), len(y))
    union = np.union1d(x, y)[:k]  # bottom-k of the union: a sample of it
    both = np.isin(union, x) & np.isin(union, y)
    jaccard = float(both.mean())
    return min(1.0, jaccard * (n + m) / (1 + jaccard) / min(n, m))


@dataclass(frozen=True)
class DuplicateOf:
    """The stored article that a new text duplicates, and their estimated Jaccard."""

    article_id: str
    similarity: float


def _bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """LSH (bands, rows): the most rows per band for which a pair at the threshold is still
    a candidate with probability >= 0.99, so LSH itself loses (almost) no true copies;
    candidates are then verified on their estimated similarity."""
    for rows in range(num_perm // 2, 0, -1):
        bands = num_perm // rows
        if 1 - (1 - threshold**rows) ** bands >= 0.99:
            return bands, rows
    return num_perm, 1


@dataclass(frozen=True)
class _Sketch:
    values: np.ndarray  # num_perm MinHash values
    figures: int  # distinct figures in the text
    figure_hashes: np.ndarray  # the smallest FIGURE_SKETCH hashes of them, ascending

    @property
    def empty(self) -> bool:
        return bool((self.values == 0xFFFFFFFF).all())


class DuplicateFinder:
    """Holds signatures of articles already seen; finds a near-duplicate for a new one.

    `find` returns the stored article with the highest estimated Jaccard similarity at or
    above `threshold` whose figures also agree (see the module docstring; `figure_overlap`
    None turns that check off). Candidates come from MinHashLSH, tuned so that a pair at the
    threshold is a candidate with probability >= 0.99 (no linear scan). Safe for one
    writer and concurrent readers: every method holds one lock.
    """

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        *,
        num_perm: int = 128,
        shingle: int = 5,
        figure_overlap: float | None = DEFAULT_FIGURE_OVERLAP,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if num_perm < 2 or num_perm > 65535:
            raise ValueError(f"num_perm must be in [2, 65535], got {num_perm}")
        if shingle < 1 or shingle > 65535:
            raise ValueError(f"shingle must be in [1, 65535], got {shingle}")
        self.threshold = threshold
        self.num_perm = num_perm
        self.shingle = shingle
        self.figure_overlap = figure_overlap
        self._lock = threading.RLock()
        self._sketches: dict[str, _Sketch] = {}
        self._lsh: Any = None
        self._permutations: Any = None

    # -- signatures ------------------------------------------------------------------
    def _minhash(self, values: np.ndarray | None = None) -> Any:
        from datasketch import MinHash

        if self._permutations is None:
            self._permutations = MinHash(num_perm=self.num_perm, seed=SEED).permutations
        return MinHash(
            num_perm=self.num_perm,
            seed=SEED,
            hashvalues=values,
            permutations=self._permutations,
            scheme="affine32",
        )

    def signature(self, text: str) -> bytes:
        """A compact, process-independent signature of `text` (about 4 bytes per
        permutation plus at most 128 bytes of figures), for storing next to the article
        and restoring with add_signature."""
        import numpy as np
        from datasketch.hashfunc import sha1_hash32

        tokens = _TOKEN.findall(normalize(text))
        grams = _shingles(tokens, self.shingle)
        minhash = self._minhash()
        if grams:
            minhash.update_batch([g.encode("utf-8") for g in grams])
        numbers = _figures(tokens)
        kept = sorted(sha1_hash32(f.encode("utf-8")) for f in numbers)[:FIGURE_SKETCH]
        header = _HEADER.pack(
            _MAGIC, _VERSION, self.shingle, self.num_perm, len(grams),
            min(len(numbers), 0xFFFF), len(kept),
        )  # fmt: skip
        return (
            header
            + minhash.hashvalues.astype("<u4").tobytes()
            + np.array(kept, dtype="<u4").tobytes()
        )

    def _decode(self, signature: bytes) -> _Sketch:
        import numpy as np

        if len(signature) < _HEADER.size:
            raise ValueError("not a duplicate signature: too short")
        magic, version, shingle, num_perm, _grams, numbers, kept = _HEADER.unpack_from(signature)
        if magic != _MAGIC or version != _VERSION:
            raise ValueError("not a duplicate signature (bad magic or version)")
        if shingle != self.shingle or num_perm != self.num_perm:
            raise ValueError(
                f"signature made with shingle={shingle}, num_perm={num_perm}; this finder "
                f"uses shingle={self.shingle}, num_perm={self.num_perm}"
            )
        if len(signature) != _HEADER.size + 4 * (num_perm + kept):
            raise ValueError("duplicate signature has the wrong length")
        raw = np.frombuffer(signature, dtype="<u4", offset=_HEADER.size).astype(np.uint32)
        return _Sketch(raw[:num_perm], numbers, raw[num_perm:])

    def _agree(self, a: _Sketch, b: _Sketch) -> bool:
        if self.figure_overlap is None:
            return True
        overlap = _figure_overlap((a.figures, a.figure_hashes), (b.figures, b.figure_hashes))
        return overlap is None or overlap >= self.figure_overlap

    # -- the index -------------------------------------------------------------------
    def _index(self) -> Any:
        if self._lsh is None:
            from datasketch import MinHashLSH

            self._lsh = MinHashLSH(
                num_perm=self.num_perm, params=_bands(self.threshold, self.num_perm)
            )
        return self._lsh

    def add(self, article_id: str, text: str) -> None:
        """Remember `text` under `article_id` (replacing an earlier text of that id)."""
        self.add_signature(article_id, self.signature(text))

    def add_signature(self, article_id: str, signature: bytes) -> None:
        """Remember a signature from `signature()` under `article_id`."""
        sketch = self._decode(signature)
        with self._lock:
            self._remove(article_id)
            self._sketches[article_id] = sketch
            if not sketch.empty:  # empty texts never match, so stay out of LSH
                self._index().insert(
                    article_id, self._minhash(sketch.values), check_duplication=False
                )

    def remove(self, article_id: str) -> None:
        """Forget `article_id`; unknown ids are ignored."""
        with self._lock:
            self._remove(article_id)

    def _remove(self, article_id: str) -> None:
        sketch = self._sketches.pop(article_id, None)
        if sketch is not None and not sketch.empty:
            self._index().remove(article_id)

    def find(self, text: str) -> DuplicateOf | None:
        """The stored article most similar to `text` at or above the threshold (and with
        the same figures, where both have some), else None."""
        return self.find_signature(self.signature(text))

    def find_signature(self, signature: bytes) -> DuplicateOf | None:
        """`find` for a signature already computed (e.g. to add it afterwards)."""
        import numpy as np

        query = self._decode(signature)
        if query.empty:
            return None
        with self._lock:
            if self._lsh is None:
                return None
            candidates = sorted(self._lsh.query(self._minhash(query.values)))
            if not candidates:
                return None
            sketches = [self._sketches[c] for c in candidates]
        similarity = (np.stack([s.values for s in sketches]) == query.values).mean(axis=1)
        # Highest similarity first; sorted ids break ties (a stable sort keeps their order).
        for i in np.argsort(-similarity, kind="stable"):
            if similarity[i] < self.threshold:
                break
            if self._agree(query, sketches[i]):
                return DuplicateOf(candidates[i], float(similarity[i]))
        return None

    def compare(self, a: bytes, b: bytes) -> tuple[float, float | None]:
        """(estimated Jaccard, figure overlap or None where the check does not apply) of two
        signatures; the Jaccard is 0.0 if either text was empty."""
        x, y = self._decode(a), self._decode(b)
        jaccard = 0.0 if x.empty or y.empty else float((x.values == y.values).mean())
        return jaccard, _figure_overlap((x.figures, x.figure_hashes), (y.figures, y.figure_hashes))

    def similarity(self, a: bytes, b: bytes) -> float:
        """Estimated Jaccard similarity of two signatures (0.0 if either text was empty)."""
        return self.compare(a, b)[0]

    def is_duplicate(self, a: bytes, b: bytes) -> bool:
        """The decision `find` makes for one pair, without the LSH step."""
        x, y = self._decode(a), self._decode(b)
        if x.empty or y.empty:
            return False
        return float((x.values == y.values).mean()) >= self.threshold and self._agree(x, y)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sketches)

    def __contains__(self, article_id: object) -> bool:
        with self._lock:
            return article_id in self._sketches
