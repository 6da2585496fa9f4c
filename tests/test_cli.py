"""The `newsqa` command line: contracts, exit codes, one-line errors, the REPL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE_DIR, SAMPLE_ID

from newsqa.bot.cli import main

NEWSQA = str(Path(sys.executable).parent / "newsqa")


def run(*args: str, stdin: str | None = None, env: dict | None = None, cwd: Path | None = None):
    """The real console script in a child process."""
    return subprocess.run(
        [NEWSQA, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=cwd or ROOT,
    )


def test_ask_json_schema(sample_index: Path) -> None:
    result = run("ask", "--index-dir", str(sample_index), "--json", "Who represented the US?")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert set(answer) >= {
        "id",
        "question",
        "standalone_question",
        "answer",
        "abstained",
        "mode",
        "citations",
        "timings_ms",
    }
    assert answer["mode"] == "extractive" and answer["abstained"] is False
    [citation] = answer["citations"]
    assert set(citation) >= {
        "n",
        "article_id",
        "title",
        "url",
        "published",
        "quote",
        "start",
        "end",
        "score",
    }
    text = (SAMPLE_DIR / SAMPLE_ID).read_text(encoding="utf-8").strip()
    assert text[citation["start"] : citation["end"]] == citation["quote"]
    assert "[1]" in answer["answer"]
    assert result.stderr == ""


def test_ask_text_output(sample_index: Path, capsys) -> None:
    assert main(["--index-dir", str(sample_index), "ask", "How many detainees were released?"]) == 0
    out = capsys.readouterr().out
    assert "more than 4,600" in out and "[1]" in out and SAMPLE_ID in out


def test_ask_before_any_index(tmp_path: Path) -> None:
    result = run(
        "ask",
        "Who represented the US?",
        cwd=tmp_path,
        env={"NEWSQA_INDEX_DIR": str(tmp_path / "none")},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"newsqa: error: no index in {tmp_path / 'none'}; build one with `newsqa index`"
    ]


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "Please type a question"),
        ("\x00\x07", "Please type a question"),
        ("x" * 100_000, "too long"),
    ],
)
def test_ask_bad_questions_exit_2(sample_index: Path, capsys, question: str, message: str) -> None:
    assert main(["ask", "--index-dir", str(sample_index), question]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_batch_answers_in_order_with_conversations(sample_index: Path, tmp_path: Path) -> None:
    lines = [
        {"id": "1", "question": "Who did Russia send?", "conversation": "a"},
        {"id": "2", "question": "How many detainees were released?"},
        {"id": "3", "question": "What is his job?", "conversation": "a"},
        {"id": "4", "question": ""},
        {"id": "5", "question": "What is his job?"},
    ]
    batch = tmp_path / "q.jsonl"
    batch.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = run("ask", "--index-dir", str(sample_index), "--batch", str(batch))
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["1", "2", "3", "4", "5"]
    assert out[0]["short_answer"] == "Igor Kostyukov"
    assert out[2]["standalone_question"] == "What is Igor Kostyukov's job?"  # conversation a
    assert "Please type a question" in out[3]["error"]
    assert out[4]["standalone_question"] == "What is his job?"  # no conversation, no context


def test_batch_file_errors(sample_index: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok"}\n{oops\n')
    assert main(["ask", "--index-dir", str(sample_index), "--batch", str(bad)]) == 2
    assert f"{bad}:2: malformed JSON" in capsys.readouterr().err
    assert main(["ask", "--index-dir", str(sample_index), "--batch", str(tmp_path / "no")]) == 2


def test_status(sample_index: Path, capsys) -> None:
    assert main(["status", "--index-dir", str(sample_index)]) == 0
    out = capsys.readouterr().out
    assert "articles:   1" in out and "all-MiniLM-L6-v2" in out and str(sample_index) in out
    assert main(["status", "--index-dir", str(sample_index), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["ready"] is True and status["articles"] == 1 and status["passages"] > 1


def test_damaged_index_is_a_one_line_error(sample_copy: Path, capsys) -> None:
    current = sample_copy / (sample_copy / "CURRENT").read_text().strip()
    (current / "docstore.sqlite").write_bytes(b"\x00" * 4096)
    assert main(["ask", "--index-dir", str(sample_copy), "Who represented the US?"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(sample_copy) in err[0] and "newsqa index --full" in err[0]
    (sample_copy / "CURRENT").write_text("gen-999999-deadbeef\n")
    assert main(["status", "--index-dir", str(sample_copy)]) == 1
    assert "missing generation" in capsys.readouterr().err


def test_index_command_and_python_m_index(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("The council met on Tuesday. It approved the budget.")
    (src / "bad.json").write_text("{nope")
    first = run("index", "--source", str(src), "--index-dir", str(tmp_path / "ix"))
    assert first.returncode == 0, first.stderr
    assert "1 added" in first.stdout and "1 skipped" in first.stdout
    assert f"{src / 'bad.json'}: malformed JSON" in first.stderr
    # The installed script name works from anywhere; the short one from the repository root.
    for module, cwd in (("newsqa.index", tmp_path), ("index", ROOT)):
        again = subprocess.run(
            [
                sys.executable,
                "-m",
                module,
                "--source",
                str(src),
                "--index-dir",
                str(tmp_path / "ix"),
            ],
            capture_output=True,
            text=True,
            cwd=cwd,
        )
        assert again.returncode == 0 and again.stdout.startswith("nothing changed"), again.stderr
        assert "1 unchanged" in again.stdout


def test_installed_under_one_namespace(tmp_path: Path) -> None:
    """Outside the repository only `newsqa.*` is importable: installing newsqa next to
    another `bot`, `index` or `prompts` module cannot collide with it."""
    probe = (
        "import importlib.util as u, newsqa.bot.cli, newsqa.index, newsqa.prompts\n"
        "print([m for m in ('bot', 'index', 'prompts', 'train', 'bench') if u.find_spec(m)])\n"
        "print(len(newsqa.prompts.names()) > 0)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "True"]


def test_index_with_nothing_valid_exits_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty.txt").write_text("")
    assert (
        main(
            ["index", "--source", str(tmp_path / "empty.txt"), "--index-dir", str(tmp_path / "ix")]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "no valid articles found" in err and not (tmp_path / "ix" / "CURRENT").exists()


def test_settings_typo_fails_loudly(tmp_path: Path, capsys) -> None:
    env = tmp_path / "custom.env"
    env.write_text("NEWSQA_TOP_KK=3\n")
    assert main(["--env-file", str(env), "status"]) == 2
    assert "unknown setting 'newsqa_top_kk'" in capsys.readouterr().err.lower()
    (tmp_path / ".env").write_text("NEWSQA_TOP_K=zero\n")
    assert main(["status"]) == 2
    assert "top_k" in capsys.readouterr().err


def test_repl_through_stdin(sample_index: Path) -> None:
    script = "\n".join(
        [
            ":help",
            "Who did Russia send?",
            ":sources",
            "What is his job?",
            ":reset",
            "What is his job?",
            ":bogus",
            ":[/]",
            "",
            ":quit",
            "never asked",
        ]
    )
    result = run("repl", "--index-dir", str(sample_index), stdin=script)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert ":sources" in out  # the help text
    assert "Igor Kostyukov" in out
    assert "understood as: What is Igor Kostyukov's job?" in out
    assert "(cited" in out and "Conversation forgotten." in out
    assert "Unknown command ':bogus'" in out
    assert "Unknown command ':[/]'" in out  # user text is never read as rich markup
    assert "Unknown command ':[/]'" in out  # user text is never read as rich markup
    assert out.rstrip().endswith("Bye.")
    assert "Traceback" not in out + result.stderr


def test_repl_ends_cleanly_on_eof(sample_index: Path) -> None:
    result = run("repl", "--index-dir", str(sample_index), stdin="Who represented the US?")
    assert result.returncode == 0 and "Witkoff" in result.stdout and "Bye." in result.stdout
