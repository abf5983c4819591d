"""The one-way import rule of README "How it works", checked on the source tree so it cannot silently return.

    kg  <-  models.relation   models.graph  <-  models.fusion  <-  app
            (neither imports the other; the fusion package alone imports both)

Also: no import cycle at all (imports inside functions count, so none can be dodged by deferring one),
no torch and no SPARQL text in app/, and kg/ never reaches up into models/ or app/.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"app": "kgrel.app", "kg": "kgrel.kg", "models": "kgrel.models", "data": "kgrel.data"}
SPARQL = re.compile(r"\b(SELECT|CONSTRUCT|DESCRIBE)\b[^.]*(\?|\*|WHERE)|\bASK\s*\{|\bINSERT\s+DATA\b|\bDELETE\s*\{")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    parts = [PACKAGES[rel.parts[0]], *rel.with_suffix("").parts[1:]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> dict[str, Path]:
    return {module_name(p): p for folder in PACKAGES for p in sorted((ROOT / folder).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imports_of(path: Path, module: str) -> set[str]:
    """Every kgrel module (or package) that `path` imports at run time, wherever the import statement is."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            return  # annotations only: no run-time dependency
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import: a package's __init__ is its own anchor
                parts = module.split(".")
                keep = len(parts) - node.level + (1 if path.name == "__init__.py" else 0)
                base = ".".join(parts[:keep] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in found if name.startswith("kgrel.")}


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    files = source_files()
    g = nx.DiGraph()
    g.add_nodes_from(files)
    for module, path in files.items():
        for target in imports_of(path, module):
            if target in files and target != module:
                g.add_edge(module, target)
    return g


def edges_between(graph: nx.DiGraph, source: str, target: str) -> list[tuple[str, str]]:
    def inside(m: str, pkg: str) -> bool:
        return m == pkg or m.startswith(pkg + ".")

    return [(a, b) for a, b in graph.edges if inside(a, source) and inside(b, target)]


def test_the_tree_is_read(graph):
    assert {"kgrel.models.fusion.classifier", "kgrel.models.relation.model", "kgrel.models.graph.link_predictor",
            "kgrel.kg.store", "kgrel.app.main"} <= set(graph.nodes)
    assert graph.number_of_edges() > 50


def test_no_import_cycle(graph):
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, f"import cycles: {cycles[:5]}"


@pytest.mark.parametrize("source,target", [
    ("kgrel.kg", "kgrel.models"), ("kgrel.kg", "kgrel.app"), ("kgrel.models", "kgrel.app"),
    ("kgrel.models.relation", "kgrel.models.graph"), ("kgrel.models.graph", "kgrel.models.relation"),
    ("kgrel.models.relation", "kgrel.models.fusion"), ("kgrel.models.graph", "kgrel.models.fusion"),
])
def test_layers_import_one_way(graph, source, target):
    assert not edges_between(graph, source, target), f"{source} must not import {target}"


def test_fusion_is_the_only_module_importing_both_models(graph):
    both = [m for m in graph.nodes
            if any(t.startswith("kgrel.models.relation") for t in graph.successors(m))
            and any(t.startswith("kgrel.models.graph") for t in graph.successors(m))
            and m.startswith("kgrel.models")]
    assert both and all(m.startswith("kgrel.models.fusion.") for m in both), both


def test_app_holds_no_torch_and_no_sparql():
    for path in sorted((ROOT / "app").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n == "torch" or n.startswith("torch.") for n in names), f"{path} imports torch"
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert not SPARQL.search(node.value), f"{path} holds SPARQL: {node.value[:80]!r}"


def test_the_rule_checker_catches_a_violation(tmp_path):
    """The AST walk sees imports inside functions and ignores TYPE_CHECKING blocks."""
    fake = ROOT / "models" / "relation" / "x.py"
    src = tmp_path / "x.py"
    src.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from kgrel.models.graph import a\n"
                   "def f():\n    from kgrel.models.graph.embeddings import KGEmbeddings\n")
    found = imports_of(src, module_name(fake))
    assert "kgrel.models.graph.embeddings" in found and "kgrel.models.graph.a" not in found
