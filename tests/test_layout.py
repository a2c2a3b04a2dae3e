"""The package's layout (docs/architecture.md): no import cycle, and no module imports one above it.

Every import in the package is read from the source (module level and inside functions alike),
so a lazy import that would close a cycle counts too.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "xlogreg"

#: Bottom to top (docs/architecture.md). A module may import modules of its own level or below.
LEVELS = [
    ["_version", "_namespace", "_backends", "_machine", "_warnings"],
    ["_validation"],
    ["data", "io"],
    ["penalties", "_loss"],
    ["solvers"],
    ["core", "training"],
    ["datasets", "model_io", "plotting"],  # the first published module names; learning curves
    ["estimator", "estimator_cv", "cli", "__main__", ""],  # "" is the package itself (xlogreg/__init__.py)
]


def _modules():
    """``{dotted name below xlogreg: path}`` for every module of the package."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(name, path, modules):
    """The package's modules that `name` imports (relative and absolute imports alike)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    if name == "":
        package = []
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == "xlogreg" or node.module.startswith("xlogreg.")):
                stem = node.module[len("xlogreg."):] if node.module != "xlogreg" else ""
            else:
                continue
            named = [f"{stem}.{a.name}".lstrip(".") for a in node.names if f"{stem}.{a.name}".lstrip(".") in modules]
            targets.update(named or ([stem] if stem in modules else []))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("xlogreg."):
                    targets.add(alias.name[len("xlogreg."):])
    # a package may import its own submodules (its public names)
    return {t for t in targets if t != name and not (t.startswith(name + ".") if name else False)}


def _level(name):
    top = name.split(".")[0]
    for i, names in enumerate(LEVELS):
        if top in names:
            return i
    raise AssertionError(f"xlogreg.{name} has no level in tests/test_layout.py (and docs/architecture.md)")


def test_every_module_has_a_level():
    for name in _modules():
        _level(name)


def test_no_module_imports_one_above_it():
    modules = _modules()
    upward = [(f"xlogreg.{name}", f"xlogreg.{target}")
              for name, path in modules.items() for target in _imports(name, path, modules)
              if _level(target) > _level(name)]
    assert upward == []


def test_no_import_cycles():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    state, stack, cycles = {}, [], []

    def visit(name):
        state[name] = "open"
        stack.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert cycles == []


@pytest.mark.parametrize("module", ["solvers/newton.py", "solvers/gd.py", "io/datasets.py"])
def test_the_checks_can_fail(module, tmp_path, monkeypatch):
    """A lazy import of the top-level package from deep inside is caught as upward (and as a cycle)."""
    modules = _modules()
    name = module[:-3].replace("/", ".")
    fake = tmp_path / "fake.py"
    fake.write_text(modules[name].read_text() + "\n\ndef _late():\n    from xlogreg import estimator\n")
    assert "estimator" in _imports(name, fake, modules)
    assert _level("estimator") > _level(name)


def test_the_largest_module_holds_one_idea():
    """No module back at the size of the old solvers.py (1,061 lines) or model_io.py (1,009)."""
    sizes = {name: len(path.read_text().splitlines()) for name, path in _modules().items()}
    assert max(sizes.values()) < 900, sorted(sizes.items(), key=lambda item: -item[1])[:3]


def test_every_package_is_installed():
    """pyproject.toml lists each package folder (setuptools installs only those named)."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {".".join(("xlogreg",) + p.parent.relative_to(PACKAGE).parts) for p in PACKAGE.rglob("__init__.py")}
    assert folders == listed
