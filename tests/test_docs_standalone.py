"""Every document in the repository stands on its own: no tracked file cites notes that live
outside the repository, and every ``docs/<name>.md`` a file mentions exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
THIS = Path(__file__).resolve().relative_to(ROOT).as_posix()
SCOPES = ("tracegrad/", "tests/", "docs/", "bench/")
OUTSIDE = re.compile(
    r"shared/ARCHITECTURE|shared/notes|notes/llvmlite\.md|notes/testing\.md|notes/peers\.md"
    r"|\.\./shared"
)
DOC_PATH = re.compile(r"docs/([A-Za-z0-9_.-]+\.md)")


def _tracked_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--", *SCOPES, "README.md"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        names = [n for n in out.split("\0") if n]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: walk the tree
        names = [
            p.relative_to(ROOT).as_posix()
            for scope in SCOPES
            for p in (ROOT / scope).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        ] + ["README.md"]
    return [ROOT / n for n in sorted(names) if n != THIS and (ROOT / n).is_file()]


def _texts() -> list[tuple[str, str]]:
    texts = []
    for path in _tracked_files():
        try:
            texts.append((path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")))
        except UnicodeDecodeError:  # images and other binary files
            continue
    return texts


@pytest.fixture(scope="module")
def texts() -> list[tuple[str, str]]:
    found = _texts()
    assert any(name == "README.md" for name, _ in found)
    return found


def test_no_references_outside_the_repository(texts: list[tuple[str, str]]) -> None:
    offenders = [
        f"{name}:{number}: {line.strip()}"
        for name, text in texts
        for number, line in enumerate(text.splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert offenders == [], "references to documents outside the repository:\n" + "\n".join(
        offenders
    )


def test_cited_docs_exist(texts: list[tuple[str, str]]) -> None:
    missing = sorted(
        f"{name}: docs/{doc}"
        for name, text in texts
        for doc in set(DOC_PATH.findall(text))
        if not (ROOT / "docs" / doc).is_file()
    )
    assert missing == [], "documents cited but not in docs/:\n" + "\n".join(missing)


def test_the_patterns_match() -> None:
    assert OUTSIDE.search("see ../shared/ARCHITECTURE.md")
    assert OUTSIDE.search("(``notes/llvmlite.md`` s5)")
    assert not OUTSIDE.search("docs/llvmlite.md, section 5")
    assert DOC_PATH.findall("`docs/backend.md`, docs/llvmlite.md.") == ["backend.md", "llvmlite.md"]
