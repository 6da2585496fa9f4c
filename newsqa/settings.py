"""The application's one settings object (every layer's knobs): environment and `.env`,
`NEWSQA_` prefix, unknown keys rejected.

Every entry point builds it once (`load_settings`) and passes it down; nothing else
reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class SettingsError(ValueError):
    """Settings that cannot be used; the message is one line naming the setting."""


def _split_ids(value: object) -> object:
    if isinstance(value, str):
        return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
    if isinstance(value, int):
        return [value]
    return value


class Settings(BaseSettings):
    """All of newsqa's settings, with their defaults (listed in `.env.example`)."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSQA_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        env_ignore_empty=True,  # `KEY=` in .env means "use the default"
        populate_by_name=True,
    )

    # Where things are.
    articles_dir: Path = Path("data/articles")
    index_dir: Path = Path("data/index")
    chroma_url: str | None = None
    chroma_headers: dict[str, str] = {}
    embedding_model: str | None = None
    # Log lines on stderr: "text", or "json" (one JSON object a line, with a request id).
    log_format: Literal["text", "json"] = "text"

    # Optional LLM (unset: extractive answers).
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout_s: float = Field(default=30.0, gt=0)
    llm_max_passages: int = Field(default=4, ge=1, le=20)
    llm_max_context_chars: int = Field(default=6000, ge=200)
    llm_temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    llm_max_tokens: int = Field(default=512, ge=16)

    # Telegram.
    telegram_bot_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "NEWSQA_TELEGRAM_BOT_TOKEN"),
    )
    telegram_api_url: str | None = None
    telegram_allowed: Annotated[list[int], NoDecode] = []
    telegram_admins: Annotated[list[int], NoDecode] = []
    telegram_rate_per_minute: int = Field(default=10, ge=1)
    telegram_answer_timeout_s: float = Field(default=30.0, gt=0)
    telegram_max_question_chars: int | None = Field(default=None, ge=10)
    telegram_workers: int = Field(default=4, ge=1, le=64)
    telegram_webhook_listen: str = "127.0.0.1"
    telegram_webhook_port: int = Field(default=8443, ge=1, le=65535)
    telegram_webhook_secret: SecretStr | None = None

    # Following the news: links and feeds (`newsqa add`, `feeds`, `refresh`, /add).
    # Links that resolve to private, loopback, link-local or metadata addresses are refused
    # unless this is set (tests, intranets); metadata addresses are refused always.
    fetch_allow_private: bool = False
    fetch_timeout_s: float = Field(default=10.0, gt=0, le=120)
    fetch_max_bytes: int = Field(default=5_000_000, ge=10_000)
    fetch_max_redirects: int = Field(default=5, ge=0, le=20)
    fetch_per_host: int = Field(default=2, ge=1, le=16)
    fetch_workers: int = Field(default=8, ge=1, le=64)
    fetch_min_chars: int = Field(default=400, ge=1)  # less main text: empty or paywalled
    refresh_minutes: float = Field(default=0.0, ge=0.0)  # the bot's feed period; 0: never
    feed_max_entries: int = Field(default=50, ge=1, le=1000)  # new entries per feed per refresh
    duplicate_threshold: float | None = Field(default=None, gt=0.0, le=1.0)  # unset: measured
    telegram_add_per_hour: int = Field(default=20, ge=1)  # /add links per user per hour

    # Indexing.
    chunk_max_tokens: int = Field(default=128, ge=32, le=254)
    chunk_overlap_sentences: int = Field(default=1, ge=0, le=3)
    embed_batch_size: int = Field(default=32, ge=1)
    # Longer articles are skipped with a warning (about 200 pages; a news article is ~5k).
    max_article_chars: int = Field(default=1_000_000, ge=1_000)
    # Articles published more than this many days ago are taken out of the index (their
    # files stay, and come back if this is raised or unset). Unset: keep everything.
    keep_days: int | None = Field(default=None, ge=1)

    # Retrieval and reading.
    top_k: int = Field(default=4, ge=1, le=50)
    candidates_k: int = Field(default=20, ge=1, le=200)
    rrf_k: int = Field(default=60, ge=1)
    abstain_threshold: float = Field(default=0.2, ge=0.0, le=1.0)
    max_quote_sentences: int = Field(default=2, ge=1, le=5)
    # The trained reader: its folder (unset: the weights shipped in the package), its
    # thresholds (unset: the calibrated ones in that folder), and how much it reads.
    reader_model_dir: Path | None = None
    reader_answer_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    reader_topic_threshold: float | None = Field(default=None, ge=-1.0, le=1.0)
    reader_candidates: int = Field(default=8, ge=1, le=200)
    reader_threads: int = Field(default=1, ge=0, le=64)
    # The support judgment behind every confident answer: its folder (unset: the shipped
    # weights), its threshold (unset: calibrated), and how many candidates it judges.
    support_enabled: bool = False  # off until its weights reach the targets
    support_model_dir: Path | None = None
    support_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    support_candidates: int = Field(default=3, ge=1, le=20)
    max_citations: int = Field(default=3, ge=1, le=10)
    max_question_chars: int = Field(default=1000, ge=10)

    # Conversations: turns kept, idle time before one is forgotten, and (optionally) a
    # SQLite file shared by several bot processes.
    conversation_turns: int = Field(default=6, ge=1, le=50)
    conversation_idle_s: float = Field(default=3600.0, gt=0)
    conversations_db: Path | None = None
    # Where the state several processes share lives (conversations, source buttons, rate
    # limits, feeds, the link registry, watches, the refresher's lease): unset, SQLite files
    # on this host (in memory for conversations, buttons and rate limits); a
    # `postgresql://user:password@host:port/name` URL: one PostgreSQL database for bot
    # processes on several hosts (`sqlite:///path` puts it all in one SQLite file).
    database_url: str | None = None
    # Conversations kept (their turns, and so their last answer for :sources and
    # /sources); the least recently active beyond this are forgotten.
    conversations_max: int = Field(default=10_000, ge=1)

    # Watches (/watch, `newsqa watch`): the longest watched question, how many one user
    # may keep, and how many one chat (a group's are the chat's) may hold.
    watch_max_chars: int = Field(default=300, ge=10, le=1000)
    watches_per_user: int = Field(default=10, ge=1)
    watches_per_chat: int = Field(default=20, ge=1)
    # A topic watch's article: its closest passage this near the topic (cosine); measured
    # by `python -m bench.watches` (BENCHMARKS.md, "Watches").
    watch_topic_similarity: float = Field(default=0.28, gt=0.0, le=1.0)
    latest_count: int = Field(default=5, ge=1, le=50)  # articles /latest and `latest` list

    @field_validator("telegram_allowed", "telegram_admins", mode="before")
    @classmethod
    def _ids(cls, value: object) -> object:
        return _split_ids(value)

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_base_url and self.llm_model)


def load_settings(env_file: Path | None = None, **overrides: object) -> Settings:
    """Build the settings from the environment, `.env` (or `env_file`) and overrides.

    Raises `SettingsError` with a one-line message when a value is invalid or unknown.
    """
    if env_file is not None and not env_file.is_file():
        raise SettingsError(f"settings file not found: {env_file}")
    clean = {key: value for key, value in overrides.items() if value is not None}
    try:
        if env_file is not None:
            return Settings(_env_file=env_file, **clean)  # type: ignore[call-arg]
        return Settings(**clean)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "settings"
        if first.get("type") == "extra_forbidden":
            raise SettingsError(f"unknown setting {where!r} (check the spelling)") from None
        raise SettingsError(f"bad setting {where}: {first.get('msg')}") from None
