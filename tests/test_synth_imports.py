"""The synthetic subject must not be the measurer's mirror: nothing in hardware_mocks.synth reads inference
(directly or through the project modules it imports)."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import hardware_mocks.synth

SYNTH_DIR = Path(hardware_mocks.synth.__file__).parent
REPO = SYNTH_DIR.parents[1]
FORBIDDEN = "inference"


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules a file imports (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                names.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                names.add(node.module)
    return names


def _local_file(module: str) -> Path | None:
    """The project file of a module, or None for third-party and standard-library modules."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    origin = Path(spec.origin)
    return origin if REPO in origin.parents and ".venv" not in origin.parts else None


def test_no_module_of_synth_imports_inference_even_indirectly() -> None:
    files = sorted(SYNTH_DIR.rglob("*.py"))
    assert len(files) >= 10
    seen: set[Path] = set()
    todo = [(f, f.relative_to(REPO).as_posix()) for f in files]
    while todo:
        path, chain = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in _imports(path):
            assert module.split(".")[0] != FORBIDDEN, f"{chain} imports {module}"
            local = _local_file(module)
            if local is not None:
                todo.append((local, f"{chain} -> {module}"))
    assert any("acquisition" in p.parts for p in seen), "the walk follows project imports"
