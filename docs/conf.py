"""Sphinx configuration: the API reference (numpydoc, autosummary) and the guide."""

import re

from sphinx.ext import autosummary

import rankbottleneck
import rankbottleneck.lm  # documented beside the package; needs the [lm] extra

project = "rankbottleneck"
author = "rankbottleneck maintainers"
release = rankbottleneck.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # MathJax 3 from a pip package (the [docs] extra), copied into _static:
    # the maths render without a network, where the default CDN would leave
    # raw TeX (there is no LaTeX here for sphinx.ext.imgmath either)
    "sphinx-mathjax-offline",
    "numpydoc",
    "myst_parser",
]
# what sphinx-mathjax-offline sets too, stated here so that the page never
# falls back to the CDN: a path relative to _static
mathjax_path = "mathjax/tex-chtml.js"

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
templates_path = ["_templates"]
# the guide pages come from the README: GitHub-style tables and headings
myst_heading_anchors = 3

autosummary_generate = True


def _module_extras():
    """Per public module, the names of its ``__all__`` that the API tables do
    not already document (the top-level names have their own pages), with
    the autodoc directive for each: the module pages document the rest."""
    import inspect

    top = set(rankbottleneck.__all__)
    extras = {}
    for modname in [*rankbottleneck.__all__, "lm"]:
        module = getattr(rankbottleneck, modname)
        if not inspect.ismodule(module):
            continue
        rows = []
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name, None)
            if name in top or obj is None or inspect.ismodule(obj):
                continue
            if inspect.isclass(obj):
                directive = ("autoexception" if issubclass(obj, BaseException)
                             else "autoclass")
            elif callable(obj):
                directive = "autofunction"
            else:
                directive = "autodata"
            rows.append((name, directive))
        extras[module.__name__] = rows
    return extras


autosummary_context = {"module_extras": _module_extras()}
autosummary_imported_members = False
# numpydoc renders the sections; the member tables of result classes would list
# every dataclass field a second time
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "alabaster"
html_title = f"rankbottleneck {release}"
html_static_path = []


# A summary line that cites its paper ("... (Kanai et al. [1]_)") would carry
# the citation into the API tables, where its target does not exist: the
# reference list is on the function's own page. Tables show the summary only.
_extract_summary = autosummary.extract_summary


def _summary_without_citations(doc, settings):
    return re.sub(r"\s*\[[\w-]+\]_", "", _extract_summary(doc, settings))


autosummary.extract_summary = _summary_without_citations


# Notation the docstrings use in prose: ``|S|``, the size of a set, is RST's
# substitution syntax; it stands for itself.
rst_prolog = r"""
.. |S| replace:: \|S\|
"""


def _dangling_citations(app, what, name, obj, options, lines):
    """A function's docstring may cite its module's reference list
    ("(Peters et al. 2019 [3]_)"); on the function's own page that list is
    not there, so the citation is kept as text, "[3]", instead of a link."""
    text = "\n".join(lines)
    defined = set(re.findall(r"^\s*\.\. \[([\w-]+)\]", text, re.M))
    for i, line in enumerate(lines):
        lines[i] = re.sub(r"\[([\w-]+)\]_",
                          lambda m: m.group(0) if m.group(1) in defined
                          else f"[{m.group(1)}]", line)


def setup(app):
    # before numpydoc (priority 500) renames the citations it can resolve
    app.connect("autodoc-process-docstring", _dangling_citations, priority=400)
