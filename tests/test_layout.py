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
LAYERS = ["errors", "envs", "policy", "core", "algos", "see", "run", "scale", "share", "cli"]


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
            if dst == "__version__":
                continue
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
