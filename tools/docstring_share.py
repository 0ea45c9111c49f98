"""The docstring share docs/architecture.md ("Conventions") quotes: module, class and function docstrings'
line spans over ``infergate/**/*.py``, in all and per layer. ``python3 tools/docstring_share.py``."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "infergate"
DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def docstring_lines(source: str) -> int:
    lines = 0
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, DOCUMENTED) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                lines += (first.end_lineno or first.lineno) - first.lineno + 1
    return lines


def main() -> None:
    docs: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        layer = parts[0] if len(parts) > 1 else "(top)"
        source = path.read_text(encoding="utf-8")
        docs[layer] += docstring_lines(source)
        total[layer] += len(source.splitlines())
    print(f"docstrings: {sum(docs.values()):,} of {sum(total.values()):,} lines "
          f"({100 * sum(docs.values()) / sum(total.values()):.1f} %)")
    for layer in sorted(total):
        print(f"  {layer:14} {docs[layer]:5,} of {total[layer]:6,} ({100 * docs[layer] / total[layer]:.1f} %)")


if __name__ == "__main__":
    main()
