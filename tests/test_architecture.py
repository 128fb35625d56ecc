"""The package's layers, read from its import graph: no cycle, and no import that points upward.

The layers, bottom to top: ``core`` -> ``reference`` -> ``pymc`` -> ``workflows`` -> ``viz``,
then the front doors (``pplmle/__init__.py``, ``cli.py``, and the public module names
``plots``, ``losses``, ``diagnostics`` and ``datasets``, which re-export a layer's functions).
A module may import its own layer and the layers below.  Every import counts, at module level
or inside a function; only imports under ``if TYPE_CHECKING:`` (annotations, never executed)
are left out, and the *forwarding methods* listed in :data:`FORWARDERS`.

A forwarding method is a result's convenience spelling of a higher layer's public function
(``surface.plot()`` for ``pl.plots.surface_plot(surface)``, as pandas' ``DataFrame.plot``): its
body is one import and ``return function(self, ...)``, nothing else, so the lower layer never
computes with what it imports.  The test checks that shape, and that the list is exactly the
methods that have it, so a new one is a deliberate change here.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

import pplmle as pl

PACKAGE = pathlib.Path(pl.__file__).parent
LAYERS = ("core", "reference", "pymc", "workflows", "viz")
TOP = len(LAYERS)
FRONT_DOORS = {f"pplmle{m}" for m in ("", ".cli", ".plots", ".losses", ".diagnostics", ".datasets")}

#: (module, class, method) -> the public function it forwards to.
FORWARDERS = {
    ("pplmle.core.result", "MLEResult", "to_inference_data"): "pplmle.workflows.bayes.result_inference_data",
    ("pplmle.core.result", "MLEResult", "bootstrap"): "pplmle.workflows.simulation.bootstrap",
    ("pplmle.workflows.bayes", "BayesVsMLE", "plot"): "pplmle.viz.plots.posterior_vs_likelihood",
    ("pplmle.workflows.simulation", "SimulationResult", "plot"): "pplmle.viz.plots.sampling_distribution",
    ("pplmle.workflows.surfaces", "LikelihoodSurface", "plot"): "pplmle.viz.plots.surface_plot",
}


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else TOP


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _forwarded(method: ast.FunctionDef) -> str | None:
    """The function a forwarding method forwards to, or None when `method` is not one."""
    body = method.body[1:] if ast.get_docstring(method) is not None else method.body
    if len(body) != 2 or not isinstance(body[0], ast.ImportFrom) or not isinstance(body[1], ast.Return):
        return None
    (alias,) = body[0].names
    call = body[1].value
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == alias.name):
        return None
    if not (call.args and isinstance(call.args[0], ast.Name) and call.args[0].id == "self"):
        return None
    return f"{body[0].module}.{alias.name}"


def _forwarders(tree: ast.Module, module: str) -> dict[tuple[str, str, str], str]:
    return {
        (module, cls.name, fn.name): target
        for cls in tree.body
        if isinstance(cls, ast.ClassDef)
        for fn in cls.body
        if isinstance(fn, ast.FunctionDef) and (target := _forwarded(fn)) is not None
    }


def _imports(tree: ast.AST, modules: set[str]) -> list[tuple[str, int]]:
    """(imported pplmle module, line) for every executed import in `tree`, forwarders aside."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef) and _forwarded(node) is not None:
            return
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "pplmle")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pplmle":
            assert node.level == 0, "imports are absolute"
            for alias in node.names:  # `from pplmle.core import values` imports a module
                sub = f"{node.module}.{alias.name}"
                found.append((sub if sub in modules else node.module, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _graph() -> dict[str, list[tuple[str, int]]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    return {_module_name(p): _imports(ast.parse(p.read_text()), modules) for p in paths}


GRAPH = _graph()


def test_the_forwarding_methods_are_exactly_the_listed_ones():
    found: dict[tuple[str, str, str], str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        found |= _forwarders(ast.parse(path.read_text()), _module_name(path))
    upward = {key: target for key, target in found.items() if _layer(target) > _layer(key[0])}
    assert upward == FORWARDERS


def test_every_module_sits_in_a_layer_folder():
    loose = sorted(m for m in GRAPH if _layer(m) == TOP and m not in FRONT_DOORS)
    assert loose == [], "modules outside the layer folders: " + ", ".join(loose)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_upward_import(module):
    upward = [
        f"line {line}: {target} ({LAYERS[_layer(target)] if _layer(target) < TOP else 'front door'})"
        for target, line in GRAPH[module]
        if _layer(target) > _layer(module)
    ]
    assert upward == [], (
        f"{module} ({LAYERS[_layer(module)] if _layer(module) < TOP else 'top'}) imports upward:\n"
        + "\n".join(upward)
    )


def test_no_import_cycle():
    edges = {
        m: {t for t, _ in targets if t in GRAPH and t != m and not m.startswith(t + ".")}
        for m, targets in GRAPH.items()
    }
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                return [*path[path.index(t) :], t]
            if t not in state and (cycle := visit(t)):
                return cycle
        state[m] = 2
        path.pop()
        return None

    for m in sorted(edges):
        if m not in state and (cycle := visit(m)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_the_reference_and_core_layers_never_import_pymc():
    for module, path in ((_module_name(p), p) for p in sorted(PACKAGE.rglob("*.py"))):
        if _layer(module) > LAYERS.index("reference"):
            continue
        tree = ast.parse(path.read_text())
        heavy = [
            (n.lineno, a.name)
            for n in ast.walk(tree)
            if isinstance(n, (ast.Import, ast.ImportFrom))
            for a in (n.names if isinstance(n, ast.Import) else [ast.alias(n.module or "")])
            if a.name.split(".")[0] in ("pymc", "pytensor")
        ]
        assert heavy == [], f"{module} imports {heavy}"


def test_viz_only_draws():
    """Computing and drawing are separate: the figures import no numerical library beyond NumPy, no
    private name of a lower layer, and never evaluate a likelihood themselves."""
    for path in sorted((PACKAGE / "viz").rglob("*.py")):
        tree = ast.parse(path.read_text())
        imported = [
            (n.lineno, name)
            for n in ast.walk(tree)
            if isinstance(n, (ast.Import, ast.ImportFrom))
            for name in (
                [a.name for a in n.names]
                if isinstance(n, ast.Import)
                else [f"{n.module}.{a.name}" for a in n.names]
            )
        ]
        numeric = [
            (line, name)
            for line, name in imported
            if name.split(".")[0] in ("scipy", "arviz", "pymc", "pytensor")
        ]
        private = [
            (line, name)
            for line, name in imported
            if name.startswith("pplmle.") and name.rsplit(".", 1)[1].startswith("_")
        ]
        calls = [
            (n.lineno, n.attr)
            for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and n.attr in ("nllf", "context", "Profiler", "logpdf")
        ]
        where = path.relative_to(PACKAGE.parent)
        assert numeric == [], f"{where} imports numerical libraries: {numeric}"
        assert private == [], f"{where} imports private names of lower layers: {private}"
        assert calls == [], f"{where} evaluates likelihoods or densities itself: {calls}"


def test_test_modules_have_unique_basenames():
    # the test folders are not packages, so pytest imports each test module by its basename: two
    # files with one name in different folders fail to collect ("import file mismatch")
    tests = pathlib.Path(__file__).parent
    names: dict[str, list[str]] = {}
    for f in tests.rglob("test_*.py"):
        if not (f.parent / "__init__.py").exists():
            names.setdefault(f.name, []).append(str(f.relative_to(tests)))
    assert {n: p for n, p in names.items() if len(p) > 1} == {}
