"""The fenced code blocks of a docs page, as a reader copies them."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bash_blocks(page: str) -> list[str]:
    """The ```bash blocks of ``page`` (a path from the repository's root), in order, dedented
    (a block inside a list item is indented in the Markdown)."""
    text = (ROOT / page).read_text(encoding="utf-8")
    return [textwrap.dedent(body) for _, body in re.findall(r"^( *)```bash\n(.*?)^\1```", text, re.S | re.M)]


def block_with(page: str, needle: str) -> str:
    """The one ```bash block of ``page`` that contains ``needle``."""
    (block,) = [block for block in bash_blocks(page) if needle in block]
    return block
