"""The package's architecture holds: imports point downward only, the code map names every
module, and a run written before the move to subpackages still loads, evaluates and resumes."""

import ast
import re
import shutil
from pathlib import Path

import landers

PACKAGE = Path(landers.__file__).resolve().parent
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "run-v0.1"
ROOT = Path(__file__).resolve().parent.parent

# Bottom to top; a module may import its own room and the rooms before it.
LAYERS = ["version", "errors", "envs", "policy", "export", "core", "algos", "see", "run", "scale", "share", "cli"]


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "landers"


def landers_imports(path: Path) -> set[str]:
    """Every landers module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "landers":
            if node.module == "landers":  # `from landers import x`: x is a room or a top-level name
                found |= {f"landers.{a.name}" for a in node.names}
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "landers"}
    return found


def test_every_import_points_down():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        mod = ".".join(rel.parts).removesuffix(".__init__")
        src = room(mod)
        if src in ("landers", "__main__"):  # the public API and `python -m landers` sit on top
            continue
        for target in landers_imports(path):
            dst = room(target)
            assert dst in LAYERS, f"{mod} imports {target}, which is in no room of LAYERS"
            if LAYERS.index(dst) > LAYERS.index(src):
                upward.append(f"{mod} -> {target}")
    assert not upward, "imports pointing up: " + ", ".join(sorted(upward))


def test_every_room_says_what_it_holds_and_may_import():
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and "import" in doc.split("\n\n")[0].lower(), f"{init} lacks its two-line docstring"


def code_map() -> str:
    """The code map: the README's section, or the development page's where the docs keep it."""
    for page in (ROOT / "README.md", ROOT / "docs" / "development.md"):
        found = page.exists() and re.search(r"^#+ Code map\n(.*?)(?=^#|\Z)", page.read_text(), re.S | re.M)
        if found:
            return found.group(1)
    raise AssertionError("no '## Code map' section in README.md or docs/development.md")


def test_the_code_map_names_every_room_and_module():
    text = code_map()
    rooms = sorted({p.parent.name for p in PACKAGE.glob("*/__init__.py")})
    missing = [f"{r}/" for r in rooms if f"{r}/" not in text]
    missing += [str(p.relative_to(PACKAGE)) for p in sorted(PACKAGE.rglob("*.py"))
                if p.name not in ("__init__.py", "__main__.py") and p.name not in text]
    assert not missing, "the code map does not name: " + ", ".join(missing)


def test_a_run_written_by_landers_0_1_loads_evaluates_and_resumes(tmp_path):
    agent = landers.load(FIXTURE)
    assert agent.env_id == "CartPole-v1"
    assert landers.evaluate(agent, episodes=2, backend="gymnasium").returns
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURE, run_dir)
    from landers.run.rundir import resume

    run = resume(run_dir, steps=512, quiet=True)
    assert run.global_step >= 512
    assert (run_dir / "eval.json").exists()


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(rel.parts).removesuffix(".__init__")


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported_names(path: Path, module: str) -> list[tuple[str, str | None]]:
    """(landers module, name or None) for every import in `path`, at any level: `from a.b import c`
    is (a.b.c, None) when c is a module, else (a.b, "c"); relative imports are resolved."""
    found = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names if a.name.split(".")[0] == "landers"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "landers":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub, None) if sub in MODULES else (base, alias.name))
    return found


def import_graph() -> dict[str, set[str]]:
    return {mod: {target for target, _ in imported_names(path, mod) if target in MODULES and target != mod}
            for mod, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_circle_and_passes_a_tree():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_no_import_circle_between_modules_function_level_imports_included():
    found = cycles(import_graph())
    assert not found, "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_no_private_name_is_imported_from_another_module():
    private = [f"{mod} imports {name} from {target}"
               for mod, path in MODULES.items() for target, name in imported_names(path, mod)
               if name and name.startswith("_") and not (name.startswith("__") and name.endswith("__"))
               and target != mod]
    private += [f"{mod} imports the private module {target}"
                for mod, path in MODULES.items() for target, _ in imported_names(path, mod)
                if any(p.startswith("_") and not p.startswith("__") for p in target.split("."))]
    assert not private, "; ".join(sorted(private))


def test_no_module_imports_the_package_face():
    """`landers/__init__.py` is the public API on top of everything: nothing inside imports it."""
    face = sorted(mod for mod, path in MODULES.items() if mod not in ("landers", "landers.__main__")
                  for target, _ in imported_names(path, mod) if target == "landers")
    assert not face, f"modules importing landers/__init__.py: {', '.join(face)}"


# Modules past this size say why in docs/development.md; each exception is named here.
MAX_LINES = 400
LONG_MODULES = {"landers/cli.py": 800, "landers/policy/networks.py": 450}


def test_no_module_is_longer_than_its_room_allows():
    too_long = {}
    for path in sorted((ROOT / "src").rglob("*.py")):
        name = path.relative_to(ROOT / "src").as_posix()
        lines = len(path.read_text().splitlines())
        if lines > LONG_MODULES.get(name, MAX_LINES):
            too_long[name] = lines
    assert not too_long, f"modules over their size (split them or say why in docs/development.md): {too_long}"
