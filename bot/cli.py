"""`newsqa`: the one entry point. Each command is a small function over one Answerer."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from newsqa.database import DatabaseError
from newsqa.index.cli import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    add_index_arguments,
    fail,
    run_index,
    setup_logging,
)
from newsqa.index.web.cli import COMMANDS as FOLLOW_COMMANDS
from newsqa.index.web.cli import add_commands as add_follow_commands
from newsqa.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from newsqa.bot.chain import Answerer

log = logging.getLogger(__name__)


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--index-dir",
        type=Path,
        default=default,
        help="index folder (default: NEWSQA_INDEX_DIR or data/index)",
    )
    parser.add_argument(
        "--env-file", type=Path, default=default, help="settings file to read instead of .env"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="log more",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsqa", description="Question answering over news articles, with citations."
    )
    _global_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", parents=[common], help="build or update the index")
    add_index_arguments(p)
    p = sub.add_parser("status", parents=[common], help="what the index holds")
    p.add_argument("--json", action="store_true", help="print JSON (for health checks)")
    sub.add_parser(
        "health",
        parents=[common],
        help="exit 0 when the index, the vector store and the database answer (load balancers)",
    )
    p = sub.add_parser("ask", parents=[common], help="answer one question, or a batch")
    p.add_argument("question", nargs="?", help="the question")
    p.add_argument("--batch", type=Path, metavar="FILE.jsonl", help="questions, one JSON per line")
    p.add_argument("--json", action="store_true", help="print the Answer object as JSON")
    sub.add_parser("repl", parents=[common], help="ask interactively")
    p = sub.add_parser("telegram", parents=[common], help="run the Telegram bot")
    p.add_argument(
        "--webhook-url",
        metavar="URL",
        help="receive updates by webhook at this https URL instead of long polling",
    )
    p.add_argument("--port", type=int, help="port of the webhook server")
    p = sub.add_parser(
        "eval",
        parents=[common],
        help="score the bot on a question file",
        description="Score answers against gold answers: answer presence, F1, "
        "abstention, citation validity and hit, retrieval recall, latency.",
    )
    p.add_argument(
        "file",
        type=Path,
        metavar="FILE.jsonl",
        help='lines of {"id", "question", "answers", "is_impossible", "article_id"}',
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_follow_commands(sub, common)
    p = sub.add_parser(
        "watch", parents=[common], help="follow questions: told when the news changes the answer"
    )
    watch = p.add_subparsers(dest="watch_command", required=True, metavar="ACTION")
    q = watch.add_parser(
        "add",
        parents=[common],
        help="watch a question (shows its answer now) or topic words (a digest of new articles)",
    )
    q.add_argument("question", metavar="QUESTION_OR_TOPIC")
    q = watch.add_parser("list", parents=[common], help="the watches, with their answers")
    q.add_argument(
        "--all", action="store_true", help="every chat's watches too, paused ones marked"
    )
    q = watch.add_parser("remove", parents=[common], help="stop watching one (by its number)")
    q.add_argument("number", metavar="N")
    p = sub.add_parser("latest", parents=[common], help="the newest articles (on a topic)")
    p.add_argument("topic", nargs="*", metavar="TOPIC", help="words of a topic")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        settings = load_settings(env_file=args.env_file, index_dir=args.index_dir)
    except SettingsError as exc:
        return fail(str(exc), EXIT_USAGE)
    if settings.log_format == "json":
        setup_logging(args.verbose, json_lines=True)
    try:
        return COMMANDS[args.command](args, settings)
    except DatabaseError as exc:  # unreachable, or written by a newer newsqa: one line
        return fail(str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_FAILED)
    except BrokenPipeError:
        return EXIT_OK


def _answerer(settings: Settings) -> Answerer:
    from newsqa.bot.components import build_answerer

    return build_answerer(settings)


Command = Callable[[argparse.Namespace, Settings], int]


def _with_index(command: Command) -> Command:
    """Turn index problems into one-line errors: missing (2), unusable (1)."""

    def wrapped(args: argparse.Namespace, settings: Settings) -> int:
        from newsqa.index import IndexMissingError, IndexProblem, ModelNotFoundError

        try:
            return command(args, settings)
        except (IndexMissingError, ModelNotFoundError) as exc:
            return fail(str(exc), EXIT_USAGE)
        except IndexProblem as exc:
            return fail(str(exc), EXIT_FAILED)

    wrapped.__doc__ = command.__doc__
    return wrapped


@_with_index
def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """Articles, passages, model, location and last build of the index."""
    from newsqa.index import ChromaTarget, open_snapshot

    snapshot = open_snapshot(settings.index_dir, ChromaTarget.from_settings(settings))
    status = snapshot.status()
    if args.json:
        reachable = snapshot.reachable()
        shown = {"ready": reachable, "store_reachable": reachable, **status.__dict__}
        print(json.dumps({**shown, "keep_days": settings.keep_days}))
        return EXIT_OK if reachable else EXIT_FAILED
    print(f"index:      {status.location} ({status.generation})")
    print(f"articles:   {status.articles}")
    print(f"passages:   {status.passages} ({status.sentences} sentences)")
    print(f"model:      {status.model}")
    print(f"store:      {status.store}")
    print(f"built:      {status.built_at or 'unknown'}")
    print(f"newest article: {status.newest_published or 'no dates given'}")
    keep = f"articles of the last {settings.keep_days} days" if settings.keep_days else "all"
    print(f"retention:  {keep} (NEWSQA_KEEP_DAYS)")
    return EXIT_OK


@_with_index
def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 with one `ok:` line when the index opens, its vector store answers and the
    shared database (if any) answers; otherwise one `newsqa: error:` line and exit 1 (2: no
    index there)."""
    from newsqa.bot.health import check_database, check_health, healthy_line

    status = check_health(settings)
    print(healthy_line(status, check_database(settings)))
    return EXIT_OK


@_with_index
def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    """One answer (text or --json), or a batch file answered in order as JSON lines."""
    from newsqa.bot.question import QuestionError, clean_question

    if args.batch is not None:
        if args.question:
            return fail("give a question or --batch FILE, not both", EXIT_USAGE)
        return _ask_batch(args.batch, settings)
    if args.question is None:
        return fail('no question given: newsqa ask "Who represented the US?"', EXIT_USAGE)
    try:
        clean_question(args.question, settings.max_question_chars)
    except QuestionError as exc:
        return fail(str(exc), EXIT_USAGE)
    answer = _answerer(settings).ask(args.question)
    if args.json:
        print(answer.to_json())
    else:
        from newsqa.bot.terminal import console, render_answer

        console().print(render_answer(answer))
    return EXIT_OK


def _ask_batch(path: Path, settings: Settings) -> int:
    from newsqa.bot.question import QuestionError
    from newsqa.bot.question_files import QuestionFileError, read_questions

    try:
        items = read_questions(path)
    except QuestionFileError as exc:
        return fail(str(exc), EXIT_USAGE)
    answerer = _answerer(settings)
    for item in items:
        key = f"batch:{item.conversation}" if item.conversation else None
        try:
            line = answerer.ask(item.question, conversation=key, id=item.id).to_json()
        except QuestionError as exc:
            line = json.dumps({"id": item.id, "question": item.question, "error": str(exc)})
        print(line, flush=True)
    return EXIT_OK


@_with_index
def cmd_repl(args: argparse.Namespace, settings: Settings) -> int:
    """Interactive questions with follow-ups, :sources, :reset, :help, :quit."""
    from newsqa.bot.repl import run_repl

    answerer = _answerer(settings)
    answerer.warm()
    return run_repl(answerer, answerer.index.status().articles)


@_with_index
def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Score the bot on a question file with gold answers."""
    from newsqa.bot.evaluate import run_eval, summarize
    from newsqa.bot.question_files import QuestionFileError, read_questions

    try:
        items = read_questions(args.file, require_gold=True)
    except QuestionFileError as exc:
        return fail(str(exc), EXIT_USAGE)
    answerer = _answerer(settings)
    answerer.warm()
    report = summarize(run_eval(answerer, items), settings.top_k)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        from newsqa.bot.terminal import console, render_report

        console().print(render_report(report))
    return EXIT_OK


def cmd_telegram(args: argparse.Namespace, settings: Settings) -> int:
    """Run the Telegram bot (checks the token, then the index)."""
    from newsqa.bot.telegram import run_telegram

    return run_telegram(settings, args.webhook_url, args.port)


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    """Build or update the index (under the shared database's build lease, when processes
    share one: builds from several hosts never interleave)."""
    from newsqa.database import shared_database
    from newsqa.leases import guarded

    shared = shared_database(settings)
    try:
        return guarded(shared, lambda: run_index(args, settings))
    finally:
        if shared is not None:
            shared.close()


def _locked_build(settings: Settings) -> Callable[[], object] | None:
    """The build `newsqa add` and `refresh` run: under the shared database's build lease
    when there is one (None: the plain build)."""
    if not settings.database_url:
        return None

    def build() -> object:
        from newsqa.database import connect
        from newsqa.index import build_index
        from newsqa.leases import guarded

        with connect(settings.database_url or "") as db:
            return guarded(db, lambda: build_index(settings))

    return build


@_with_index
def cmd_watch(args: argparse.Namespace, settings: Settings) -> int:
    """Watches: add (a question with the answer now as baseline, or topic words), list
    (`--all`: every chat's, paused ones marked), remove."""
    from newsqa.bot.question import QuestionError
    from newsqa.bot.watch_topics import is_topic
    from newsqa.bot.watches import CLI_OWNER, Baseline, WatchError, day, open_watches

    with open_watches(settings) as store:
        try:
            if args.watch_command == "add":
                question = store.check(CLI_OWNER, args.question)
                if is_topic(question):
                    added = store.add(CLI_OWNER, question, Baseline("topic", None), kind="topic")
                    print(f"watch {added.n} added (topic): {added.question}")
                    return EXIT_OK
                answer = _answerer(settings).ask(question)
                added = store.add(CLI_OWNER, question, Baseline.of(answer))
                print(f"watch {added.n} added: {added.question}")
                from newsqa.bot.terminal import console, render_answer

                console().print(render_answer(answer))
            elif args.watch_command == "remove":
                removed = store.remove(CLI_OWNER, args.number)
                print(f"watch {removed.n} removed: {removed.question}")
            else:
                listed = store.list(None if args.all else CLI_OWNER)
                if not listed:
                    print('no watches yet: add one with `newsqa watch add "QUESTION"`')
                for item in listed:
                    base = item.baseline
                    if item.topic:
                        now = "topic"
                    elif base.short_answer:
                        now = f"now: {base.short_answer} ({day(base.published)})"
                    else:
                        now = "now: no answer yet"
                    who = f"{item.owner}  " if args.all else ""
                    paused = "  [paused]" if item.paused else ""
                    print(f"{who}{item.n:>3}  {item.question}  [{now}]{paused}")
        except (WatchError, QuestionError) as exc:
            return fail(str(exc), EXIT_USAGE)
    return EXIT_OK


@_with_index
def cmd_latest(args: argparse.Namespace, settings: Settings) -> int:
    """The newest articles, on a topic when words are given: title, date, source, link."""
    from newsqa.bot.latest import article_line, latest

    topic = " ".join(args.topic)
    found = latest(_answerer(settings), topic, settings.latest_count)
    if not found:
        print(f"no article on {topic} yet" if topic else "no articles yet")
    for article in found:
        print(article_line(article))
    return EXIT_OK


def _after_follow(settings: Settings) -> Callable[[object], None]:
    """What `newsqa add` and `refresh` do once the index is updated: ask again the watches
    the new articles touch (the watch step, timed on its own line), print the command
    line's pushes; the bot sends its chats' pushes from the outbox."""

    def after(report: object) -> None:
        try:
            watch_step(report)
        except Exception as exc:  # the index is updated already: say so, do not fail it
            log.debug("watch step failed", exc_info=True)
            print(
                f"warning: the index is updated, but the watches were not asked again "
                f"({type(exc).__name__}: {exc})",
                file=sys.stderr,
            )

    def watch_step(report: object) -> None:
        from newsqa.bot.watches import CLI_OWNER, article_ids, open_watches, recheck

        new = article_ids(report, settings.articles_dir)
        with open_watches(settings) as store:
            if not new or not store.active():
                return
            run = recheck(store, _answerer(settings), new)
            print(run.line())
            for push in store.pending([CLI_OWNER]):
                print(push.text)
                store.mark_sent(push.id)

    return after


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    """Fetch articles from links, save them as article files, update the index."""
    from newsqa.index.web.cli import cmd_add as follow_add

    return follow_add(args, settings, after=_after_follow(settings), build=_locked_build(settings))


def cmd_refresh(args: argparse.Namespace, settings: Settings) -> int:
    """Fetch every feed, add the new entries' articles, update the index once."""
    from newsqa.index.web.cli import cmd_refresh as follow_refresh

    return follow_refresh(
        args, settings, after=_after_follow(settings), build=_locked_build(settings)
    )


COMMANDS = {
    "index": cmd_index,
    "status": cmd_status,
    "health": cmd_health,
    "ask": cmd_ask,
    "repl": cmd_repl,
    "eval": cmd_eval,
    "telegram": cmd_telegram,
    **FOLLOW_COMMANDS,
    "add": cmd_add,
    "refresh": cmd_refresh,
    "watch": cmd_watch,
    "latest": cmd_latest,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
