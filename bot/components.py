"""One place that builds the real parts from settings; tests pass their own instead."""

from __future__ import annotations

from newsqa.bot.chain import Answerer
from newsqa.bot.conversation import Conversations, ConversationStore, DatabaseConversationStore
from newsqa.index import Embedder, IndexHandle
from newsqa.settings import Settings


def open_index(
    settings: Settings, embedder: Embedder | None = None
) -> tuple[IndexHandle, Embedder]:
    """The index named by `settings` and the embedding model it was built with.

    Raises `IndexMissingError` / `IndexCorruptError` (one-line messages) before the
    model is loaded when the index cannot be used, and `IndexProblem` when the settings
    name another model than the one the index was built with.
    """
    handle = IndexHandle(settings)
    with handle.lease() as snapshot:
        built_with = snapshot.model
    embedder = embedder or Embedder(settings.embedding_model, settings.embed_batch_size)
    if built_with != embedder.name:
        from newsqa.index import IndexProblem

        raise IndexProblem(
            f"the index in {settings.index_dir} was built with {built_with}, but the "
            f"settings name {embedder.name}; rebuild it with `newsqa index`"
        )
    return handle, embedder


def build_answerer(
    settings: Settings,
    embedder: Embedder | None = None,
    conversations: Conversations | None = None,
) -> Answerer:
    """The answering chain over the index named by `settings`.

    Raises `IndexMissingError` / `IndexCorruptError` (one-line messages) before any
    model is loaded when the index cannot be used.
    """
    handle, embedder = open_index(settings, embedder)
    if conversations is None:
        target = settings.database_url or settings.conversations_db
        if target is not None:
            from newsqa.database import connect

            conversations = DatabaseConversationStore(
                connect(target, wal=True),
                settings.conversation_turns,
                max_conversations=settings.conversations_max,
                idle_seconds=settings.conversation_idle_s,
            )
        else:
            conversations = ConversationStore(
                settings.conversation_turns,
                max_conversations=settings.conversations_max,
                idle_seconds=settings.conversation_idle_s,
            )
    llm = None
    if settings.llm_enabled:
        from newsqa.bot.llm import build_llm

        llm = build_llm(settings)
    from newsqa.bot.reader.model import DEFAULT_DIR, ReaderModel
    from newsqa.bot.reader.support import DEFAULT_DIR as SUPPORT_DIR
    from newsqa.bot.reader.support import SupportModel

    reader = ReaderModel(settings.reader_model_dir or DEFAULT_DIR, threads=settings.reader_threads)
    support = (
        SupportModel(settings.support_model_dir or SUPPORT_DIR, threads=settings.reader_threads)
        if settings.support_enabled
        else None
    )
    return Answerer(
        settings, handle, embedder, conversations, llm=llm, reader=reader, support=support
    )
