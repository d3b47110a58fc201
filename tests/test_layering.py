"""The package's layering rules, checked on the source with the standard library's `ast`.

Rooms: each top-level package folder (domains, generators, filters, training, warehouse, loop,
flows) is one room; each module directly in synthloop/ (cli, cli_data, errors, __init__,
__main__, and the configs data package) is a room of its own, because the root package holds
both the CLI (the top) and the error base class (the bottom).

1. Imports between rooms follow ALLOWED, and no two rooms import each other, directly or through
   others. Every import counts: module-level, function-local, relative ones (resolved) and
   `if TYPE_CHECKING:` ones too (a type-only import still says which room knows about which).
   Dynamic imports (`importlib.import_module("...")`) are not seen.
2. No module imports another module's private name (`from m import _x`, `from .m import _x`,
   `import m._x`, or `m._x` where m is bound to a package module); dunders are not private.
3. SQL statements (upper-case keywords: SELECT ... FROM, INSERT INTO, DELETE FROM, UPDATE ... SET,
   CREATE/DROP TABLE/VIEW/INDEX) live in warehouse/ and filters/dedup_duckdb.py, which dedups
   with DuckDB. String literals and f-strings count; docstrings do not (they document).
4. Importing a module has no global side effect: no call statement at module level, nor in a
   module-level if/try/with/for/while block, except under `if __name__ == "__main__":` and in
   __main__.py. Module-level assignments (`LOG = logging.getLogger(...)`) are fine.
5. Nothing cites a file outside the repository (the shared folder next to it): not in the package
   folders, benchmarks/, tests/, docs/, README.md, Makefile or pyproject.toml.

Tests and benchmarks are exempt from 1-4 (only the package folders are scanned); 5 scans them too.
"""

from __future__ import annotations

import ast
import re
import tomllib
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = "synthloop"
# Top-level folders imported as synthloop.<folder> (pyproject's package-dir). `loop` may not
# exist yet: a missing folder is skipped.
FOLDERS = ("domains", "generators", "filters", "training", "warehouse", "loop", "flows")

BOTTOM = {"synthloop.__init__", "synthloop.errors"}
LOWER = {"domains", "generators", "training", "filters", "warehouse", "synthloop.configs"}

# room -> the rooms it may import. Reading it bottom-up: the root package and its error base
# class; domains; generators (sampling backends) over domains; training (fine-tuning,
# evaluation, the built-in model) over generators; filters and warehouse over domains; loop over
# all of those; flows over loop; the CLI over everything.
ALLOWED: dict[str, set[str]] = {
    "synthloop.__init__": set(),
    "synthloop.errors": {"synthloop.__init__"},
    "synthloop.configs": {"synthloop.__init__"},  # YAML files, read with importlib.resources
    "domains": BOTTOM,
    "generators": {"domains"} | BOTTOM,
    "training": {"generators", "domains"} | BOTTOM,
    "filters": {"domains"} | BOTTOM,
    "warehouse": {"domains"} | BOTTOM,
    "loop": LOWER | BOTTOM,
    "flows": {"loop"} | LOWER | BOTTOM,
    "synthloop.cli_data": {"flows", "loop"} | LOWER | BOTTOM,
    "synthloop.cli": {"synthloop.cli_data", "flows", "loop"} | LOWER | BOTTOM,
    "synthloop.__main__": {"synthloop.cli", "synthloop.cli_data", "flows", "loop"} | LOWER | BOTTOM,
}

# Where SQL statements may be written.
SQL_HOMES = ("warehouse/", "filters/dedup_duckdb.py")
SQL_RE = re.compile(
    r"\bSELECT\b[\s\S]*?\bFROM\b"
    r"|\bINSERT\s+(?:OR\s+\w+\s+)?INTO\b"
    r"|\bDELETE\s+FROM\b"
    r"|\bUPDATE\s+\S+\s+SET\b"
    r"|\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?(?:UNIQUE\s+)?(?:TABLE|VIEW|INDEX)\b"
    r"|\bDROP\s+(?:TABLE|VIEW|INDEX)\b"
)

# Written in two pieces so that this file does not cite it itself.
OUTSIDE = ".." + "/shared"
OUTSIDE_SCAN = ("benchmarks", "tests", "docs", "README.md", "Makefile", "pyproject.toml")
TEXT_SUFFIXES = {".py", ".md", ".txt", ".toml", ".yaml", ".yml", ".sh", ".cfg", ".ini", ".json",
                 ".html", ".csv", ".jsonl", ""}


# ---------------------------------------------------------------------------------------------
# The package's modules


@cache
def modules() -> tuple[tuple[str, Path, ast.Module], ...]:
    """(dotted name, path, tree) of every module in the package folders."""
    out = []
    for top in (PKG, *FOLDERS):
        base = ROOT / top
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            rel = path.relative_to(base).with_suffix("").parts
            parts = (PKG,) if top == PKG else (PKG, top)
            parts += rel[:-1] if rel[-1] == "__init__" else rel
            out.append((".".join(parts), path, ast.parse(path.read_text(), str(path))))
    return tuple(out)


@cache
def module_names() -> frozenset[str]:
    return frozenset(name for name, _, _ in modules())


def room(module: str) -> str | None:
    """The room of a dotted module name inside the package; None for anything outside it."""
    parts = module.split(".")
    if parts[0] != PKG:
        return None
    if len(parts) == 1:
        return "synthloop.__init__"
    return parts[1] if parts[1] in FOLDERS else f"{PKG}.{parts[1]}"


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def imported(name: str, path: Path, tree: ast.Module) -> list[tuple[int, str, str | None]]:
    """(line, module, imported name or None) for every import of a package module in `tree`.

    `from a import b` gives module `a.b` when that is a module of the package, else `a` with
    name `b`. Relative imports are resolved against the importing module's package.
    """
    pkg = name if is_package(path) else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, None) for a in node.names if room(a.name)]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not room(mod):
                continue
            for a in node.names:
                sub = f"{mod}.{a.name}"
                out.append((node.lineno, sub, None) if sub in module_names()
                           else (node.lineno, mod, a.name))
    return out


def _fail(what: str, problems: list[str]) -> None:
    assert not problems, f"{len(problems)} {what}:\n" + "\n".join(sorted(problems))


# ---------------------------------------------------------------------------------------------
# 1. rooms


@cache
def room_edges() -> dict[tuple[str, str], list[str]]:
    """(importer room, imported room) -> ['file:line: import x', ...]."""
    edges: dict[tuple[str, str], list[str]] = {}
    for name, path, tree in modules():
        src = room(name)
        for line, mod, _ in imported(name, path, tree):
            dst = room(mod)
            if dst != src:
                edges.setdefault((src, dst), []).append(f"{rel(path)}:{line}: imports {mod}")
    return edges


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_allowed_table_is_a_layering():
    """ALLOWED itself has no cycle and names only known rooms."""
    known = set(ALLOWED)
    assert all(deps <= known for deps in ALLOWED.values()), "ALLOWED names a room it lacks"
    assert not cycles(ALLOWED), f"ALLOWED has a cycle: {cycles(ALLOWED)}"


def test_every_package_folder_is_a_room():
    """A folder pyproject.toml packages (or a module in synthloop/) is scanned and in ALLOWED."""
    dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    missing = sorted(d for d in dirs.values() if d != PKG and d not in FOLDERS)
    assert not missing, f"package folders missing from FOLDERS (and ALLOWED): {missing}"
    rooms = {room(name) for name, _, _ in modules()}
    assert rooms <= set(ALLOWED), f"rooms missing from ALLOWED: {sorted(rooms - set(ALLOWED))}"


def test_no_import_cycle_between_rooms():
    edges = room_edges()
    graph: dict[str, set[str]] = {}
    for src, dst in edges:
        graph.setdefault(src, set()).add(dst)
    problems = []
    for comp in cycles(graph):
        where = [
            f"    {src} -> {dst}: {site}"
            for (src, dst), sites in sorted(edges.items())
            if src in comp and dst in comp
            for site in sites
        ]
        problems.append(f"cycle between {', '.join(comp)}:\n" + "\n".join(where))
    _fail("import cycles between rooms", problems)


def test_imports_follow_the_declared_order():
    problems = []
    for (src, dst), sites in room_edges().items():
        if src not in ALLOWED:
            problems += [f"{s} (room {src} is not in ALLOWED)" for s in sites]
        elif dst not in ALLOWED[src]:
            problems += [f"{s} ({src} may not import {dst})" for s in sites]
    _fail("imports against the declared order", problems)


# ---------------------------------------------------------------------------------------------
# 2. private names


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def dotted(node: ast.expr) -> str | None:
    """`a.b.c` for a chain of attributes on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def private_uses(name: str, path: Path, tree: ast.Module) -> list[str]:
    """`from m import _x`, `import m._x` and `m._x` (m bound to a package module) in `tree`."""
    problems = []
    aliases: dict[str, str] = {}  # local name -> the package module it is bound to
    for line, mod, what in imported(name, path, tree):
        if what is not None and private(what):
            problems.append(f"{rel(path)}:{line}: imports {what} from {mod}")
        elif what is None and private(mod.rpartition(".")[2]) and mod != name:
            problems.append(f"{rel(path)}:{line}: imports the private module {mod}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if room(a.name):
                    local = a.asname or a.name.partition(".")[0]
                    aliases[local] = a.name if a.asname else local
        elif isinstance(node, ast.ImportFrom):
            for _, mod, what in imported(name, path, ast.Module([node], [])):
                if what is None:
                    local = next(a.asname or a.name for a in node.names if mod.endswith("." + a.name))
                    aliases[local] = mod
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and private(node.attr)):
            continue
        chain = dotted(node.value)
        head, _, tail = (chain or "").partition(".")
        if head not in aliases:
            continue
        target = aliases[head] + (f".{tail}" if tail else "")
        if target in module_names() and target != name:
            problems.append(f"{rel(path)}:{node.lineno}: uses {target}.{node.attr}")
    return problems


def test_no_private_names_from_other_modules():
    problems = [p for name, path, tree in modules() for p in private_uses(name, path, tree)]
    _fail("uses of another module's private name", problems)


# ---------------------------------------------------------------------------------------------
# 3. SQL


def strings(tree: ast.Module):
    """(line, text) of every string literal that is not a docstring; f-strings as one text."""
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docs.add(id(body[0].value))
    inside_f = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            inside_f.update(id(v) for v in node.values)
            yield node.lineno, text
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and id(node) not in docs and id(node) not in inside_f):
            yield node.lineno, node.value


def test_sql_only_in_the_warehouse():
    problems = []
    for _, path, tree in modules():
        where = rel(path)
        if where.startswith(SQL_HOMES):
            continue
        for line, text in strings(tree):
            m = SQL_RE.search(text)
            if m:
                problems.append(f"{where}:{line}: SQL {' '.join(m.group().split())[:60]!r}")
    _fail("SQL statements outside warehouse/", problems)


# ---------------------------------------------------------------------------------------------
# 4. side effects on import


def is_main_guard(node: ast.stmt) -> bool:
    """`if __name__ == "__main__":`"""
    t = node.test if isinstance(node, ast.If) else None
    return (isinstance(t, ast.Compare) and isinstance(t.left, ast.Name)
            and t.left.id == "__name__" and len(t.comparators) == 1
            and isinstance(t.comparators[0], ast.Constant) and t.comparators[0].value == "__main__")


def module_level_calls(body: list[ast.stmt]):
    """Call statements run on import: at module level, inside if/try/with/for blocks too."""
    for node in body:
        if isinstance(node, ast.Expr) and isinstance(node.value, (ast.Call, ast.Await)):
            yield node
        elif isinstance(node, ast.If):
            if not is_main_guard(node):
                yield from module_level_calls(node.body)
                yield from module_level_calls(node.orelse)
        elif isinstance(node, (ast.Try, ast.TryStar)):
            for block in (node.body, node.orelse, node.finalbody,
                          *(h.body for h in node.handlers)):
                yield from module_level_calls(block)
        elif isinstance(node, (ast.With, ast.For, ast.While)):
            yield from module_level_calls(node.body)
            yield from module_level_calls(getattr(node, "orelse", []))


# Calls that only add to the module's own objects, as decorators do: cli.py adds the data commands
# (cli_data.register) to its own Typer app, like its `@app.command()` functions.
OWN_OBJECTS = {("synthloop/cli.py", "_register_data_commands(app)")}


def test_no_side_effects_on_import():
    problems = []
    for _, path, tree in modules():
        if path.name == "__main__.py":
            continue
        for node in module_level_calls(tree.body):
            if (rel(path), ast.unparse(node)) in OWN_OBJECTS:
                continue
            problems.append(f"{rel(path)}:{node.lineno}: {ast.unparse(node)[:80]}")
    _fail("module-level calls (global side effects on import)", problems)


# ---------------------------------------------------------------------------------------------
# 5. citations of files outside the repository


def test_nothing_cites_files_outside_the_repository():
    paths: list[Path] = []
    for top in (PKG, *FOLDERS, *OUTSIDE_SCAN):
        p = ROOT / top
        if p.is_file():
            paths.append(p)
        elif p.is_dir():
            paths += [f for f in p.rglob("*") if f.is_file() and "__pycache__" not in f.parts
                      and f.suffix in TEXT_SUFFIXES]
    problems = []
    for p in sorted(paths):
        text = p.read_text(errors="replace")
        if OUTSIDE not in text:
            continue
        for i, line in enumerate(text.splitlines(), 1):
            if OUTSIDE in line:
                problems.append(f"{rel(p)}:{i}: {line.strip()[:80]}")
    _fail(f"citations of {OUTSIDE} (a file outside the repository)", problems)
