"""Imports flow one way (DESIGN.md): modeling -> inference -> automatic -> engine; inference -> video;
modeling + data -> training; modeling -> export; inference + export -> accel (load_model's CPU paths);
inference + export -> serve -> engine (the engine uses the
others, its browser modes mount on the annotator's app); inference + automatic + video -> integrations;
everything -> cli. Importing samkit does no work."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "src" / "samkit"

# subpackage -> samkit subpackages it must never import
FORBIDDEN = {
    "modeling": {"inference", "automatic", "data", "training", "evaluation", "export", "serve", "engine", "integrations", "accel", "cli"},
    "inference": {"automatic", "data", "training", "evaluation", "export", "serve", "engine", "integrations", "accel", "cli"},
    "automatic": {"data", "training", "evaluation", "export", "serve", "engine", "integrations", "accel", "cli"},
    "data": {"inference", "automatic", "training", "evaluation", "export", "serve", "engine", "integrations", "accel", "cli"},
    "training": {"automatic", "evaluation", "export", "serve", "engine", "integrations", "accel", "cli"},
    "export": {"automatic", "data", "training", "evaluation", "serve", "engine", "integrations", "accel", "cli"},
    "evaluation": {"training", "serve", "engine", "integrations", "accel", "cli"},
    "serve": {"training", "evaluation", "engine", "integrations", "cli"},
    "engine": {"integrations", "cli"},
    "integrations": {"training", "evaluation", "engine", "cli"},
    "accel": {"automatic", "data", "training", "evaluation", "serve", "engine", "integrations", "cli"},
    "video": {"automatic", "data", "training", "evaluation", "export", "serve", "engine", "integrations", "accel", "cli"},
}


def _samkit_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for n in names:
            parts = n.split(".")
            if parts[0] == "samkit" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_imports_flow_one_way():
    problems = []
    for sub, banned in FORBIDDEN.items():
        for py in (PKG / sub).rglob("*.py"):
            bad = _samkit_imports(py) & banned
            if bad:
                problems.append(f"{py.relative_to(PKG)} imports samkit.{sorted(bad)}")
    for py in PKG.glob("*.py"):  # top-level modules are the base layer
        if py.name in ("__init__.py", "__main__.py"):
            continue
        bad = _samkit_imports(py) & {"automatic", "data", "training", "evaluation", "export", "serve", "engine", "integrations", "cli"}
        if bad:
            problems.append(f"{py.name} imports samkit.{sorted(bad)}")
    assert not problems, "\n".join(problems)


def test_no_file_is_huge():
    too_long = [f"{p.relative_to(PKG)}: {n} lines" for p in PKG.rglob("*.py")
                if (n := len(p.read_text().splitlines())) > 500]
    assert not too_long, too_long


def test_importing_samkit_has_no_side_effects(tmp_path):
    code = ("import os, sys; before=set(os.listdir('.')); import samkit; "
            "assert set(os.listdir('.')) == before; "
            "assert not any(m.startswith(('samkit.serve', 'samkit.training', 'onnx', 'fastapi')) for m in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(PKG.parent), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr


def test_top_level_modules_import_one_way():
    """No two top-level modules import each other, even lazily inside a function (build.py once
    imported default_model.py, which imported build.py back)."""
    mods = {p.stem for p in PKG.glob("*.py")} - {"__init__", "__main__"}
    graph = {m: {n for n in _samkit_imports(PKG / f"{m}.py") if n in mods} for m in mods}

    def reaches(start: str, goal: str) -> bool:
        todo, seen = list(graph[start]), set()
        while todo:
            m = todo.pop()
            if m == goal:
                return True
            if m not in seen:
                seen.add(m)
                todo.extend(graph[m])
        return False

    cycles = sorted(m for m in mods if reaches(m, m))
    assert not cycles, f"top-level modules in an import cycle: {cycles}"
