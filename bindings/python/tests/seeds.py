"""Reads the Python samples out of the seed documents (../shared/seeds) and prepares them
to run: the import line is changed, and nothing else but the documents' own typos that
keep a sample from being Python at all (each repair is listed, and must apply)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Sequence, Tuple

from conftest import shared

AMPLITUDE = ("seeds", "amplitude-experiment-python-sdk.md")
EPPO = ("seeds", "eppo-python-sdk.md")


def python_blocks(parts: Sequence[str]) -> List[str]:
    """Every ```python block of a seed document, in order."""
    text = Path(shared(*parts)).read_text(encoding="utf-8")
    return [m.group(1) for m in re.finditer(r"```python\n(.*?)```", text, re.S)]


def document(parts: Sequence[str]) -> str:
    return Path(shared(*parts)).read_text(encoding="utf-8")


def prepare(code: str, imports: Sequence[Tuple[str, str]] = (), repairs: Sequence[Tuple[str, str]] = ()) -> str:
    """Applies the import changes, then the listed repairs of the document's typos; each
    must match, so a changed document is noticed."""
    for old, new in imports:
        assert old in code, f"import line {old!r} not in sample:\n{code}"
        code = code.replace(old, new)
    for old, new in repairs:
        assert old in code, f"repair {old!r} does not apply to sample:\n{code}"
        code = code.replace(old, new)
    return code


def mark_branches(code: str, markers: Sequence[str]) -> List[Tuple[str, str]]:
    """Repairs for comment-only branches (``# Flag is on``): a comment alone is not a block
    body in Python, so each gets a call that records which branch ran."""
    repairs = []
    for marker in markers:
        m = re.search(r"^([ \t]*)" + re.escape(marker) + r"[ \t]*$", code, re.M)
        assert m, f"{marker!r} not found in sample"
        indent = m.group(1)
        repairs.append((m.group(0), f"{m.group(0)}\n{indent}branch({marker!r})"))
    return repairs


def signature_blocks(parts: Sequence[str]) -> List[str]:
    """The API signature lines of a document (``name(args) : Result`` and ``name()``)."""
    out = []
    for block in python_blocks(parts):
        stripped = block.strip()
        if "\n" not in stripped and re.match(r"^[\w.]+\(.*\)( : .*)?$", stripped) and "=" not in stripped.split("(")[0]:
            if not stripped.startswith("experiment."):
                out.append(stripped)
    return out
