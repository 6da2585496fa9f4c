"""The answering chain, the same behind `ask`, `ask --batch`, the REPL and Telegram.

question → clean → standalone (conversation) → retrieve → read → [LLM] → Answer, as
LangChain runnables. Each step records its time in the Answer's `timings_ms`. With an
LLM configured, its verified answer replaces the extractive one; when it fails or
nothing it says survives verification, the extractive answer stands.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from newsqa import prompts
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

log = logging.getLogger(__name__)


@dataclass
class _State:
    question: str
    conversation: str | None
    id: str | None
    standalone: str = ""
    snapshot: Snapshot | None = None
    retrieval: Retrieval | None = None
    reading: Reading | None = None
    on_token: Callable[[str], None] | None = None
    abandoned: threading.Event | None = None
    llm_result: Any = None
    hint: list[str] = field(default_factory=list)
    unclear: bool = False  # a follow-up no well-formed rewrite makes sense of
    within: frozenset[str] = frozenset()  # a follow-up's articles (the previous answer's)
    timings: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @property
    def recent(self) -> bool:
        """The question asks for the latest news ("latest", "now", "yesterday", …)."""
        return asks_for_recent(self.standalone)


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
        self._chain: Any = None

    @property
    def chain(self) -> Any:
        if self._chain is None:
            from langchain_core.runnables import RunnableLambda

            self._chain = (
                RunnableLambda(self._prepare, name="standalone")
                | RunnableLambda(self._retrieve, name="retrieve")
                | RunnableLambda(self._read, name="read")
                | RunnableLambda(self._generate, name="llm")
                | RunnableLambda(self._finish, name="answer")
            )
        return self._chain

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
    ) -> tuple[Answer, Retrieval]:
        """The answer and the passages it was drawn from.

        `abandoned`: set by a caller that gave up waiting (a Telegram timeout); the answer
        is then not recorded in the conversation, which the user never saw it join.
        """
        state = _State(
            clean_question(question, self.settings.max_question_chars),
            conversation,
            id,
            on_token=on_token,
            abandoned=abandoned,
        )
        with self.index.lease() as snapshot:  # one generation for the whole question
            try:
                return self._answer(state, snapshot)
            except IndexCorruptError:
                if not self.index.superseded(snapshot):
                    raise  # the index really is damaged
        # A build replaced this generation and pruned its parts mid-question: ask the new one.
        with self.index.lease() as snapshot:
            return self._answer(dataclasses.replace(state, timings={}), snapshot)

    def _answer(self, state: _State, snapshot: Snapshot) -> tuple[Answer, Retrieval]:
        state.snapshot = snapshot
        answer = self.chain.invoke(state)
        assert state.retrieval is not None
        return answer, state.retrieval

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
    def _prepare(self, state: _State) -> _State:
        """The standalone question: the question itself, the LLM's rewrite (checked), or
        the rules' candidate rewrites judged by the reader (`bot/followup.py`)."""
        history = self.conversations.history(state.conversation) if state.conversation else []
        state.standalone = state.question
        if not history:
            return state
        if self.llm is not None:
            from newsqa.bot.llm.condense import llm_condense

            condensed = llm_condense(self.llm, history, state.question)
            if condensed:
                state.standalone = condensed
                if condensed != state.question:  # a follow-up: look where we were
                    state.hint = list(history[-1].passages)
                return state
        found = proposals(state.question, history)
        if follows_up(state.question) or any(p.question != state.question for p in found):
            state.hint = list(history[-1].passages)
            state.within = self._conversation_articles(state, history[-1])
        if not found:
            state.unclear = True
        elif [p.question for p in found] != [state.question]:
            self._judge(state, found)
        return state

    def _conversation_articles(self, state: _State, previous: Turn) -> frozenset[str]:
        """The articles the previous answer cited, where a follow-up is read (empty: any).
        A follow-up that names something those articles never mention may be read anywhere."""
        assert state.snapshot is not None
        passages = state.snapshot.passages(list(previous.passages))
        articles = frozenset(p.article_id for p in passages.values())
        texts = state.snapshot.articles(list(articles))
        known = " ".join(a.text for a in texts.values()).lower()
        if any(name.lower() not in known for name in names_in(state.question)):
            return frozenset()
        return articles

    def _judge(self, state: _State, found: list[Proposal]) -> None:
        """Retrieve and read for each proposal; keep the one whose best sentence the reader
        finds most relevant, among those it answers if any (`_rank`). When nothing retrieved
        bears on any of them, the follow-up is unclear: the bot asks for the whole question."""
        judged = []
        for proposal in found:
            retrieval = self._retrieval(state, proposal.question)
            judged.append((retrieval, self._reading(state, proposal.question, retrieval)))
        best = max(range(len(found)), key=lambda i: _rank(judged[i][1], i))
        if log.isEnabledFor(logging.DEBUG):
            pairs = zip(found, judged, strict=True)
            scores = (f"{p.question} ({_relevance(r):.3f})" for p, (_, r) in pairs)
            log.debug("follow-up %r: %s", state.question, "; ".join(scores))
        if all(reading.outcome == "none" for _, reading in judged):
            state.unclear = True
            return
        state.standalone = found[best].question
        state.retrieval, state.reading = judged[best]

    def _retrieval(self, state: _State, question: str) -> Retrieval:
        began = time.perf_counter()
        vector = self.embedder.embed_query(question)
        assert state.snapshot is not None
        retrieval = retrieve(
            state.snapshot,
            vector,
            question,
            self.settings.top_k,
            self.settings.candidates_k,
            self.settings.rrf_k,
            state.hint,
            recent=asks_for_recent(question),
        )
        inside = _inside(retrieval, state.within)
        if inside:  # a follow-up stays with the articles of the conversation
            retrieval = dataclasses.replace(retrieval, candidates=inside)
        state.timings["retrieve"] = state.timings.get("retrieve", 0.0) + _ms(began)
        return retrieval

    def _reading(self, state: _State, question: str, retrieval: Retrieval) -> Reading:
        began = time.perf_counter()
        assert state.snapshot is not None
        args = (question, retrieval, state.snapshot, self.reader_config)
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
        state.timings["read"] = state.timings.get("read", 0.0) + _ms(began)
        return reading

    def _retrieve(self, state: _State) -> _State:
        if state.retrieval is None:  # not already retrieved while judging rewrites
            state.retrieval = self._retrieval(state, state.standalone)
        return state

    def _read(self, state: _State) -> _State:
        assert state.retrieval is not None
        if state.unclear:
            state.reading = Reading(outcome="none", support=0.0)
        elif state.reading is None:
            state.reading = self._reading(state, state.standalone, state.retrieval)
        return state

    def _generate(self, state: _State) -> _State:
        if self.llm is None or state.unclear:
            return state
        from newsqa.bot.llm import llm_answer

        began = time.perf_counter()
        assert state.retrieval is not None
        judge = self.support.supports if self.support is not None else None
        result = llm_answer(
            self.llm, state.standalone, state.retrieval, self.settings, state.on_token, judge
        )
        if result is not None and not result.unsupported:
            state.llm_result = result
        state.timings["llm"] = (time.perf_counter() - began) * 1000
        return state

    def _finish(self, state: _State) -> Answer:
        reading, snapshot = state.reading, state.snapshot
        assert reading is not None and snapshot is not None and state.retrieval is not None
        llm = state.llm_result
        mode = "llm" if llm is not None else "extractive"
        outcome, text, citations, short = "none", prompts.load("abstain"), [], None
        if state.unclear:  # which turn it follows is unclear: ask for the whole question
            text = prompts.render("followup_unclear", question=state.question)
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
            id=state.id,
            question=state.question,
            standalone_question=state.standalone,
            answer=text,
            outcome=outcome,
            abstained=outcome != "answer",
            mode=mode,
            short_answer=short,
            citations=citations,
        )
        state.timings["total"] = (time.perf_counter() - state.started) * 1000
        answer.timings_ms = {k: round(v, 1) for k, v in state.timings.items()}
        gave_up = state.abandoned is not None and state.abandoned.is_set()
        # An unclear follow-up is not a turn: the next question follows the one before it.
        if state.conversation is not None and not gave_up and not state.unclear:
            quote = answer.citations[0].quote if answer.citations else None
            cited = tuple(
                c.passage.id
                for c in state.retrieval.candidates
                if any(
                    x.article_id == c.passage.article_id
                    and c.passage.start <= x.start < c.passage.end
                    for x in answer.citations
                )
            )
            self.conversations.add(
                state.conversation,
                Turn(
                    state.question,
                    state.standalone,
                    answer.short_answer,
                    quote,
                    cited,
                    tuple(c.passage.id for c in state.retrieval.candidates),
                ),
            )
        return answer
