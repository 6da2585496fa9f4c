"""`newsqa index` / `python -m newsqa.index`: build or update the index, with a summary."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from newsqa.logs import setup_logging
from newsqa.settings import Settings, SettingsError, load_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_global_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index-dir", type=Path, help="index folder (NEWSQA_INDEX_DIR)")
    parser.add_argument("--env-file", type=Path, help="settings file to read instead of .env")


def settings_from_args(args: argparse.Namespace) -> Settings:
    return load_settings(env_file=args.env_file, index_dir=args.index_dir)


def fail(message: str, code: int) -> int:
    """Print a one-line error to stderr and return the exit code."""
    print(f"newsqa: error: {message}", file=sys.stderr)
    return code


def add_index_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        dest="sources",
        action="append",
        type=Path,
        metavar="PATH",
        help="file, folder or .jsonl to index (repeatable; default NEWSQA_ARTICLES_DIR)",
    )
    parser.add_argument("--full", action="store_true", help="rebuild from scratch")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


class _RichProgress:
    """A progress bar on stderr for the embedding step, shown only on a terminal."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self._progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task: Any = None

    def start(self, total: int) -> None:
        self._progress.start()
        self._task = self._progress.add_task("embedding passages", total=total)

    def advance(self, count: int) -> None:
        self._progress.advance(self._task, count)

    def stop(self) -> None:
        self._progress.stop()


def run_index(args: argparse.Namespace, settings: Settings) -> int:
    from newsqa.index.build import NoArticlesError, build_index
    from newsqa.index.embedding import ModelNotFoundError
    from newsqa.index.errors import IndexProblem, disk_full, is_disk_full

    progress = None if args.quiet or not sys.stderr.isatty() else _RichProgress()
    try:
        summary = build_index(settings, args.sources, full=args.full, progress=progress)
    except NoArticlesError as exc:
        return fail(str(exc), EXIT_USAGE)
    except ModelNotFoundError as exc:
        return fail(str(exc), EXIT_USAGE)
    except IndexProblem as exc:
        return fail(str(exc), EXIT_FAILED)
    except OSError as exc:
        if is_disk_full(exc):
            return fail(str(disk_full(settings.index_dir)), EXIT_FAILED)
        return fail(f"{exc.strerror or exc} ({exc.filename or settings.index_dir})", EXIT_FAILED)
    finally:
        if progress is not None:
            progress.stop()
    for problem in summary.problems:
        print(f"warning: skipped {problem}", file=sys.stderr)
    print(format_summary(summary, settings.index_dir))
    return EXIT_OK


def format_summary(summary: Any, index_dir: Path) -> str:
    head = "nothing changed" if not summary.changed and not summary.full else "indexed"
    return (
        f"{head} ({index_dir}): {summary.added} added, {summary.updated} updated, "
        f"{summary.unchanged} unchanged, {summary.deleted} deleted; "
        f"{summary.passages} passages ({summary.embedded} embedded), "
        f"{len(summary.problems)} skipped, {summary.seconds:.1f} s"
        + (f"; {summary.retired} older than NEWSQA_KEEP_DAYS left out" if summary.retired else "")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m newsqa.index", description="Build or update the newsqa index."
    )
    add_global_options(parser)
    add_index_arguments(parser)
    args = parser.parse_args(argv)
    setup_logging()
    try:
        settings = settings_from_args(args)
    except SettingsError as exc:
        return fail(str(exc), EXIT_USAGE)
    try:
        return run_index(args, settings)
    except KeyboardInterrupt:
        return fail("interrupted; the previous index is unchanged", EXIT_FAILED)
