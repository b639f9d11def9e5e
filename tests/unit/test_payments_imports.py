"""hospital.payments imports downwards only: no cycle among its modules, counting imports made
inside functions (a deferred import hides a cycle, it does not remove it), and no module
reaches for another's private name. Read from the source, nothing imported."""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2] / "layers/common/python"
PACKAGE = "hospital.payments"


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in (ROOT / PACKAGE.replace(".", "/")).rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = ast.parse(path.read_text())
    return found


def imports(tree: ast.Module, known: set[str]):
    """(module of the package, name imported from it or None) for every import in the tree."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                yield (submodule, None) if submodule in known else (node.module, alias.name)


def graph() -> tuple[dict[str, set[str]], list[str]]:
    found = modules()
    edges: dict[str, set[str]] = {name: set() for name in found}
    private = []
    for name, tree in found.items():
        for target, imported in imports(tree, set(found)):
            if target != name:
                edges[name].add(target)
                if imported and imported.startswith("_"):
                    private.append(f"{name} imports {target}.{imported}")
    return edges, private


def test_the_payments_package_has_no_import_cycle():
    edges, _ = graph()
    done, path = set(), []

    def visit(module):
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(module):], module]))
        if module in done:
            return
        path.append(module)
        for target in sorted(edges.get(module, ())):
            visit(target)
        path.pop()
        done.add(module)

    assert len(edges) > 20  # the scan found the package
    for module in sorted(edges):
        visit(module)


def test_no_payments_module_imports_a_private_name_of_another():
    assert graph()[1] == []
