"""`newsqa`: the one entry point. Each command is a small function over one Answerer."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        settings = load_settings(env_file=args.env_file, index_dir=args.index_dir)
    except SettingsError as exc:
        return fail(str(exc), EXIT_USAGE)
    try:
        return COMMANDS[args.command](args, settings)
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
        print(json.dumps({"ready": reachable, "store_reachable": reachable, **status.__dict__}))
        return EXIT_OK if reachable else EXIT_FAILED
    print(f"index:      {status.location} ({status.generation})")
    print(f"articles:   {status.articles}")
    print(f"passages:   {status.passages} ({status.sentences} sentences)")
    print(f"model:      {status.model}")
    print(f"store:      {status.store}")
    print(f"built:      {status.built_at or 'unknown'}")
    print(f"newest article: {status.newest_published or 'no dates given'}")
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
    """Build or update the index."""
    return run_index(args, settings)


COMMANDS = {
    "index": cmd_index,
    "status": cmd_status,
    "ask": cmd_ask,
    "repl": cmd_repl,
    "eval": cmd_eval,
    "telegram": cmd_telegram,
    **FOLLOW_COMMANDS,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
