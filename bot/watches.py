"""Watches: questions a chat (or the command line) follows, and the pushes they cause.

A watch keeps the answer it was last told (its baseline). After a refresh that added
articles, `recheck` asks again only the watches whose retrieval over the new index returns a
passage of a new article; a watch whose new answer is confident, cites an article the
baseline did not and gives another short answer (normalized) gets a push. The push is
written to the outbox, and the baseline moved, in one transaction, before anything is sent:
the front-end sends what the outbox holds and marks it sent, so a restart between the two
sends each push once. Recording is compare-and-set on the baseline: two runs that judged
the same change record it once. (A crash after Telegram took a push but before it was
marked sends that one again at the next start: at least once, never lost.)

A topic watch (words, not a question: see `watch_topics.is_topic`) is not asked: after a
refresh, the new articles whose passages are close enough to the topic's embedding go out
as one digest per watch, copies of one story counted once (`watch_topics`).

A watch paused because its chat blocked the bot is resumed by `/watches` in that chat (or
`/watch` on the same words again).

The store is the shared database (`NEWSQA_DATABASE_URL`: every process on every host), else
a SQLite file shared by every process on one host: the conversations database when
`NEWSQA_CONVERSATIONS_DB` is set, else `watches.sqlite` in the index folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from newsqa import prompts
from newsqa.bot.metrics import normalize
from newsqa.database import Database, Session, connect

if TYPE_CHECKING:
    from newsqa.bot.answer import Answer, Citation
    from newsqa.bot.chain import Answerer
    from newsqa.bot.retrieve import Candidate
    from newsqa.settings import Settings

log = logging.getLogger(__name__)

WATCHES_FILE = "watches.sqlite"
CLI_OWNER = "cli"
NEAR_SIMILARITY = 0.45  # cosine, query to passage: below it a passage is not on the question

class WatchError(ValueError):
    """Bad input to a watch command; the message is one line for the user."""


@dataclass(frozen=True)
class Baseline:
    """What a watch was last told: the answer's outcome, short answer, the articles it
    cited, and its first citation's date and source."""

    outcome: str
    short_answer: str | None
    articles: tuple[str, ...] = ()
    published: str | None = None
    source: str | None = None

    @classmethod
    def of(cls, answer: Answer) -> Baseline:
        first = answering(answer)
        return cls(
            outcome=answer.outcome,
            short_answer=answer.short_answer if answer.outcome == "answer" else None,
            articles=tuple(dict.fromkeys(c.article_id for c in answer.citations)),
            published=first.published if first else None,
            source=(first.source or first.title) if first else None,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Baseline:
        data = json.loads(text)
        data["articles"] = tuple(data.get("articles") or ())
        return cls(**data)


@dataclass(frozen=True)
class Watch:
    id: int
    owner: str
    n: int  # the number its owner sees (/unwatch N), stable while it exists
    question: str
    chat_id: int | None
    user_id: int | None
    paused: bool
    baseline: Baseline
    kind: str = "question"  # or "topic": a digest of new articles on it

    @property
    def topic(self) -> bool:
        return self.kind == "topic"


@dataclass(frozen=True)
class Push:
    """One message in the outbox."""

    id: int
    watch_id: int
    owner: str
    chat_id: int | None
    text: str


@dataclass
class WatchRun:
    """What one re-check did: for the refresh's timing line."""

    watches: int = 0  # active watches
    touched: int = 0  # whose retrieval returned a new article's passage: read again
    asked: int = 0  # distinct questions read again (watches of the same question share one)
    topics: int = 0  # topic watches compared with the new articles
    pushes: list[Push] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        return prompts.render(
            "watch_run",
            watches=self.watches,
            touched=self.touched,
            asked=self.asked,
            topics=self.topics,
            pushes=len(self.pushes),
            seconds=f"{self.seconds:.1f}",
        )


def watches_path(settings: Settings) -> Path | str:
    """Where the watches live: in the shared database, else beside the conversations, else
    beside the index."""
    if settings.database_url:
        return settings.database_url
    if settings.conversations_db is not None:
        return settings.conversations_db
    return settings.index_dir / WATCHES_FILE


def open_watches(settings: Settings) -> WatchStore:
    return WatchStore(
        watches_path(settings),
        max_chars=settings.watch_max_chars,
        per_user=settings.watches_per_user,
        per_chat=settings.watches_per_chat,
    )


def normalized_answer(text: str | None) -> str:
    """A short answer compared across articles: case, punctuation, articles and the
    thousands separators of figures do not count ("4,600" is "4600")."""
    return normalize(text or "")


class WatchStore:
    """The watches and the outbox of their pushes, in one database."""

    def __init__(
        self,
        target: Path | str | Database,
        *,
        max_chars: int = 300,
        per_user: int = 10,
        per_chat: int = 20,
    ) -> None:
        self.max_chars = max_chars
        self.per_user = per_user
        self.per_chat = per_chat
        self._owned = not isinstance(target, Database)
        self.db = target if isinstance(target, Database) else connect(target, wal=True)

    def close(self) -> None:
        if self._owned:
            self.db.close()

    def __enter__(self) -> WatchStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- adding, listing, removing -------------------------------------------------------
    def check(
        self, owner: str, question: str, user_id: int | None = None, *, group: bool = False
    ) -> str:
        """The question, cleaned, if `owner` may watch it; else `WatchError` (one line):
        empty, too long, already watched, or over the user's or the chat's limit."""
        with self.db.transaction() as db:
            return self._check(db, owner, question, user_id, group)

    def _check(
        self,
        db: Session,
        owner: str,
        question: str,
        user_id: int | None,
        group: bool,
    ) -> str:
        text = " ".join(question.split())
        if not text:
            raise WatchError(prompts.load("watch_empty"))
        if len(text) > self.max_chars:
            raise WatchError(prompts.render("watch_too_long", limit=self.max_chars))
        found = db.execute(
            "SELECT n FROM watches WHERE owner = ? AND norm = ?", (owner, normalize(text))
        ).fetchone()
        if found:
            raise WatchError(prompts.render("watch_duplicate", n=found[0]))
        held = db.execute("SELECT COUNT(*) FROM watches WHERE owner = ?", (owner,)).fetchone()[0]
        limit = self.per_chat if group else self.per_user
        if held >= limit:
            name = "watch_chat_limit" if group else "watch_user_limit"
            raise WatchError(prompts.render(name, limit=limit))
        if user_id is not None and group:
            mine = db.execute(
                "SELECT COUNT(*) FROM watches WHERE user_id = ?", (user_id,)
            ).fetchone()[0]
            if mine >= self.per_user:
                raise WatchError(prompts.render("watch_user_limit", limit=self.per_user))
        return text

    def add(
        self,
        owner: str,
        question: str,
        baseline: Baseline,
        *,
        chat_id: int | None = None,
        user_id: int | None = None,
        group: bool = False,
        kind: str = "question",
    ) -> Watch:
        """Store a watch (checked again, inside the transaction, as `check` does)."""
        with self.db.transaction() as db:
            text = self._check(db, owner, question, user_id, group)
            n = db.execute(
                "SELECT COALESCE(MAX(n), 0) + 1 FROM watches WHERE owner = ?", (owner,)
            ).fetchone()[0]
            inserted = db.execute(
                "INSERT INTO watches (owner, n, question, norm, chat_id, user_id, created, "
                "baseline, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    owner,
                    n,
                    text,
                    normalize(text),
                    chat_id,
                    user_id,
                    time.time(),
                    baseline.to_json(),
                    kind,
                ),
            )
            watch_id = int(inserted.scalar())
        return Watch(watch_id, owner, n, text, chat_id, user_id, False, baseline, kind)

    def list(self, owner: str | None = None) -> list[Watch]:
        """The owner's watches (every watch without one), in the order they were added."""
        query = (
            "SELECT id, owner, n, question, chat_id, user_id, paused, baseline, kind FROM watches"
        )
        if owner is None:
            rows = self.db.execute(query + " ORDER BY id").fetchall()
        else:
            rows = self.db.execute(query + " WHERE owner = ? ORDER BY n", (owner,)).fetchall()
        return [_watch(row) for row in rows]

    def active(self) -> list[Watch]:
        return [watch for watch in self.list() if not watch.paused]

    def remove(self, owner: str, number: str) -> Watch:
        """Remove the owner's watch number `number`; `WatchError` when there is none."""
        text = number.strip().lstrip("#")
        if not text.isdigit():
            raise WatchError(prompts.render("watch_unknown", n=number.strip() or "?"))
        with self.db.transaction() as db:
            row = db.execute(
                "SELECT id, owner, n, question, chat_id, user_id, paused, baseline, kind "
                "FROM watches WHERE owner = ? AND n = ?",
                (owner, int(text)),
            ).fetchone()
            if row is None:
                raise WatchError(prompts.render("watch_unknown", n=int(text)))
            db.execute("DELETE FROM watches WHERE id = ?", (row[0],))
            db.execute(
                "UPDATE watch_outbox SET state = 'dropped' WHERE watch_id = ? "
                "AND state = 'pending'",
                (row[0],),
            )
        return _watch(row)

    def pause(self, watch_id: int) -> None:
        """A chat that blocked the bot or is gone: stop pushing to it, keep the watch."""
        with self.db.transaction() as db:
            db.execute("UPDATE watches SET paused = 1 WHERE id = ?", (watch_id,))
            db.execute(
                "UPDATE watch_outbox SET state = 'dropped' WHERE watch_id = ? "
                "AND state = 'pending'",
                (watch_id,),
            )

    def resume(self, owner: str) -> int:
        """The owner's paused watches become active again (the chat used `/watches`, so the
        bot can write to it again); how many were paused."""
        with self.db.transaction() as db:
            return db.execute(
                "UPDATE watches SET paused = 0 WHERE owner = ? AND paused = 1", (owner,)
            ).rowcount

    def resume_same(self, owner: str, text: str) -> Watch | None:
        """The owner's paused watch of these words (normalized), active again; None when
        there is no paused one (`/watch` on the same words resumes it)."""
        with self.db.transaction() as db:
            row = db.execute(
                "SELECT id, owner, n, question, chat_id, user_id, paused, baseline, kind "
                "FROM watches WHERE owner = ? AND norm = ? AND paused = 1",
                (owner, normalize(" ".join(text.split()))),
            ).fetchone()
            if row is None:
                return None
            db.execute("UPDATE watches SET paused = 0 WHERE id = ?", (row[0],))
        return replace(_watch(row), paused=False)

    # -- pushes ---------------------------------------------------------------------------
    def record(self, watch: Watch, answer: Answer, text: str) -> Push | None:
        """Put a push in the outbox and move the watch's baseline to `answer`, at once.

        Compare-and-set: None when the watch's stored baseline is no longer the one this
        push was judged against (another run recorded the change first), or the watch is
        gone. So each change of answer is recorded once, an answer that changes back is
        a change too, and a new watch that gets a removed watch's id starts afresh (the key
        holds the watch's creation time)."""
        new = Baseline.of(answer)
        with self.db.transaction() as db:
            row = db.execute(
                "SELECT baseline, created FROM watches WHERE id = ?", (watch.id,)
            ).fetchone()
            if row is None or Baseline.from_json(str(row[0])) != watch.baseline:
                return None
            change = hashlib.sha1(f"{row[0]}|{new.to_json()}".encode()).hexdigest()
            push_id = _enqueue(db, f"{watch.id}:{row[1]!r}:{change}", watch, text, new)
            if push_id is None:
                return None
        return Push(push_id, watch.id, watch.owner, watch.chat_id, text)

    def record_digest(
        self, watch: Watch, articles: Sequence[str], text: str, *, keep: int = 500
    ) -> Push | None:
        """Put a topic watch's digest in the outbox and add its articles to those the watch
        has announced, at once. None when this digest was recorded before (the same
        articles) or the watch is gone. The newest `keep` announced ids are remembered."""
        digest = hashlib.sha1("|".join(sorted(articles)).encode()).hexdigest()
        with self.db.transaction() as db:
            row = db.execute(
                "SELECT baseline, created FROM watches WHERE id = ?", (watch.id,)
            ).fetchone()
            if row is None:
                return None
            key = f"{watch.id}:{row[1]!r}:digest:{digest}"
            base = Baseline.from_json(str(row[0]))
            announced = tuple(dict.fromkeys((*base.articles, *articles)))[-keep:]
            push_id = _enqueue(db, key, watch, text, replace(base, articles=announced))
            if push_id is None:
                return None
        return Push(push_id, watch.id, watch.owner, watch.chat_id, text)

    def pending(self, owners: Iterable[str] | None = None, *, telegram: bool = False) -> list[Push]:
        """Pushes not sent yet, oldest first: of `owners`, or those with a chat."""
        query = (
            "SELECT id, watch_id, owner, chat_id, text FROM watch_outbox WHERE state = 'pending'"
        )
        params: list[object] = []
        if owners is not None:
            chosen = list(owners)
            query += f" AND owner IN ({','.join('?' * len(chosen))})"
            params += chosen
        if telegram:
            query += " AND chat_id IS NOT NULL"
        rows = self.db.execute(query + " ORDER BY id", params).fetchall()
        return [Push(*row) for row in rows]

    def mark_sent(self, push_id: int) -> None:
        self.db.execute("UPDATE watch_outbox SET state = 'sent' WHERE id = ?", (push_id,))

    def drop(self, push_id: int) -> None:
        """A push Telegram refused for good: never tried again."""
        self.db.execute("UPDATE watch_outbox SET state = 'dropped' WHERE id = ?", (push_id,))

    def sent(self, watch_id: int | None = None) -> list[Push]:
        query = "SELECT id, watch_id, owner, chat_id, text FROM watch_outbox WHERE state = 'sent'"
        if watch_id is None:
            rows = self.db.execute(query + " ORDER BY id").fetchall()
        else:
            rows = self.db.execute(query + " AND watch_id = ? ORDER BY id", (watch_id,)).fetchall()
        return [Push(*row) for row in rows]


def _watch(row: tuple[object, ...]) -> Watch:
    id_, owner, n, question, chat_id, user_id, paused, baseline, kind = row
    return Watch(
        int(id_),  # type: ignore[call-overload]
        str(owner),
        int(n),  # type: ignore[call-overload]
        str(question),
        chat_id,  # type: ignore[arg-type]
        user_id,  # type: ignore[arg-type]
        bool(paused),
        Baseline.from_json(str(baseline)),
        str(kind),
    )


# -- deciding and wording a push -----------------------------------------------------------
def answering(answer: Answer) -> Citation | None:
    """The citation that holds the short answer (its first citation otherwise)."""
    for citation in answer.citations:
        if citation.highlight is not None:
            return citation
    return answer.citations[0] if answer.citations else None


def changed(baseline: Baseline, answer: Answer) -> bool:
    """A confident answer whose short answer is quoted from an article the baseline did not
    cite, and differs from the baseline's (normalized): a new figure, name or date."""
    if answer.outcome != "answer" or not answer.short_answer or not answer.citations:
        return False
    cited = answering(answer)
    new_article = cited is not None and cited.article_id not in baseline.articles
    differs = normalized_answer(answer.short_answer) != normalized_answer(baseline.short_answer)
    return new_article and differs


def day(published: str | None) -> str:
    """'2026-01-27' as '27 Jan 2026'; another text as it is; none as 'undated'."""
    if not published:
        return prompts.load("watch_undated")
    try:
        when = date.fromisoformat(published[:10])
    except ValueError:
        return published
    return f"{when.day} {when:%b %Y}"


def push_text(watch: Watch, answer: Answer) -> str:
    """The message: the new answer with its source and date, the one it replaces with its
    date, and the quote the new one rests on."""
    cited = answering(answer)
    assert cited is not None
    where = ", ".join(part for part in (cited.source or cited.title, day(cited.published)) if part)
    old = watch.baseline
    if old.short_answer:
        before = prompts.render("watch_was", short=old.short_answer, when=day(old.published))
    else:
        before = prompts.load("watch_was_unknown")
    return prompts.render(
        "watch_changed",
        question=watch.question,
        short=answer.short_answer,
        where=where,
        before=before,
        quote=cited.quote,
    )


def near(candidate: Candidate) -> bool:
    """A retrieved passage that bears on the query: it shares a word with it (BM25), or is
    this close to it in meaning. (A small index returns every article's passages.)"""
    return candidate.lexical is not None or (candidate.dense or 0.0) >= NEAR_SIMILARITY


def touches(answerer: Answerer, questions: list[str], new_articles: set[str]) -> list[bool]:
    """For each question, whether retrieval over the current index returns a passage of one
    of `new_articles`: the one cheap step done for every watch (no reading)."""
    from newsqa.bot.retrieve import asks_for_recent, retrieve

    settings = answerer.settings
    if not questions or not new_articles:
        return [False] * len(questions)
    vectors = answerer.embedder.embed_queries(questions)
    found = []
    with answerer.index.lease() as snapshot:
        for question, vector in zip(questions, vectors, strict=True):
            retrieval = retrieve(
                snapshot,
                vector,
                question,
                settings.top_k,
                settings.candidates_k,
                settings.rrf_k,
                recent=asks_for_recent(question),
            )
            found.append(
                any(c.article.id in new_articles and near(c) for c in retrieval.candidates)
            )
    return found


def recheck(store: WatchStore, answerer: Answerer, new_articles: Iterable[str]) -> WatchRun:
    """Ask again the watches the new articles could change; record the pushes due."""
    began = time.monotonic()
    new = set(new_articles)
    every = store.active()
    run = WatchRun(watches=len(every))
    if not new or not every:
        run.seconds = time.monotonic() - began
        return run
    topics = [watch for watch in every if watch.topic]
    if topics:
        from newsqa.bot.watch_topics import digests

        run.topics = len(topics)
        run.pushes += digests(store, answerer, topics, new)
    watches = [watch for watch in every if not watch.topic]
    # Watches of the same question (in several chats) share its retrieval and its reading.
    distinct = list(dict.fromkeys(normalize(watch.question) for watch in watches))
    first = {}
    for watch in watches:
        first.setdefault(normalize(watch.question), watch.question)
    hit = dict(zip(distinct, touches(answerer, [first[d] for d in distinct], new), strict=True))
    answers: dict[str, Answer | None] = {}
    for watch in watches:
        norm = normalize(watch.question)
        if not hit[norm]:
            continue
        run.touched += 1
        if norm not in answers:
            run.asked += 1
            try:
                answers[norm] = answerer.ask(watch.question)
            except Exception:  # one watch that cannot be read never stops the others
                log.warning("watch %s could not be asked again", watch.id, exc_info=True)
                answers[norm] = None
        answer = answers[norm]
        if answer is None or not changed(watch.baseline, answer):
            continue
        push = store.record(watch, answer, push_text(watch, answer))
        if push is not None:
            run.pushes.append(push)
    run.seconds = time.monotonic() - began
    log.info("%s", run.line())
    return run


def article_ids(report: object, articles_dir: Path) -> set[str]:
    """The index ids of the articles a follow report added or updated."""
    ids = set()
    for result in getattr(report, "links", []):
        if result.changed and result.path is not None:
            try:
                ids.add(Path(result.path).relative_to(articles_dir).as_posix())
            except ValueError:
                continue
    return ids


def _enqueue(
    db: Session, key: str, watch: Watch, text: str, baseline: Baseline
) -> int | None:
    """In one transaction with the caller: the push into the outbox and the watch's new
    baseline, neither when a push with `key` is there already. The push's id, or None."""
    inserted = db.execute(
        "INSERT INTO watch_outbox (key, watch_id, owner, chat_id, text, created) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
        (key, watch.id, watch.owner, watch.chat_id, text, time.time()),
    )
    if not inserted.rows:  # recorded before: the baseline moved with it then
        return None
    db.execute("UPDATE watches SET baseline = ? WHERE id = ?", (baseline.to_json(), watch.id))
    return int(inserted.scalar())
