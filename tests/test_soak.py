"""A short soak in `make test`: a real bot process, many chats and several rebuilds, and
neither its descriptors nor its memory may grow with them (tests/soak.py runs it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from soak import run_soak

pytestmark = pytest.mark.timeout(1800)  # a ceiling against a hang; soak.py checks progress


def test_no_growth_across_chats_and_rebuilds(tmp_path: Path) -> None:
    result = run_soak(rounds=8, questions=160, work=tmp_path, warmup_rounds=2)
    start, end = result.start, result.end
    assert end.rebuilds == 8 and end.questions == 160
    # Before the fix every rebuild left its Chroma client and SQLite handles open
    # (about 12 descriptors per rebuild): 6 more rebuilds would add about 70.
    assert end.fds <= start.fds + 6, [(s.round, s.fds) for s in result.samples]
    # 140 more chats than the bounded maps hold, and 6 rebuilds: the resident size may
    # move with the allocator, not grow with the work.
    assert end.rss_mb <= start.rss_mb + 40, [(s.round, s.rss_mb) for s in result.samples]
