"""The package's structure: no import cycles, no module hidden by a function,
every public name exported, no docstring pointing outside the repository."""

import ast
import importlib
import inspect
import pathlib
import pkgutil

import rankbottleneck as rb

ROOT = pathlib.Path(rb.__file__).parent


def _modules():
    names = ["rankbottleneck"]
    for info in pkgutil.walk_packages([str(ROOT)], prefix="rankbottleneck."):
        if not info.name.endswith("__main__"):      # importing it runs the CLI
            names.append(info.name)
    return names


def _module_level_imports(name, anywhere=False):
    """Package modules imported at module level (with `anywhere`, inside
    functions too)."""
    module = importlib.import_module(name)
    tree = ast.parse(pathlib.Path(module.__file__).read_text())
    package = name if module.__file__.endswith("__init__.py") else name.rpartition(".")[0]
    found = set()
    for node in (ast.walk(tree) if anywhere else tree.body):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = f"{base}.{node.module}" if node.module else base
            found.add(target)
            if node.module is None:
                found.update(f"{base}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("rankbottleneck"))
    return {f for f in found if f in MODULES and f != name}


MODULES = set(_modules())


def test_no_import_cycles():
    # lazy imports inside functions count too: a cycle through one is still a
    # cycle between the modules' concepts
    graph = {name: _module_level_imports(name, anywhere=True) for name in MODULES}
    # a package's __init__ may import its own submodules; cycles elsewhere not
    state = {}

    def visit(node, path):
        if state.get(node) == "done":
            return
        assert state.get(node) != "open", f"import cycle: {' -> '.join(path + [node])}"
        state[node] = "open"
        for child in graph[node]:
            if child.startswith(node + "."):
                continue
            visit(child, path + [node])
        state[node] = "done"

    for name in sorted(graph):
        visit(name, [])


def _spectra_modules():
    return {m for m in MODULES if m.partition(".spectra")[1]}


def test_rank_and_spectra_do_not_import_each_other_both_ways():
    # the engine (rankbottleneck.spectra and its modules) is asked by rank,
    # never the other way round
    assert _module_level_imports("rankbottleneck.rank") & _spectra_modules()
    for name in _spectra_modules():
        assert "rankbottleneck.rank" not in _module_level_imports(name, anywhere=True), name


ENGINE_USERS = ("rankbottleneck.rank", "rankbottleneck.reports", "rankbottleneck.cluster",
                "rankbottleneck.layers", "rankbottleneck.output_set",
                "rankbottleneck.outputlayer")


def test_the_engine_and_its_users_import_no_private_name_of_a_public_module():
    # shared private helpers live in private modules (rankbottleneck._lapack,
    # rankbottleneck.spectra._sources, ...), never in a public one
    for name in sorted(_spectra_modules()) + list(ENGINE_USERS):
        module = importlib.import_module(name)
        tree = ast.parse(pathlib.Path(module.__file__).read_text())
        package = name if module.__file__.endswith("__init__.py") else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and node.level and node.module):
                continue
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = f"{base}.{node.module}"
            if any(part.startswith("_") for part in target.split(".")):
                continue
            private = [a.name for a in node.names if a.name.startswith("_")]
            assert not private, f"{name} imports {private} from {target}"


def test_no_module_is_shadowed_by_a_function():
    for name in MODULES:
        parent, _, leaf = name.rpartition(".")
        if not parent:
            continue
        attr = getattr(importlib.import_module(parent), leaf, None)
        assert attr is None or inspect.ismodule(attr), (
            f"{parent}.{leaf} is a {type(attr).__name__}, hiding the module {name}")


def test_public_api_is_exported_and_exists():
    for name in rb.__all__:
        assert hasattr(rb, name), name
    for name in MODULES:
        module = importlib.import_module(name)
        for exported in getattr(module, "__all__", []):
            assert hasattr(module, exported), f"{name}.{exported}"


def test_docstrings_do_not_point_outside_the_repository():
    for path in ROOT.rglob("*.py"):
        text = path.read_text()
        assert "shared/reference" not in text and "../shared" not in text, path


def test_results_draw_on_a_given_axis():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rankbottleneck.synthetic import contexts_and_words, dirichlet_target

    H, W, _ = contexts_and_words(60, 40, 4, seed=0)
    W[-1] = W[:3].mean(axis=0)
    layer = rb.PointwiseLayer(W)
    results = [rb.argmaxable(W), rb.spectrum(layer, H, method="gram"),
               rb.estimate_hidden_size(layer.log_prob_matrix(H)),
               rb.output_set_dimension(layer, 30, seed=0),
               rb.fit_log_probs(dirichlet_target(10, 8, seed=0), d=2, max_iter=5),
               rb.rank_report(layer.log_prob_matrix(H), d=4)]
    for result in results:
        fig, ax = plt.subplots()
        assert result.plot(ax=ax) is ax
        assert ax.lines or ax.patches, type(result).__name__
        plt.close(fig)
