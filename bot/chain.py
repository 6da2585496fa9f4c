"""The answering chain, the same behind `ask`, `ask --batch`, the REPL, Telegram and the
library's Runnable (`newsqa.answerer`).

question → clean → standalone (conversation) → retrieve → read → [LLM] → Answer, as
named LangChain runnables, each taking and returning its own typed value:
`Request` → `Prepared` → `Retrieved` → `Read` → `Generated` → `Answer`. Nothing is shared
or mutated between steps, so LangChain's tracing and `astream_events` show what each step
received and produced. Each step records its time in the Answer's `timings_ms`. With an
LLM configured, its verified answer replaces the extractive one; when it fails or
nothing it says survives verification, the extractive answer stands.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from newsqa import logs, prompts
from newsqa.bot.answer import Answer
from newsqa.bot.conversation import Conversations, ConversationStore, Turn
from newsqa.bot.followup import Proposal, follows_up, names_in, proposals
from newsqa.bot.question import clean_question
from newsqa.bot.reader import ReaderConfig, Reading, read
from newsqa.bot.reader.citations import answer_text, resolve
from newsqa.bot.reader.features import Weights
from newsqa.bot.reader.model import Calibration, ReaderModel, ReaderModelError
from newsqa.bot.reader.support import SupportModel, SupportModelError
from newsqa.bot.retrieve import AnswerSources, Candidate, Retrieval, asks_for_recent, retrieve
from newsqa.index import Embedder, IndexCorruptError, IndexHandle, Snapshot
from newsqa.settings import Settings

if TYPE_CHECKING:
    from langchain_core.runnables import Runnable, RunnableConfig

    from newsqa.bot.llm.generate import LlmResult

log = logging.getLogger(__name__)

Timings = Mapping[str, float]  # step name -> milliseconds; each step returns a new mapping


def _plus(timings: Timings, step: str, ms: float) -> dict[str, float]:
    return {**timings, step: timings.get(step, 0.0) + ms}


# -- the values the steps pass on -----------------------------------------------------------
@dataclass(frozen=True)
class Request:
    """A cleaned question, with the index generation it is answered from (leased by
    `Answerer.run` for the whole question)."""

    question: str
    conversation: str | None
    id: str | None
    snapshot: Snapshot
    on_token: Callable[[str], None] | None = None  # the LLM's unverified text, as it streams
    abandoned: threading.Event | None = None  # set by a caller that gave up waiting
    started: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class Prepared:
    """The standalone question (step `standalone`), and where a follow-up looks."""

    request: Request
    standalone: str
    hint: tuple[str, ...] = ()  # the previous answer's passages (a follow-up)
    within: frozenset[str] = frozenset()  # a follow-up's articles (the previous answer's)
    unclear: bool = False  # a follow-up no well-formed rewrite makes sense of
    judged: tuple[Retrieval, Reading] | None = None  # the chosen rewrite's, read while judging
    timings: Timings = field(default_factory=dict)


@dataclass(frozen=True)
class Retrieved:
    """The passages for the standalone question (step `retrieve`)."""

    prepared: Prepared
    retrieval: Retrieval
    timings: Timings = field(default_factory=dict)


@dataclass(frozen=True)
class Read:
    """What the reader made of the passages (step `read`)."""

    retrieved: Retrieved
    reading: Reading
    timings: Timings = field(default_factory=dict)


@dataclass(frozen=True)
class Generated:
    """The LLM's verified answer, or None: no LLM, it failed, or nothing it said held
    (step `llm`)."""

    read: Read
    llm: LlmResult | None
    timings: Timings = field(default_factory=dict)

    @property
    def prepared(self) -> Prepared:
        return self.read.retrieved.prepared

    @property
    def retrieval(self) -> Retrieval:
        return self.read.retrieved.retrieval


def _relevance(reading: Reading) -> float:
    """How relevant the reader model finds the best sentence it read (0 when none)."""
    return max((c.relevance for c in reading.choices), default=0.0)


_OUTCOMES = {"none": 0, "unsure": 1, "answer": 2}


def _inside(retrieval: Retrieval, articles: frozenset[str]) -> list[Candidate]:
    return [c for c in retrieval.candidates if c.passage.article_id in articles]


def _rank(reading: Reading, order: int) -> tuple[int, float, int]:
    """A rewrite the reader answers beats one it is unsure of, which beats one nothing
    retrieved bears on; then the more relevant best sentence; then the likelier rewrite."""
    return _OUTCOMES[reading.outcome], _relevance(reading), -order


def _ms(began: float) -> float:
    return (time.perf_counter() - began) * 1000


class Answerer:
    """Answers questions from the current index; thread-safe, one per process."""

    def __init__(
        self,
        settings: Settings,
        index: IndexHandle,
        embedder: Embedder,
        conversations: Conversations | None = None,
        weights: Weights | None = None,
        llm: Any = None,
        reader: ReaderModel | None = None,
        support: SupportModel | None = None,
    ) -> None:
        self.settings = settings
        self.index = index
        self.embedder = embedder
        self.conversations = conversations if conversations is not None else ConversationStore()
        self.weights = weights or Weights()
        self.llm = llm  # a LangChain chat model, or None for extractive answers
        self.reader = reader  # the trained reader model, or None for the feature score alone
        # The support judgment, or None (its weights missing): relevance and qualifiers decide.
        self.support = support if support is not None and support.available() else None
        self._steps: Any = None

    @property
    def named_steps(self) -> tuple[Runnable[Any, Any], ...]:
        """The five steps as named runnables, each with its own typed input and output:
        standalone (`Request` → `Prepared`), retrieve (→ `Retrieved`), read (→ `Read`),
        llm (→ `Generated`) and answer (→ `Answer`)."""
        if self._steps is None:
            from langchain_core.runnables import RunnableLambda

            self._steps = (
                RunnableLambda(self._prepare, name="standalone"),
                RunnableLambda(self._retrieve, name="retrieve"),
                RunnableLambda(self._read, name="read"),
                RunnableLambda(self._generate, name="llm"),
                RunnableLambda(self._finish, name="answer"),
            )
        return self._steps

    @property
    def chain(self) -> Runnable[Request, Answer]:
        """The steps as one LCEL sequence, `Request` in, `Answer` out."""
        from langchain_core.runnables import RunnableSequence

        return RunnableSequence(*self.named_steps)

    def ask(
        self,
        question: str,
        conversation: str | None = None,
        id: str | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer:
        """Answer one question; raises `QuestionError` for an empty or over-long one.

        `on_token` receives the LLM's text as it streams (unverified; the Answer holds
        the verified text).
        """
        return self.run(question, conversation, id, on_token)[0]

    def run(
        self,
        question: str,
        conversation: str | None = None,
        id: str | None = None,
        on_token: Callable[[str], None] | None = None,
        abandoned: threading.Event | None = None,
        config: RunnableConfig | None = None,
    ) -> tuple[Answer, Retrieval]:
        """The answer and the passages it was drawn from.

        `abandoned`: set by a caller that gave up waiting (a Telegram timeout); the answer
        is then not recorded in the conversation, which the user never saw it join.
        `config`: LangChain's run configuration (callbacks, tags) for the steps.
        """
        cleaned = clean_question(question, self.settings.max_question_chars)
        with logs.request():  # every log line of this question carries its id
            answer, retrieval = self._run(cleaned, conversation, id, on_token, abandoned, config)
            log.info(
                "answered: %s, %s, %.0f ms",
                answer.outcome,
                answer.mode,
                answer.timings_ms.get("total", 0.0),
            )
            return answer, retrieval

    def _run(
        self,
        cleaned: str,
        conversation: str | None,
        id: str | None,
        on_token: Callable[[str], None] | None,
        abandoned: threading.Event | None,
        config: RunnableConfig | None,
    ) -> tuple[Answer, Retrieval]:
        started = time.perf_counter()
        with self.index.lease() as snapshot:  # one generation for the whole question
            request = Request(cleaned, conversation, id, snapshot, on_token, abandoned, started)
            try:
                return self._answer(request, config)
            except IndexCorruptError:
                if not self.index.superseded(snapshot):
                    raise  # the index really is damaged
        # A build replaced this generation and pruned its parts mid-question: ask the new one.
        with self.index.lease() as snapshot:
            return self._answer(replace(request, snapshot=snapshot), config)

    def _answer(self, request: Request, config: RunnableConfig | None) -> tuple[Answer, Retrieval]:
        """Each step in turn: under a caller's run (the library's Runnable) they appear as
        its five children; the answer step's input also holds the passages it drew on."""
        standalone, retrieve_, read_, llm, answer = self.named_steps
        prepared = standalone.invoke(request, config)
        generated = llm.invoke(read_.invoke(retrieve_.invoke(prepared, config), config), config)
        return answer.invoke(generated, config), generated.retrieval

    def reset(self, conversation: str) -> None:
        self.conversations.reset(conversation)

    def sources(self, conversation: str) -> AnswerSources | None:
        """The passages behind the conversation's last answer, read from the conversation
        store (so any process sharing it can show them) and the current index. None when
        there is no last answer; passages since removed from the index are left out."""
        history = self.conversations.history(conversation)
        if not history or not history[-1].retrieved:
            return None
        turn = history[-1]
        with self.index.lease() as snapshot:
            passages = snapshot.passages(list(turn.retrieved))
            articles = snapshot.articles([p.article_id for p in passages.values()])
        candidates = [
            Candidate(passages[pid], articles[passages[pid].article_id], rank, 0.0)
            for rank, pid in enumerate(turn.retrieved)
            if pid in passages and passages[pid].article_id in articles
        ]
        return AnswerSources(candidates, frozenset(turn.passages)) if candidates else None

    def warm(self) -> None:
        """Load the model and open the index now, not on the first question."""
        self.embedder.embed_query("warm up")
        with self.index.lease() as snapshot:
            snapshot.warm()
        if self.reader is not None:
            try:
                self.reader.load()
            except ReaderModelError as exc:
                log.warning("%s; reading with the feature score instead", exc)
                self.reader = None
        if self.support is not None:
            try:
                self.support.load()
            except SupportModelError as exc:
                log.warning("%s; answering without the support judgment", exc)
                self.support = None

    @property
    def reader_config(self) -> ReaderConfig:
        s = self.settings
        calibrated = self.reader.calibration if self.reader is not None else Calibration()
        answer, support = calibrated.answer, calibrated.support
        if self.support is not None:  # fitted together with the support threshold
            fitted = self.support.thresholds
            answer, support = fitted.get("relevance", answer), fitted.get("support", support)
        calibration = Calibration(
            answer=s.reader_answer_threshold if s.reader_answer_threshold is not None else answer,
            also=calibrated.also,
            topic=s.reader_topic_threshold
            if s.reader_topic_threshold is not None
            else calibrated.topic,
            support=s.support_threshold if s.support_threshold is not None else support,
        )
        return ReaderConfig(
            calibration=calibration,
            fallback_threshold=s.abstain_threshold,
            max_sentences=s.max_quote_sentences,
            max_candidates=s.reader_candidates,
            max_citations=s.max_citations,
            judged=s.support_candidates,
        )

    # -- steps ---------------------------------------------------------------------------
    def _prepare(self, request: Request) -> Prepared:
        """The standalone question: the question itself, the LLM's rewrite (checked), or
        the rules' candidate rewrites judged by the reader (`bot/followup.py`)."""
        question = request.question
        history = self.conversations.history(request.conversation) if request.conversation else []
        if not history:
            return Prepared(request, question)
        if self.llm is not None:
            from newsqa.bot.llm.condense import llm_condense

            condensed = llm_condense(self.llm, history, question)
            if condensed:
                # A follow-up (rewritten): look where we were.
                hint = tuple(history[-1].passages) if condensed != question else ()
                return Prepared(request, condensed, hint=hint)
        found = proposals(question, history)
        prepared = Prepared(request, question)
        if follows_up(question) or any(p.question != question for p in found):
            prepared = replace(
                prepared,
                hint=tuple(history[-1].passages),
                within=self._conversation_articles(request, history[-1]),
            )
        if not found:
            return replace(prepared, unclear=True)
        if [p.question for p in found] != [question]:
            return self._judge(prepared, found)
        return prepared

    def _conversation_articles(self, request: Request, previous: Turn) -> frozenset[str]:
        """The articles the previous answer cited, where a follow-up is read (empty: any).
        A follow-up that names something those articles never mention may be read anywhere."""
        passages = request.snapshot.passages(list(previous.passages))
        articles = frozenset(p.article_id for p in passages.values())
        texts = request.snapshot.articles(list(articles))
        known = " ".join(a.text for a in texts.values()).lower()
        if any(name.lower() not in known for name in names_in(request.question)):
            return frozenset()
        return articles

    def _judge(self, prepared: Prepared, found: list[Proposal]) -> Prepared:
        """Retrieve and read for each proposal; keep the one whose best sentence the reader
        finds most relevant, among those it answers if any (`_rank`). When nothing retrieved
        bears on any of them, the follow-up is unclear: the bot asks for the whole question."""
        judged = []
        timings: Timings = prepared.timings
        for proposal in found:
            retrieval, timings = self._retrieval(prepared, proposal.question, timings)
            reading, timings = self._reading(prepared, proposal.question, retrieval, timings)
            judged.append((retrieval, reading))
        prepared = replace(prepared, timings=timings)
        best = max(range(len(found)), key=lambda i: _rank(judged[i][1], i))
        if log.isEnabledFor(logging.DEBUG):
            pairs = zip(found, judged, strict=True)
            scores = (f"{p.question} ({_relevance(r):.3f})" for p, (_, r) in pairs)
            log.debug("follow-up %r: %s", prepared.request.question, "; ".join(scores))
        if all(reading.outcome == "none" for _, reading in judged):
            return replace(prepared, unclear=True)
        return replace(prepared, standalone=found[best].question, judged=judged[best])

    def _retrieval(
        self, prepared: Prepared, question: str, timings: Timings
    ) -> tuple[Retrieval, Timings]:
        began = time.perf_counter()
        vector = self.embedder.embed_query(question)
        retrieval = retrieve(
            prepared.request.snapshot,
            vector,
            question,
            self.settings.top_k,
            self.settings.candidates_k,
            self.settings.rrf_k,
            list(prepared.hint),
            recent=asks_for_recent(question),
        )
        inside = _inside(retrieval, prepared.within)
        if inside:  # a follow-up stays with the articles of the conversation
            retrieval = replace(retrieval, candidates=inside)
        return retrieval, _plus(timings, "retrieve", _ms(began))

    def _reading(
        self, prepared: Prepared, question: str, retrieval: Retrieval, timings: Timings
    ) -> tuple[Reading, Timings]:
        began = time.perf_counter()
        args = (question, retrieval, prepared.request.snapshot, self.reader_config)
        recent = asks_for_recent(question)
        try:
            reading = read(*args, self.reader, self.weights, recent=recent, support=self.support)
        except ReaderModelError as exc:  # said once; the feature score reads from now on
            log.warning("%s; reading with the feature score instead", exc)
            self.reader = None
            reading = read(*args, None, self.weights, recent=recent)
        except SupportModelError as exc:  # said once; no support judgment from now on
            log.warning("%s; answering without the support judgment", exc)
            self.support = None
            reading = read(*args, self.reader, self.weights, recent=recent)
        return reading, _plus(timings, "read", _ms(began))

    def _retrieve(self, prepared: Prepared) -> Retrieved:
        if prepared.judged is not None:  # already retrieved while judging rewrites
            return Retrieved(prepared, prepared.judged[0], prepared.timings)
        retrieval, timings = self._retrieval(prepared, prepared.standalone, prepared.timings)
        return Retrieved(prepared, retrieval, timings)

    def _read(self, retrieved: Retrieved) -> Read:
        prepared = retrieved.prepared
        if prepared.unclear:
            return Read(retrieved, Reading(outcome="none", support=0.0), retrieved.timings)
        if prepared.judged is not None:  # already read while judging rewrites
            return Read(retrieved, prepared.judged[1], retrieved.timings)
        reading, timings = self._reading(
            prepared, prepared.standalone, retrieved.retrieval, retrieved.timings
        )
        return Read(retrieved, reading, timings)

    def _generate(self, done: Read) -> Generated:
        prepared = done.retrieved.prepared
        if self.llm is None or prepared.unclear:
            return Generated(done, None, done.timings)
        from newsqa.bot.llm import llm_answer

        began = time.perf_counter()
        judge = self.support.supports if self.support is not None else None
        result = llm_answer(
            self.llm,
            prepared.standalone,
            done.retrieved.retrieval,
            self.settings,
            prepared.request.on_token,
            judge,
        )
        kept = result if result is not None and not result.unsupported else None
        return Generated(done, kept, {**done.timings, "llm": _ms(began)})

    def _finish(self, generated: Generated) -> Answer:
        prepared, reading = generated.prepared, generated.read.reading
        request, retrieval = prepared.request, generated.retrieval
        snapshot, llm = request.snapshot, generated.llm
        mode = "llm" if llm is not None else "extractive"
        outcome, text, citations, short = "none", prompts.load("abstain"), [], None
        if prepared.unclear:  # which turn it follows is unclear: ask for the whole question
            text = prompts.render("followup_unclear", question=request.question)
        elif llm is not None and not llm.abstained:
            articles = snapshot.articles([q[0] for q in llm.citations])
            citations = resolve(llm.citations, articles, reading.support)
            outcome, text = "answer", llm.text
        elif llm is None and reading.quotes:  # the reader's answer, or its closest sentence
            outcome = "unsure" if reading.abstained else "answer"
            articles = snapshot.articles([q[0] for q in reading.quotes])
            citations = resolve(
                reading.quotes, articles, reading.support, reading.highlight, by_date=True
            )
            text = answer_text(citations)
            if outcome == "unsure":
                text = f"{prompts.load('unsure')} {text}"
            if reading.highlight is not None:
                article_id, start, end = reading.highlight
                short = articles[article_id].text[start:end]
        answer = Answer(
            id=request.id,
            question=request.question,
            standalone_question=prepared.standalone,
            answer=text,
            outcome=outcome,
            abstained=outcome != "answer",
            mode=mode,
            short_answer=short,
            citations=citations,
        )
        timings = {**generated.timings, "total": _ms(request.started)}
        answer.timings_ms = {k: round(v, 1) for k, v in timings.items()}
        gave_up = request.abandoned is not None and request.abandoned.is_set()
        # An unclear follow-up is not a turn: the next question follows the one before it.
        if request.conversation is not None and not gave_up and not prepared.unclear:
            quote = answer.citations[0].quote if answer.citations else None
            cited = tuple(
                c.passage.id
                for c in retrieval.candidates
                if any(
                    x.article_id == c.passage.article_id
                    and c.passage.start <= x.start < c.passage.end
                    for x in answer.citations
                )
            )
            self.conversations.add(
                request.conversation,
                Turn(
                    request.question,
                    prepared.standalone,
                    answer.short_answer,
                    quote,
                    cited,
                    tuple(c.passage.id for c in retrieval.candidates),
                ),
            )
        return answer
