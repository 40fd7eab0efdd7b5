"""The reference pages' docstrings as readers should see them, and a build that fails when they do not.

The package's docstrings are written for Sphinx (``:param x:``, ``:class:`Order```, ``Example::``,
``Order\\ s``), which ``help()`` and IDEs show as they are; mkdocstrings reads the ``:param:``
fields but renders the rest as Markdown, where the roles, the ``::`` and the escaped space show raw,
and a default that is a constant shows as its name (``DEFAULT_TIMEOUT``) instead of its value.

- :class:`SphinxMarkup` (a Griffe extension, mkdocs.yml ``mkdocstrings ... extensions``) rewrites
  the docstrings before rendering: a role becomes inline code, linked (an optional autorefs
  reference, no warning when the target is not on a page) to its full path; a trailing ``::``
  becomes ``:``; ``\\ `` disappears; a parameter's default that names a constant becomes that
  constant's value.
- :func:`on_post_page` (an MkDocs hook, mkdocs.yml ``hooks``) fails the build when a page still
  shows such markup, so a new docstring cannot bring it back unnoticed.
"""

from __future__ import annotations

import re
from typing import Any

import griffe
from mkdocs.exceptions import PluginError

ROLE = re.compile(r":(?:py:)?(func|meth|class|exc|attr|mod|data|obj|const):`(~?)([\w.]+)`")
CONSTANT = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
# What a page must not show: a role left raw, an RST literal-block marker, an escaped space, and
# a constant's name where a default is shown (a signature's `= NAME`, a defaults column's cell).
LEFTOVERS = {
    "a Sphinx role": re.compile(r":(?:py:)?(?:func|meth|class|exc|attr|mod|data|obj|const):(?:`|<code>)"),
    "an RST '::'": re.compile(r"\w::(?:</p>|\s*$)", re.M),
    "an escaped space": re.compile(r"\S\\ \w"),
    "a constant's name as a default": re.compile(
        rf"=(?:\s|<[^>]+>)*{CONSTANT.pattern}\b|<td>\s*<code>{CONSTANT.pattern}</code>\s*</td>"
    ),
}


def _role(match: re.Match[str], obj: griffe.Object) -> str:
    kind, short, target = match.groups()
    shown = target.rsplit(".", 1)[-1] if short else target
    if kind in ("func", "meth"):
        shown += "()"
    try:
        full = obj.resolve(target) if "." not in target else target
    except (griffe.NameResolutionError, ValueError):
        full = target
    return f'<autoref identifier="{full}" optional><code>{shown}</code></autoref>'


def sphinx_to_markdown(text: str, obj: griffe.Object) -> str:
    """``text`` (a docstring) with its Sphinx-only markup made Markdown (see the module docstring)."""
    text = ROLE.sub(lambda match: _role(match, obj), text)
    text = re.sub(r"(\S)::$", r"\1:", text, flags=re.M)
    text = re.sub(r"^\s*::\s*$", "", text, flags=re.M)
    return text.replace("\\ ", "")


class SphinxMarkup(griffe.Extension):
    """Griffe extension: rewrites the docstrings and the constant defaults of the documented objects."""

    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = sphinx_to_markdown(obj.docstring.value, obj)
        if isinstance(obj, griffe.Function):
            for parameter in obj.parameters:
                value = self._constant_value(parameter.default, obj, loader)
                if value is not None:
                    parameter.default = value

    @staticmethod
    def _constant_value(default: Any, obj: griffe.Object, loader: griffe.GriffeLoader) -> Any:
        if not isinstance(default, griffe.ExprName) or not CONSTANT.fullmatch(default.name):
            return None
        try:
            target = loader.modules_collection[default.canonical_path]
            return target.final_target.value if isinstance(target, griffe.Alias) else target.value
        except (KeyError, AttributeError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None


def on_post_page(output: str, page: Any, config: Any) -> str:
    """MkDocs hook: the build fails on a page that still shows Sphinx markup or a constant default.

    Code a page shows on purpose (``<code>Order\\ s</code>`` in the changelog, say) is not markup
    left over: the markup checks skip what code elements hold, the defaults check reads it.
    """
    prose = re.sub(r"(<(code|pre)\b[^>]*>).*?(</\2>)", r"\1\3", output, flags=re.S)
    for what, pattern in LEFTOVERS.items():
        found = pattern.search(output if what == "a constant's name as a default" else prose)
        if found:
            text = found.string
            start = max(found.start() - 60, 0)
            raise PluginError(
                f"{page.file.src_path} shows {what}: ...{text[start : found.end() + 60]!r}... "
                "(fix the docstring, or scripts/docs_markup.py)"
            )
    return output
