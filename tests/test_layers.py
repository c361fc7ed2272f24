"""The package's layering, read from the source with ``ast``: imports only go down.

    paths, i18n, errors, system, stats  <  model  <  inference  <  lab  <  plots

The lab measures and ablates its runs with the inference layer's instruments
(diagnostics, ablation); inference never imports the lab. Nothing imports
streamlit; no import cycle, function-level imports included; a resnet module is imported
inside a function only where ``ALLOWED_LATE`` says why. Every import counts, those inside
functions and under ``if TYPE_CHECKING:`` too (the latter only for the direction of the
layers: they never run, so they cannot close a cycle).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "resnet"

LAYERS = {"paths": 0, "i18n": 0, "errors": 0, "system": 0, "stats": 0, "papers": 0, "model": 1, "inference": 2, "lab": 3, "plots": 4,
          "prepare": 5}  # prepare: getting ready for class, on top of model, inference and lab
# (importer, imported): why this resnet module is imported inside a function.
ALLOWED_LATE = {
    ("resnet.model", "resnet.model.network"): (
        "the package re-exports the network's names lazily (module __getattr__), so that"
        " resnet.model.preprocess and resnet.inference.images load without Paddle"
    ),
    ("resnet.lab.worker", "resnet.lab.train"): (
        "worker is imported by the app process (its pool spawns it), which never loads Paddle; only the worker process"
        " imports train, after setting OMP_NUM_THREADS, which Paddle reads when first imported"
    ),
    ("resnet.lab.cluster", "resnet.lab.train"): (
        "cluster runs in the app process, which never loads Paddle; only the Ray task on a"
        " worker imports train, after limiting its threads (Paddle reads them when first imported)"
    ),
    ("resnet.lab.__main__", "resnet.lab.train"): "CLI dispatch: only the chosen command is loaded",
    ("resnet.lab.__main__", "resnet.lab.presets"): "CLI dispatch: only the chosen command is loaded",
    ("resnet.lab.__main__", "resnet.lab.shipped"): "CLI dispatch: only the chosen command is loaded",
    ("resnet.lab.__main__", "resnet.lab.landscape"): "CLI dispatch: only the chosen command is loaded",
    ("resnet.lab.analyses.lesion", "resnet.lab.shipped"): (
        "an analysis module holds its client, which the server runs without Paddle, and its task"
        " target, which loads the computation in the task process only"
    ),
    ("resnet.lab.analyses.at_init", "resnet.inference.diagnostics"): (
        "an analysis module holds its client, which the server runs without Paddle, and its task"
        " target, which loads the computation in the task process only"
    ),
    ("resnet.lab.analyses.gradient_split", "resnet.inference.gradient_split"): (
        "an analysis module holds its client, which the server runs without Paddle, and its task"
        " target, which loads the computation in the task process only"
    ),
    ("resnet.lab.analyses.gradient_split", "resnet.model.weights"): (
        "an analysis module holds its client, which the server runs without Paddle, and its task"
        " target, which loads the computation in the task process only"
    ),
    ("resnet.lab.analyses.gradient_split", "resnet.lab.shipped"): (
        "an analysis module holds its client, which the server runs without Paddle, and its task"
        " target, which loads the computation in the task process only"
    ),
}

# Modules that must load without Paddle (the app process, the upload path, the figures
# that draw anatomy rows): checked on the source, then once for real.
PADDLE_FREE = (
    "resnet.paths", "resnet.errors", "resnet.i18n", "resnet.system", "resnet.model.spec", "resnet.model.plan", "resnet.model.rows", "resnet.model.preprocess",
    "resnet.inference.images",
    "resnet.plots.architecture", "resnet.plots.plan_table", "resnet.plots.variants", "resnet.lab.config", "resnet.lab.store", "resnet.lab.procs", "resnet.lab.queued", "resnet.lab.pools", "resnet.lab.worker", "resnet.lab.cluster", "resnet.lab.tasks", "resnet.lab.presets", "resnet.lab.seeds", "resnet.lab.claims", "resnet.lab.surfaces",
    "resnet.lab.analyses", "resnet.lab.analyses.lesion", "resnet.lab.analyses.at_init", "resnet.lab.analyses.signals", "resnet.inference.signals",
    "resnet.lab.analyses.gradient_split", "resnet.inference.gradient_record", "resnet.plots.gradient_split",  # the Why page's gradient split
    "resnet.lab.session", "resnet.plots.curves", "resnet.plots.landscape",  # the Training lab page's core (it builds no model)
    "resnet.prepare.background", "resnet.stats", "resnet.papers",
)


@dataclass(frozen=True)
class Import:
    importer: str  # "resnet.inference.cost"
    target: str  # a resnet module ("resnet.model.network") or what was imported ("paddle.nn")
    line: int
    function: str | None  # the enclosing function, None at module level
    type_only: bool  # under ``if TYPE_CHECKING:``


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


FILES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _package(module: str) -> str:
    """The package a relative import in ``module`` starts from."""
    return module if FILES[module].name == "__init__.py" else module.rpartition(".")[0]


def _resolve_relative(module: str, name: str, level: int) -> str:
    base = _package(module).split(".")
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str) -> None:
        self.module = module
        self.functions: list[str] = []
        self.type_only = 0
        self.found: list[Import] = []

    def _add(self, target: str, node: ast.AST) -> None:
        function = self.functions[-1] if self.functions else None
        self.found.append(Import(self.module, target, node.lineno, function, self.type_only > 0))

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.functions.append(node.name)
        self.generic_visit(node)
        self.functions.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        guarded = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        )
        self.type_only += guarded
        for child in node.body:
            self.visit(child)
        self.type_only -= guarded
        for child in node.orelse:
            self.visit(child)
        self.visit(node.test)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _resolve_relative(self.module, node.module or "", node.level) if node.level else node.module
        for alias in node.names:
            submodule = f"{base}.{alias.name}"  # ``from . import x`` / ``from pkg import module``
            self._add(submodule if submodule in FILES else base, node)

    def visit_Call(self, node: ast.Call) -> None:
        # importlib.import_module(".name", __name__): an import all the same
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "import_module" and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                name = first.value
                level = len(name) - len(name.lstrip("."))
                self._add(_resolve_relative(self.module, name.lstrip("."), level) if level else name, node)
        self.generic_visit(node)


def collect() -> list[Import]:
    found = []
    for module, path in FILES.items():
        collector = _Collector(module)
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        found += collector.found
    return found


IMPORTS = collect()
INTERNAL = [i for i in IMPORTS if i.target == "resnet" or i.target.startswith("resnet.")]


def layer(module: str) -> tuple[str, int]:
    """(subpackage, rank) of a resnet module; the bare package ``resnet`` is at the bottom."""
    parts = module.split(".")
    if len(parts) == 1:
        return "resnet", 0
    return parts[1], LAYERS[parts[1]]  # a new subpackage must be given its place here


def where(i: Import) -> str:
    return f"{FILES[i.importer].relative_to(ROOT)}:{i.line} ({i.function or 'module level'})"


def test_the_collector_sees_every_kind_of_import():
    # guards the test itself: relative, function-level, TYPE_CHECKING and importlib imports are found
    assert any(i.importer == "resnet.inference.cost" and i.target == "resnet.model.network" for i in INTERNAL)
    assert any(i.importer == "resnet.plots.curves" and i.target == "resnet.lab.session" and i.type_only
               for i in INTERNAL)
    assert any(i.importer == "resnet.model" and i.target == "resnet.model.network" and i.function == "__getattr__"
               for i in INTERNAL)
    assert {layer(m)[0] for m in FILES} <= set(LAYERS) | {"resnet"}


def test_imports_only_go_down():
    wrong = []
    for i in INTERNAL:
        (src, src_rank), (dst, dst_rank) = layer(i.importer), layer(i.target)
        if dst_rank > src_rank:
            wrong.append(f"{where(i)}: {src} imports {i.target}")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    graph: dict[str, set[str]] = {m: set() for m in FILES}
    for i in INTERNAL:
        if not i.type_only and i.target in graph and i.target != i.importer:
            graph[i.importer].add(i.target)
    cycles, state, stack = [], dict.fromkeys(graph, 0), []  # 0 new, 1 on the stack, 2 done

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph[module]):
            if state[target] == 1:
                cycles.append(" → ".join(stack[stack.index(target):] + [target]))
            elif state[target] == 0:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in graph:
        if state[module] == 0:
            visit(module)
    assert not cycles, "\n".join(cycles)


def test_resnet_modules_are_imported_inside_functions_only_where_allowed():
    late = [i for i in INTERNAL if i.function is not None]
    unexplained = [f"{where(i)}: {i.target}" for i in late if (i.importer, i.target) not in ALLOWED_LATE]
    assert not unexplained, "import these at the top of the module:\n" + "\n".join(unexplained)
    stale = set(ALLOWED_LATE) - {(i.importer, i.target) for i in late}
    assert not stale, f"allowed late imports that no longer exist: {sorted(stale)}"


def test_nothing_in_resnet_imports_streamlit():
    found = [f"{where(i)}: {i.target}" for i in IMPORTS if i.target.split(".")[0] == "streamlit"]
    assert not found, "\n".join(found)


def _loaded_at_import(module: str) -> set[str]:
    """Every resnet module that ``import module`` runs, by the module-level imports."""
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        parts = current.split(".")
        for name in [".".join(parts[:k]) for k in range(1, len(parts) + 1)]:  # parents' __init__ run first
            if name in FILES and name not in seen:
                seen.add(name)
                todo += [i.target for i in INTERNAL if i.importer == name and i.function is None and not i.type_only]
    return seen


@pytest.mark.parametrize("module", PADDLE_FREE)
def test_paddle_free_modules_load_nothing_that_imports_paddle(module):
    paddle_at_top = {i.importer for i in IMPORTS
                     if i.target.split(".")[0] == "paddle" and i.function is None and not i.type_only}
    assert not _loaded_at_import(module) & paddle_at_top


def test_paddle_free_modules_really_load_without_paddle():
    code = f"import sys; import {', '.join(PADDLE_FREE)}; print('paddle' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
