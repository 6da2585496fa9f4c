"""`python -m bench.watches`: what watches cost after a refresh, and where the topic
threshold comes from.

1. Calibration of NEWSQA_WATCH_TOPIC_SIMILARITY: the sample article and the seven
   `tests/data/news` articles are indexed; three topics were written for each article
   (21 topics). For every (topic, article) pair the closest passage's cosine is computed
   as a topic watch does; printed: how many on-topic pairs reach each threshold (of 21)
   and how many off-topic pairs do (of 147 - 21 = 126).
2. Cost: over the same index, 1,000 question watches (50 distinct questions, each watched
   by 20 chats, each starting from the current answer) and 20 topic watches; one
   article (`--articles N`: N later reports of the indexed stories) is added and the re-check
   (`bot.watches.recheck`) runs: printed are the watches re-read, the distinct
   questions read by the reader, the digests and pushes, and the time of the watch step.

Prints the figures; BENCHMARKS.md keeps them.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

TOPICS = {
    "abu-dhabi-talks.txt": [
        "Ukraine Russia peace talks",
        "prisoner exchange",
        "Abu Dhabi negotiations",
    ],
    "battery-plant": ["battery factory", "electric car batteries", "Halvern Energy"],
    "cup-final": ["football", "Northern Cup final", "Riverside Athletic"],
    "harbour-tram": ["public transport", "harbour tram line", "Port Elwen council"],
    "kelsmoor-election": ["mayoral election", "Kelsmoor politics", "election recount"],
    "museum-reopens": ["museum", "art exhibitions", "Lanford museum renovation"],
    "storm-ardent": ["storm flooding", "weather", "Storm Ardent"],
}
SUBJECTS = [
    "the Abu Dhabi talks",
    "the prisoner exchange",
    "the battery plant",
    "the cup final",
    "the harbour tram",
    "the Kelsmoor election",
    "the Lanford museum",
    "Storm Ardent",
    "the recount",
    "the renovation",
]
FORMS = [
    "Who was involved in {}?",
    "When did {} happen?",
    "Where did {} take place?",
    "How much did {} cost?",
    "What was decided about {}?",
]
NEW_ARTICLE = (
    "---\ntitle: UAE brokers another prisoner exchange between Ukraine and Russia\n"
    "published: '2026-01-27'\nsource: Gulf Wire\n---\n"
    "ABU DHABI: The United Arab Emirates said on Tuesday that it had mediated another "
    "prisoner exchange between Ukraine and Russia, days after the two sides held direct "
    "talks in Abu Dhabi.\n\nAccording to the UAE's state news agency, the latest swap brings "
    "the number of prisoner exchange agreements the country has facilitated since the war "
    "began to 18, leading to the release of more than 4,800 detainees.\n"
)


def _index(root: Path, embedder: object) -> object:
    from conftest import make_settings

    from newsqa.index import build_index

    articles = root / "articles"
    articles.mkdir()
    shutil.copy(ROOT / "data" / "articles" / "abu-dhabi-talks.txt", articles)
    for path in (ROOT / "tests" / "data" / "news").glob("*.md"):
        shutil.copy(path, articles)
    settings = make_settings(root / "index", articles_dir=articles)
    build_index(settings, embedder=embedder)
    return settings


def calibrate(answerer: object) -> None:
    import numpy as np

    ids = sorted(TOPICS)
    with answerer.index.lease() as snapshot:  # type: ignore[attr-defined]
        vectors = snapshot.passage_vectors(ids)
    on, off = [], []
    for article, topics in TOPICS.items():
        for topic in topics:
            query = answerer.embedder.embed_query(topic)  # type: ignore[attr-defined]
            for other in ids:
                best = float((vectors[other] @ query).max())
                (on if other == article else off).append((best, topic, other))
    print(f"topic threshold: {len(on)} on-topic pairs, {len(off)} off-topic pairs")
    print(f"  lowest on-topic: {min(on)[0]:.3f} ({min(on)[1]!r} / {min(on)[2]})")
    print(f"  highest off-topic: {max(off)[0]:.3f} ({max(off)[1]!r} / {max(off)[2]})")
    print("  threshold  on-topic reached  off-topic reached")
    for threshold in np.arange(0.20, 0.451, 0.025):
        hits = sum(x >= threshold for x, _, _ in on)
        false = sum(x >= threshold for x, _, _ in off)
        print(f"  {threshold:9.3f}  {hits:>7}/{len(on)}  {false:>12}/{len(off)}")


def _later_articles(count: int) -> dict[str, str]:
    """`count` new dated articles for one refresh: the prisoner-exchange follow-up, then
    follow-ups of the test news stories, each a later report with a figure of its own."""
    bases = [NEW_ARTICLE] + [
        path.read_text(encoding="utf-8") for path in sorted((ROOT / "tests/data/news").glob("*.md"))
    ]
    out = {}
    for k in range(count):
        base = bases[k % len(bases)]
        head, body = base.split("---\n", 2)[1:]
        head = "".join(
            f"published: '2026-02-{1 + k % 27:02d}'\n" if line.startswith("published:") else line
            for line in head.splitlines(keepends=True)
            if not line.startswith("id:")  # the file name is the id: a new article
        )
        note = f"\nOfficials gave an update on day {k + 1}: {120 + 7 * k} people were involved.\n"
        out[f"later-{k:03d}.md"] = f"---\n{head}---\n{body.rstrip()}\n{note}"
    return out


def cost(
    settings: object, answerer: object, embedder: object, watches: int = 1000, added: int = 1
) -> None:
    from newsqa.bot.watches import Baseline, open_watches, recheck
    from newsqa.index import build_index

    questions = [form.format(subject) for subject in SUBJECTS for form in FORMS]
    with open_watches(settings) as store:  # type: ignore[arg-type]
        # Each watch starts from the current answer, as /watch does: a push then means
        # the new articles changed it.
        baselines = {q: Baseline.of(answerer.ask(q)) for q in questions}  # type: ignore[attr-defined]
        for i in range(watches):  # one chat each: 20 chats watch each question
            question = questions[i % len(questions)]
            store.add(f"tg:{i}", question, baselines[question])
        topics = [t for ts in TOPICS.values() for t in ts][:20]
        for i, topic in enumerate(topics):
            store.add(f"tg:t{i}", topic, Baseline("topic", None), kind="topic")
        new = _later_articles(added)
        for name, text in new.items():
            (settings.articles_dir / name).write_text(text, encoding="utf-8")  # type: ignore[attr-defined]
        began = time.monotonic()
        build_index(settings, embedder=embedder)  # type: ignore[arg-type]
        built = time.monotonic() - began
        run = recheck(store, answerer, set(new))  # type: ignore[arg-type]
        digests = sum(1 for p in run.pushes if "New on" in p.text)
    print(
        f"cost: {run.watches} watches ({watches} question, {len(topics)} topic); {added} "
        f"article(s) added (index update {built:.1f} s)"
    )
    print(f"  {run.line()}")
    print(
        f"  re-read: {run.touched} of {watches} question watches ({run.asked} distinct "
        f"questions read); {digests} digest(s); watch step {run.seconds:.1f} s"
    )


def main() -> int:
    from newsqa.bot.components import build_answerer
    from newsqa.index import Embedder

    embedder = Embedder()
    root = Path(tempfile.mkdtemp(prefix="bench-watches-"))
    try:
        settings = _index(root, embedder)
        answerer = build_answerer(settings, embedder=embedder)  # type: ignore[arg-type]
        calibrate(answerer)
        added = int(sys.argv[sys.argv.index("--articles") + 1]) if "--articles" in sys.argv else 1
        cost(settings, answerer, embedder, added=added)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
