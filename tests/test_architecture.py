"""The package's layers as a test: a layer imports only the layers below it, and no module sits
outside a layer. Every import counts, including those inside functions and the module names given
as strings to importlib, to ``-m`` and to worker fixture factories ("module:function"): an import
deferred into a function is still a dependency, only a later one."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

# Pure Python: the same in both lanes (same Python, numpy, pytest, hypothesis): current lane only
# in ./suite test (tests/README.md).
pytestmark = pytest.mark.lane_independent

PACKAGE = Path(__file__).resolve().parent.parent / "infergate"
# Bottom to top; each subpackage's docstring says what it owns.
LAYERS = ("core", "matrix", "building", "measuring", "reports", "gate", "pytest_plugin", "commands")
_NAMED = re.compile(r"^infergate\.([a-z_]+)(?:[.:]|$)")


def _imported(tree: ast.AST, layer: str) -> set[str]:
    """The layers a module's imports reach: relative and absolute imports, and module names in strings."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                found.add(layer)
            elif node.level == 2:  # from ..<layer>[.module] import ...
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found.update(a.name for a in node.names)
            elif node.module and node.module.startswith("infergate."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("infergate."))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = _NAMED.match(node.value)
            if match:
                found.add(match.group(1))
    return found


def violations(package: Path, layers: tuple[str, ...] = LAYERS) -> list[str]:
    """Each import of a higher layer (or of no layer) by a lower one, as 'module -> layer'."""
    rank = {name: i for i, name in enumerate(layers)}
    found = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        if len(rel.parts) == 1:
            if rel.name not in ("__init__.py", "__main__.py"):
                found.append(f"{rel}: a module outside every layer")
            continue
        layer = rel.parts[0]
        if layer not in rank:
            found.append(f"{rel}: in {layer!r}, which is not a layer")
            continue
        for target in sorted(_imported(ast.parse(path.read_text(encoding="utf-8")), layer)):
            if target not in rank:
                found.append(f"{rel} -> {target}: not a layer")
            elif rank[target] > rank[layer]:
                found.append(f"{rel} -> {target}: {layer} may not import the higher layer {target}")
    return found


def _module_imports(path: Path, layer: str, known: set[str]) -> set[str]:
    """The package's modules ('layer.module') that one module imports, however it imports them."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.level in (1, 2):
            base = layer if node.level == 1 else ""
            module = ".".join(x for x in (base, node.module or "") if x)
            names = [module] + [f"{module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("infergate."):
            module = node.module.split(".", 1)[1]
            names = [module] + [f"{module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _NAMED.match(node.value):
            names = [node.value.split(":")[0].split(".", 1)[1]]
        found.update(n for n in names if n in known)
    return found


def module_cycles(package: Path) -> list[list[str]]:
    """Groups of modules that import each other, directly or round a loop (an import deferred into
    a function counts: it hides a circle, it does not remove it)."""
    paths = {f"{p.parent.name}.{p.stem}": p for p in package.glob("*/*.py") if p.name != "__init__.py"}
    graph = {m: _module_imports(p, m.split(".")[0], set(paths)) - {m} for m, p in paths.items()}

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    reachable = {m: reach(m) for m in graph}
    groups = {frozenset({m} | {n for n in reachable[m] if m in reachable[n]}) for m in graph if m in reachable[m]}
    return sorted(sorted(g) for g in groups)


def test_no_modules_import_each_other() -> None:
    assert module_cycles(PACKAGE) == []


def test_a_circle_hidden_in_a_function_is_found(tmp_path: Path) -> None:
    package = _tree(tmp_path, {"matrix/__init__.py": "", "matrix/models.py": "from .spec import ModelSpec\n",
                               "matrix/spec.py": "def load():\n    from .models import build\n"})
    assert module_cycles(package) == [["matrix.models", "matrix.spec"]]


def test_every_layer_imports_only_the_layers_below_it() -> None:
    assert violations(PACKAGE) == []


def test_every_layer_says_what_it_owns_and_what_it_may_import() -> None:
    for layer in LAYERS:
        doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text()))
        assert doc and "May import" in doc, layer


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "infergate" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "infergate"


@pytest.mark.parametrize("text", [
    "from ..commands.run import main\n",  # a relative import
    "def f():\n    from infergate.commands import run\n",  # deferred into a function, absolute
    "import importlib\nplugin = importlib.import_module('infergate.commands.run')\n",  # by name
    "WORKER = ['-m', 'infergate.gate.lane_worker']\n",  # a worker started by module name
])
def test_a_lower_layer_importing_a_higher_one_fails(tmp_path: Path, text: str) -> None:
    package = _tree(tmp_path, {"matrix/__init__.py": "", "matrix/zoo.py": text,
                               "commands/__init__.py": "", "commands/run.py": "from ..matrix import zoo\n"})
    found = violations(package)
    assert len(found) == 1 and found[0].startswith("matrix/zoo.py -> "), found
    assert "matrix may not import the higher layer" in found[0]


def test_a_module_outside_the_layers_fails(tmp_path: Path) -> None:
    package = _tree(tmp_path, {"helpers.py": "", "misc/__init__.py": ""})
    assert violations(package) == ["helpers.py: a module outside every layer",
                                   "misc/__init__.py: in 'misc', which is not a layer"]


# -- pytest only where pytest runs: the plugin, and the commands that call pytest.main ----------

PYTEST_FREE = ("core", "matrix", "building", "measuring", "reports", "gate")


def pytest_imports(package: Path, layers: tuple[str, ...] = PYTEST_FREE) -> list[str]:
    """Each import of pytest or _pytest (however spelled, in a function too, or named to importlib)
    in a module of ``layers``, as 'path:line'."""
    found = []
    for layer in layers:
        for path in sorted((package / layer).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                        "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
                    names = [str(node.args[0].value)]
                if any(n.split(".")[0] in ("pytest", "_pytest") for n in names):
                    found.append(f"{path.relative_to(package)}:{node.lineno}")
    return found


def test_the_layers_below_the_plugin_never_import_pytest() -> None:
    assert pytest_imports(PACKAGE) == []


@pytest.mark.parametrize("text", [
    "import pytest\n",
    "def f():\n    from _pytest.mark.expression import Expression\n",
    "import importlib\nm = importlib.import_module('_pytest.outcomes')\n",
    "def f():\n    import pytest as p\n",
])
def test_a_pytest_import_below_the_plugin_is_found(tmp_path: Path, text: str) -> None:
    package = _tree(tmp_path, {"gate/__init__.py": "", "gate/worker.py": text,
                               "pytest_plugin/__init__.py": "", "pytest_plugin/plugin.py": "import pytest\n"})
    assert len(pytest_imports(package)) == 1 and pytest_imports(package)[0].startswith("gate/worker.py:")


# -- variant names: the registered objects' names, never a literal compared in another module -------

def variant_name_literals(package: Path, names: frozenset[str]) -> list[str]:
    """Each string literal equal to a variant's name outside building/variants.py, as 'path:line'.
    The matrix layer is exempt: it sits below the variants and its "eager" is an attention
    implementation (zoo.EAGER_ATTENTION). Docstrings do not count."""
    found = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        if rel == "building/variants.py" or rel.startswith("matrix/"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)}
        found += [f"{rel}:{node.lineno} {node.value!r}" for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and node.value in names and id(node) not in docstrings]
    return found


def test_no_module_spells_a_variant_name_itself() -> None:
    from infergate.building.variants import VARIANTS

    assert variant_name_literals(PACKAGE, frozenset(VARIANTS)) == []


def test_a_spelled_variant_name_is_found(tmp_path: Path) -> None:
    (tmp_path / "measuring").mkdir()
    (tmp_path / "measuring" / "rule.py").write_text(
        '"""jit_ipex in a docstring is prose."""\n\ndef slow(v):\n    return v != "jit_ipex"\n', encoding="utf-8")
    assert variant_name_literals(tmp_path, frozenset({"jit_ipex"})) == ["measuring/rule.py:4 'jit_ipex'"]
