"""The docs build's markup guard (scripts/docs_markup.py): Sphinx-only markup becomes Markdown, and a
page that still shows it, or a constant's name as a default, fails the build."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

griffe = pytest.importorskip("griffe", reason="the docs tools (requirements/docs.txt)")
PluginError = pytest.importorskip("mkdocs.exceptions").PluginError

from scripts.docs_markup import on_post_page, sphinx_to_markdown  # noqa: E402

PAGE = SimpleNamespace(file=SimpleNamespace(src_path="reference/hook.md"))


def test_sphinx_markup_becomes_markdown() -> None:
    module = griffe.Module("pkg")
    text = sphinx_to_markdown(
        "Raises :class:`~pkg.errors.Oops`; see :func:`pkg.run`.\nExample::\n\n    run()\n\nOrder\\ s",
        module,
    )
    assert '<autoref identifier="pkg.errors.Oops" optional><code>Oops</code></autoref>' in text
    assert '<autoref identifier="pkg.run" optional><code>pkg.run()</code></autoref>' in text
    assert "Example:\n\n    run()" in text
    assert text.endswith("Orders")


@pytest.mark.parametrize(
    "html",
    [
        "<p>see :func:<code>decide</code> for the rules</p>",
        "<p>The tree is small on purpose::</p>",
        "<p>a list of <code>Order</code>\\ s</p>",
        '<span class="o">=</span> <span class="n">DEFAULT_TIMEOUT</span>',
        "<td><code>DEFAULT_API_BUDGET_SHARE</code></td>",
    ],
)
def test_a_page_that_still_shows_it_fails_the_build(html: str) -> None:
    with pytest.raises(PluginError, match=r"reference/hook\.md shows"):
        on_post_page(f"<html>{html}</html>", PAGE, None)


def test_a_clean_page_passes() -> None:
    html = (
        "<p>see <code>decide()</code>; the host <code>::1</code></p><td><code>0.2</code></td>"
        "<p>the changelog quotes <code>:func:</code>, <code>Example::</code> and <code>Order\\ s</code></p>"
    )
    assert on_post_page(html, PAGE, None) == html
