"""Contract: every xiAPI name the XIMEA driver uses is in the real ``xiapipy`` package, and the mock matches.

The real package cannot be imported here (its import loads XIMEA's driver library), and its licence does not
allow redistributing its files, so its Python sources are *read* (parsed, never executed) from:

1. ``$MESPOT_XIAPIPY_DIR`` -- a directory holding ``xiapi.py`` and ``xidefs.py`` (e.g. an unpacked wheel), or
2. an installed ``xiapipy`` (located with ``importlib.util.find_spec``, which does not run it).

Without either, the checks run against ``tests/data/xiapipy/api_manifest.json``: the facts (names, signatures,
parameter strings, enumerator values, status codes) this project relies on, extracted from the real package
by ``python tests/test_ximea_contract.py --write-manifest`` -- which only records what the real sources
contain.  A driver that starts using a name the manifest lacks fails here until the manifest is regenerated
from the real package.

What is collected from ``acquisition/camera/ximea.py`` (by AST): attributes used on the xiAPI camera
(``self._cam`` / ``cam``), image (``self._img`` / ``img``), module (``self._api`` / ``api``) and error
(``err``); the number of arguments of those calls; every string literal starting with ``XI_``; and the
values passed to enumerator setters, resolved through literals, module constants, dict lookups, ``x if c
else y`` and the call sites of helper functions.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final

import pytest

import hardware_mocks.ximea as mock_api
from acquisition.camera import ximea as driver_module
from hardware_mocks.ximea import _defs as mock_defs

ROOT: Final = Path(__file__).resolve().parents[1]
DRIVER_PATH: Final = ROOT / "acquisition" / "camera" / "ximea.py"
MANIFEST_PATH: Final = Path(__file__).resolve().parent / "data" / "xiapipy" / "api_manifest.json"
REAL_DIR_ENV: Final = "MESPOT_XIAPIPY_DIR"
REAL_PACKAGE: Final = "xiapipy"
REAL_FILES: Final = ("xiapi.py", "xidefs.py")
REGENERATE_HINT: Final = (f"check the name against the real package (pip install {REAL_PACKAGE}, or set "
                          f"{REAL_DIR_ENV} to an unpacked wheel's {REAL_PACKAGE}/ directory) and run "
                          "`python tests/test_ximea_contract.py --write-manifest`")

CAMERA_OBJECTS: Final = frozenset({"_cam", "cam"})
IMAGE_OBJECTS: Final = frozenset({"_img", "img"})
API_OBJECTS: Final = frozenset({"_api", "api"})
ERROR_OBJECTS: Final = frozenset({"err"})
STATUS_NAME_TABLE: Final = "XI_STATUS_NAMES"
"""Driver constant holding xiApi.h status names for messages: its keys are checked as status codes, its
values (C names, not in the Python package) are not checked."""

_PARAM_KINDS: Final = {
    "float": "xiTypeFloat", "int": "xiTypeInteger", "enum": "xiTypeEnum", "str": "xiTypeString"}


# ----------------------------------------------------------------------------------------------------------
# What the real package offers


@dataclass(frozen=True)
class MethodFacts:
    """A method's parameters (without self), the trailing ones' defaults, and the xiAPI parameter it sets."""

    args: tuple[str, ...]
    defaults: tuple[Any, ...] = ()
    param: str | None = None

    def accepts(self, n_positional: int, keywords: set[str]) -> bool:
        """Would a call with this many positional arguments and these keywords bind?"""
        if n_positional > len(self.args) or not keywords <= set(self.args[n_positional:]):
            return False
        required = self.args[:len(self.args) - len(self.defaults)]
        return all(i < n_positional or name in keywords for i, name in enumerate(required))


@dataclass
class ApiFacts:
    """The real package's API surface (all of it, or the manifest's subset)."""

    source: str
    version: str = ""
    files: dict[str, str] = field(default_factory=dict)
    module_names: set[str] = field(default_factory=set)
    camera_methods: dict[str, MethodFacts] = field(default_factory=dict)
    image_methods: dict[str, MethodFacts] = field(default_factory=dict)
    image_fields: set[str] = field(default_factory=set)
    xi_error_attributes: set[str] = field(default_factory=set)
    param_types: dict[str, str] = field(default_factory=dict)
    param_enums: dict[str, str] = field(default_factory=dict)
    enums: dict[str, dict[str, int]] = field(default_factory=dict)
    error_codes: dict[int, str] = field(default_factory=dict)

    def enum_values(self, param: str) -> dict[str, int] | None:
        """The enumerator a parameter takes (None: not an enumerator parameter)."""
        name = self.param_enums.get(param)
        return None if name is None else self.enums.get(name, {})

    def all_enum_names(self) -> set[str]:
        return {key for values in self.enums.values() for key in values}


def real_package_dir() -> Path | None:
    """Where the real package's sources are, without importing it; None if nowhere."""
    override = os.environ.get(REAL_DIR_ENV)
    if override:
        path = Path(override)
        missing = [name for name in REAL_FILES if not (path / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{REAL_DIR_ENV}={override}: no {', '.join(missing)} there")
        return path
    spec = importlib.util.find_spec(REAL_PACKAGE)  # locates a top-level package without executing it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations)))
    return path if all((path / name).is_file() for name in REAL_FILES) else None


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return ast.unparse(node)


def _method_facts(func: ast.FunctionDef, param_of: dict[str, str] | None = None) -> MethodFacts:
    args = [a.arg for a in func.args.args][1:]
    defaults = tuple(_literal(d) for d in func.args.defaults)
    return MethodFacts(tuple(args), defaults, (param_of or {}).get(func.name))


def _classes(tree: ast.Module) -> dict[str, ast.ClassDef]:
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _methods(cls: ast.ClassDef) -> list[ast.FunctionDef]:
    return [node for node in cls.body if isinstance(node, ast.FunctionDef)]


def _set_or_get_param(func: ast.FunctionDef) -> str | None:
    for node in ast.walk(func):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("set_param", "get_param") and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            return node.args[0].value
    return None


def _top_level_assignments(tree: ast.Module) -> dict[str, ast.expr]:
    out: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            out[node.target.id] = node.value
    return out


@cache
def load_real_facts(path: Path) -> ApiFacts:
    """Parse (never run) the real package's xiapi.py and xidefs.py."""
    sources = {name: (path / name).read_text(encoding="utf-8") for name in REAL_FILES}
    xiapi, xidefs = ast.parse(sources["xiapi.py"]), ast.parse(sources["xidefs.py"])
    init = path / "__init__.py"
    version_node = _top_level_assignments(ast.parse(init.read_text(encoding="utf-8"))).get("__version__") \
        if init.is_file() else None
    version = "" if version_node is None else str(_literal(version_node))
    facts = ApiFacts(source=f"{REAL_PACKAGE} {version} at {path}", version=version,
                     files={name: hashlib.sha256(text.encode()).hexdigest()
                            for name, text in sources.items()})
    classes = _classes(xiapi)
    facts.module_names = set(classes) | set(_top_level_assignments(xiapi)) | \
        {n.name for n in xiapi.body if isinstance(n, ast.FunctionDef)}
    camera_methods = _methods(classes["Camera"])
    param_of = {f.name: p for f in camera_methods if (p := _set_or_get_param(f)) is not None}
    facts.camera_methods = {f.name: _method_facts(f, param_of) for f in camera_methods}
    facts.image_methods = {f.name: _method_facts(f) for f in _methods(classes["Image"])}
    error_init = next(f for f in _methods(classes["Xi_error"]) if f.name == "__init__")
    facts.xi_error_attributes = {t.attr for n in ast.walk(error_init) if isinstance(n, ast.Assign)
                                 for t in n.targets if isinstance(t, ast.Attribute)}
    defs = _top_level_assignments(xidefs)
    xi_img = _classes(xidefs)["XI_IMG"]
    fields_node = next(n.value for n in xi_img.body if isinstance(n, ast.Assign)
                       and any(isinstance(t, ast.Name) and t.id == "_fields_" for t in n.targets))
    facts.image_fields = {str(_literal(elt.elts[0])) for elt in fields_node.elts}  # type: ignore[attr-defined]
    for name, value in defs.items():
        if isinstance(value, ast.Dict) and value.values and all(
                isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "c_uint"
                for v in value.values):
            facts.enums[name] = {str(_literal(k)): int(_literal(v.args[0]))  # type: ignore[arg-type,union-attr]
                                 for k, v in zip(value.keys, value.values, strict=True)}
    facts.param_types = {str(k): str(v) for k, v in _literal(defs["VAL_TYPE"]).items()}
    assoc = defs["ASSOC_ENUM"]
    assert isinstance(assoc, ast.Dict)
    facts.param_enums = {str(_literal(k)): v.id for k, v in zip(assoc.keys, assoc.values, strict=True)
                         if k is not None and isinstance(v, ast.Name)}
    facts.error_codes = {int(k): str(v) for k, v in _literal(defs["ERROR_CODES"]).items()}
    return facts


# ----------------------------------------------------------------------------------------------------------
# The manifest: the part of the real API this project relies on


def load_manifest(path: Path = MANIFEST_PATH) -> ApiFacts:
    """The recorded facts (see the module docstring)."""
    data = json.loads(path.read_text(encoding="utf-8"))

    def methods(table: dict[str, Any]) -> dict[str, MethodFacts]:
        return {name: MethodFacts(tuple(m["args"]), tuple(m["defaults"]), m.get("param"))
                for name, m in table.items()}

    return ApiFacts(
        source=f"{path.name} (recorded from {data['package']} {data['version']})", version=data["version"],
        files=data["files"], module_names=set(data["module_names"]),
        camera_methods=methods(data["camera_methods"]), image_methods=methods(data["image_methods"]),
        image_fields=set(data["image_fields"]), xi_error_attributes=set(data["xi_error_attributes"]),
        param_types=data["param_types"], param_enums=data["param_enums"], enums=data["enums"],
        error_codes={int(k): v for k, v in data["error_codes"].items()})


def build_manifest(real: ApiFacts) -> dict[str, Any]:
    """The facts the driver and the mock rely on, taken from the real package (KeyError if one is missing)."""
    usage = collect_driver_usage(DRIVER_PATH.read_text(encoding="utf-8"))
    camera = sorted(usage.camera_attrs | set(_public_methods(mock_api.Camera)))
    image_attrs = usage.image_attrs | set(_public_methods(mock_api.Image)) | _public_data(mock_api.Image())
    image_methods = [*sorted(a for a in image_attrs if a in real.image_methods), "__init__"]
    image_fields = sorted(a for a in image_attrs if a not in real.image_methods)
    params = {real.camera_methods[m].param.split(":")[0] for m in camera  # type: ignore[union-attr]
              if real.camera_methods[m].param} | set(mock_defs.PARAMS)
    enum_names = {real.param_enums[p] for p in params if p in real.param_enums} | \
        {name for name in _mock_enum_tables() if name in real.enums}
    statuses = set(mock_defs.ERROR_CODES) | set(driver_module.XI_STATUS_NAMES) | {driver_module.XI_TIMEOUT}

    def method(m: MethodFacts) -> dict[str, Any]:
        return {"args": list(m.args), "defaults": list(m.defaults), "param": m.param}

    missing_fields = [f for f in image_fields if f not in real.image_fields]
    if missing_fields:
        raise KeyError(f"not in the real XI_IMG: {missing_fields}")
    return {
        "package": REAL_PACKAGE, "version": real.version, "files": real.files,
        "generated_by": "python tests/test_ximea_contract.py --write-manifest",
        "module_names": sorted(usage.api_attrs | {"Camera", "Image", "Xi_error"}),
        "camera_methods": {m: method(real.camera_methods[m]) for m in camera},
        "image_methods": {m: method(real.image_methods[m]) for m in image_methods},
        "image_fields": image_fields,
        "xi_error_attributes": sorted(real.xi_error_attributes),
        "param_types": {p: real.param_types[p] for p in sorted(params)},
        "param_enums": {p: real.param_enums[p] for p in sorted(params) if p in real.param_enums},
        "enums": {name: real.enums[name] for name in sorted(enum_names)},
        "error_codes": {str(s): real.error_codes[s] for s in sorted(statuses)},
    }


# ----------------------------------------------------------------------------------------------------------
# What the driver uses


@dataclass
class DriverUsage:
    """xiAPI names a driver source uses (with line numbers) and the values it passes to setters."""

    camera_attrs: set[str] = field(default_factory=set)
    image_attrs: set[str] = field(default_factory=set)
    api_attrs: set[str] = field(default_factory=set)
    error_attrs: set[str] = field(default_factory=set)
    xi_literals: dict[str, int] = field(default_factory=dict)
    status_codes: set[int] = field(default_factory=set)
    calls: list[tuple[str, str, int, set[str], int]] = field(default_factory=list)
    """(object kind, method, positional count, keywords, line)."""
    setter_values: list[tuple[str, set[str] | None, int]] = field(default_factory=list)
    """(camera method, resolved string values or None when unresolvable, line) for one-argument calls."""


def _object_kind(node: ast.expr) -> str | None:
    name = node.attr if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
        and node.value.id == "self" else node.id if isinstance(node, ast.Name) else None
    if name in CAMERA_OBJECTS:
        return "camera"
    if name in IMAGE_OBJECTS:
        return "image"
    if name in API_OBJECTS:
        return "api"
    if name in ERROR_OBJECTS:
        return "error"
    return None


class _Resolver:
    """Resolves an expression to the string constants it can evaluate to (None: cannot tell)."""

    def __init__(self, tree: ast.Module) -> None:
        self.constants = _top_level_assignments(tree)
        self.functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
        self.calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
        self.enclosing: dict[int, ast.FunctionDef] = {}
        for func in self.functions:
            for node in ast.walk(func):
                self.enclosing.setdefault(id(node), func)
        for func in self.functions:  # innermost wins
            for node in ast.walk(func):
                if node is not func:
                    self.enclosing[id(node)] = func

    def resolve(self, node: ast.expr, depth: int = 0) -> set[str] | None:
        if depth > 8:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.IfExp):
            return self._union([node.body, node.orelse], depth)
        if isinstance(node, ast.Subscript):
            table = self._constant(node.value)
            if isinstance(table, ast.Dict):
                return self._union(list(table.values), depth)
            return None
        if isinstance(node, ast.Name):
            if node.id in self.constants:
                return self.resolve(self.constants[node.id], depth + 1)
            return self._resolve_parameter(node, depth)
        return None

    def _constant(self, node: ast.expr) -> ast.expr | None:
        return self.constants.get(node.id) if isinstance(node, ast.Name) else None

    def _union(self, nodes: list[ast.expr], depth: int) -> set[str] | None:
        out: set[str] = set()
        for item in nodes:
            values = self.resolve(item, depth + 1)
            if values is None:
                return None
            out |= values
        return out

    def _resolve_parameter(self, name: ast.Name, depth: int) -> set[str] | None:
        func = self.enclosing.get(id(name))
        if func is None:
            return None
        params = [a.arg for a in func.args.args]
        if name.id not in params:
            return None
        index = params.index(name.id) - (1 if params and params[0] == "self" else 0)
        sites = [c for c in self.calls if (isinstance(c.func, ast.Attribute) and c.func.attr == func.name)
                 or (isinstance(c.func, ast.Name) and c.func.id == func.name)]
        args: list[ast.expr] = []
        for call in sites:
            keyword = next((k.value for k in call.keywords if k.arg == name.id), None)
            if keyword is not None:
                args.append(keyword)
            elif 0 <= index < len(call.args):
                args.append(call.args[index])
            else:
                return None
        return self._union(args, depth) if args else None


def collect_driver_usage(source: str) -> DriverUsage:
    """Everything the driver source uses of xiAPI (see the module docstring)."""
    tree = ast.parse(source)
    usage = DriverUsage()
    resolver = _Resolver(tree)
    status_table = resolver.constants.get(STATUS_NAME_TABLE)
    skip: set[int] = set()
    if isinstance(status_table, ast.Dict):
        usage.status_codes = {int(_literal(k)) for k in status_table.keys if k is not None}
        skip = {id(n) for n in ast.walk(status_table)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("XI_") \
                and id(node) not in skip:
            usage.xi_literals.setdefault(node.value, node.lineno)
        elif isinstance(node, ast.Attribute) and (kind := _object_kind(node.value)) is not None:
            getattr(usage, f"{kind}_attrs").add(node.attr)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and len(node.args) >= 2 and _object_kind(node.args[0]) is not None \
                and isinstance(node.args[1], ast.Constant):
            getattr(usage, f"{_object_kind(node.args[0])}_attrs").add(str(node.args[1].value))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and (kind := _object_kind(node.func.value)) in ("camera", "image", "api"):
            keywords = {k.arg for k in node.keywords if k.arg is not None}
            usage.calls.append((kind, node.func.attr, len(node.args), keywords, node.lineno))
            if kind == "camera" and len(node.args) == 1:
                usage.setter_values.append((node.func.attr, resolver.resolve(node.args[0]), node.lineno))
    return usage


def contract_problems(usage: DriverUsage, facts: ApiFacts) -> list[str]:
    """Every way the driver's usage is not backed by ``facts`` (empty: the contract holds)."""
    problems: list[str] = []
    for name in sorted(usage.api_attrs - facts.module_names):
        problems.append(f"module name api.{name} is not in the real xiapi module")
    for name in sorted(usage.camera_attrs - set(facts.camera_methods)):
        problems.append(f"Camera.{name} is not a method of the real xiapi.Camera")
    for name in sorted(usage.image_attrs - set(facts.image_methods) - facts.image_fields):
        problems.append(f"Image.{name} is neither a method of the real xiapi.Image nor an XI_IMG field")
    for name in sorted(usage.error_attrs - facts.xi_error_attributes):
        problems.append(f"Xi_error.{name} is not an attribute of the real Xi_error")
    known_names = facts.all_enum_names()
    for literal, line in sorted(usage.xi_literals.items()):
        if literal not in known_names:
            problems.append(f"line {line}: {literal!r} is not an enumerator value of the real package")
    for status in sorted(usage.status_codes - set(facts.error_codes)):
        problems.append(f"status {status} (in {STATUS_NAME_TABLE}) is not in the real ERROR_CODES")
    tables = {"camera": facts.camera_methods, "image": facts.image_methods}
    init = {"Camera": facts.camera_methods.get("__init__"), "Image": facts.image_methods.get("__init__")}
    for kind, method, n_args, keywords, line in usage.calls:
        signature = init.get(method) if kind == "api" else tables[kind].get(method)
        if signature is not None and not signature.accepts(n_args, keywords):
            problems.append(f"line {line}: {method}() called with {n_args} positional and {sorted(keywords)} "
                            f"keyword arguments, but the real one takes {signature.args}")
    for method, values, line in usage.setter_values:
        facts_method = facts.camera_methods.get(method)
        if facts_method is None or facts_method.param is None:
            continue
        allowed = facts.enum_values(facts_method.param.split(":")[0])
        if allowed is None:
            continue
        if values is None:
            problems.append(f"line {line}: cannot tell which value {method}() gets: pass a literal or a "
                            "module constant so the contract test can check it")
            continue
        for value in sorted(values - set(allowed)):
            problems.append(f"line {line}: {value!r} is not a valid value of {facts_method.param!r} "
                            f"(set by {method}); valid: {sorted(allowed)}")
    return problems


# ----------------------------------------------------------------------------------------------------------
# The mock


def _public_methods(cls: type) -> dict[str, Any]:
    return {name: member for name, member in vars(cls).items()
            if inspect.isfunction(member) and (not name.startswith("_") or name == "__init__")}


def _public_data(obj: object) -> set[str]:
    return {name for name in vars(obj) if not name.startswith("_")}


def _mock_enum_tables() -> dict[str, dict[str, int]]:
    return {name: value for name, value in vars(mock_defs).items()
            if name.startswith("XI_") and isinstance(value, dict) and value
            and all(isinstance(v, int) for v in value.values())}


def _signature_of(func: Any) -> MethodFacts:
    params = list(inspect.signature(func).parameters.values())[1:]
    defaults = tuple(p.default for p in params if p.default is not inspect.Parameter.empty)
    return MethodFacts(tuple(p.name for p in params), defaults)


def mock_problems(facts: ApiFacts, usage: DriverUsage) -> list[str]:
    """Every way the mock differs from the real package in what it offers."""
    problems: list[str] = []
    for name in ("Camera", "Image", "Xi_error"):
        if not hasattr(mock_api, name) or name not in facts.module_names:
            problems.append(f"{name}: missing in the mock or in the real module")
    for cls, table, what in ((mock_api.Camera, facts.camera_methods, "Camera"),
                             (mock_api.Image, facts.image_methods, "Image")):
        for name, func in _public_methods(cls).items():
            real = table.get(name)
            mine = _signature_of(func)
            if real is None:
                problems.append(f"mock {what}.{name} does not exist in the real package")
            elif (real.args, real.defaults) != (mine.args, mine.defaults):
                problems.append(f"mock {what}.{name}{mine.args}={mine.defaults} differs from the real "
                                f"{real.args}={real.defaults}")
    for name in sorted(usage.camera_attrs - set(_public_methods(mock_api.Camera))):
        problems.append(f"the driver uses Camera.{name}, which the mock lacks")
    image = mock_api.Image()
    for name in sorted(usage.image_attrs):
        if not hasattr(image, name):
            problems.append(f"the driver uses Image.{name}, which the mock lacks")
    for name in sorted(_public_data(image) - facts.image_fields):
        problems.append(f"mock Image.{name} is not an XI_IMG field")
    error = mock_api.Xi_error(driver_module.XI_TIMEOUT)
    for name in sorted(facts.xi_error_attributes | usage.error_attrs):
        if not hasattr(error, name):
            problems.append(f"mock Xi_error lacks .{name}")
    for status, text in mock_defs.ERROR_CODES.items():
        if facts.error_codes.get(status) != text:
            problems.append(f"mock status {status} {text!r} differs from the real "
                            f"{facts.error_codes.get(status)!r}")
    for name, table in _mock_enum_tables().items():
        real_table = facts.enums.get(name)
        if real_table is None:
            problems.append(f"mock enumerator {name} is not in the real package")
            continue
        for key, value in table.items():
            if real_table.get(key) != value:
                problems.append(f"mock {name}[{key!r}] = {value}, real: {real_table.get(key)}")
    for param, spec in mock_defs.PARAMS.items():
        if facts.param_types.get(param) != _PARAM_KINDS[spec.kind]:
            problems.append(f"mock parameter {param!r} is {spec.kind}, real: {facts.param_types.get(param)}")
        real_enum = facts.param_enums.get(param)
        if spec.enum is not None and getattr(mock_defs, real_enum or "", None) is not spec.enum:
            problems.append(f"mock parameter {param!r} does not take the real enumerator {real_enum}")
    return problems


# ----------------------------------------------------------------------------------------------------------
# Tests


@pytest.fixture(scope="module")
def real_facts() -> ApiFacts | None:
    path = real_package_dir()
    return None if path is None else load_real_facts(path)


@pytest.fixture(scope="module")
def facts(real_facts: ApiFacts | None) -> ApiFacts:
    """The real package when it can be read, else the manifest."""
    return real_facts if real_facts is not None else load_manifest()


@pytest.fixture(scope="module")
def usage() -> DriverUsage:
    return collect_driver_usage(DRIVER_PATH.read_text(encoding="utf-8"))


def test_collector_finds_the_driver_calls(usage: DriverUsage) -> None:
    assert {"open_device_by_SN", "open_device", "get_image", "start_acquisition", "stop_acquisition",
            "close_device", "set_trigger_source", "set_gpi_mode", "set_counter_selector",
            } <= usage.camera_attrs
    assert {"acq_nframe", "tsSec", "tsUSec", "bp", "padding_x"} <= usage.image_attrs
    assert {"Camera", "Image", "Xi_error"} <= usage.api_attrs
    assert "status" in usage.error_attrs
    assert {"XI_TRG_EDGE_RISING", "XI_GPI_PORT1", "XI_CNT_SEL_API_SKIPPED_FRAMES"} <= set(usage.xi_literals)
    resolved = {method: values for method, values, _ in usage.setter_values}
    assert resolved["set_imgdataformat"] == {"XI_MONO8", "XI_RAW8"}
    assert resolved["set_counter_selector"] == {"XI_CNT_SEL_TRANSPORT_SKIPPED_FRAMES",
                                                "XI_CNT_SEL_API_SKIPPED_FRAMES"}


def test_driver_uses_only_names_of_the_real_package(usage: DriverUsage, facts: ApiFacts) -> None:
    problems = contract_problems(usage, facts)
    assert not problems, f"against {facts.source}:\n" + "\n".join(problems) + f"\n\n{REGENERATE_HINT}"


def test_timeout_status_is_the_real_one(facts: ApiFacts) -> None:
    assert facts.error_codes[driver_module.XI_TIMEOUT] == "Timeout"


BAD_DRIVER: Final = '''
XI_BAD_FORMAT = "XI_MONO9"

class Driver:
    def open(self, api):
        cam = api.Camera(0)
        cam.set_exposur(1000)
        cam.set_gpi_mode("XI_TRG_OFF")
        self._cam.set_imgdataformat(XI_BAD_FORMAT)
        self._cam.get_image(self._img, 10, 20)
        seconds = self._img.tsSecs
        error = api.XiError
        self._cam.set_trigger_source(self.pick())
'''


def test_contract_check_catches_bad_names(facts: ApiFacts) -> None:
    """Negative self-check: a driver with wrong names must fail the contract, each for its own reason."""
    problems = "\n".join(contract_problems(collect_driver_usage(BAD_DRIVER), facts))
    for expected in ("Camera.set_exposur is not a method",
                     "'XI_TRG_OFF' is not a valid value of 'gpi_mode'",
                     "'XI_MONO9' is not an enumerator value",
                     "'XI_MONO9' is not a valid value of 'imgdataformat'",
                     "get_image() called with 3 positional",
                     "Image.tsSecs is neither",
                     "api.XiError is not in the real",
                     "cannot tell which value set_trigger_source() gets"):
        assert expected in problems, f"missing: {expected}\n{problems}"
    good = BAD_DRIVER.replace("set_exposur", "set_exposure").replace('gpi_mode("XI_TRG_OFF")',
                                                                     'gpi_mode("XI_GPI_TRIGGER")')
    good = good.replace("XI_MONO9", "XI_MONO8").replace("10, 20", "10").replace("tsSecs", "tsSec")
    good = good.replace("XiError", "Xi_error").replace("self.pick()", '"XI_TRG_OFF"')
    assert contract_problems(collect_driver_usage(good), facts) == []


def test_mock_matches_the_real_package(usage: DriverUsage, facts: ApiFacts) -> None:
    problems = mock_problems(facts, usage)
    assert not problems, f"against {facts.source}:\n" + "\n".join(problems)


def test_manifest_is_true_of_the_real_package(real_facts: ApiFacts | None) -> None:
    if real_facts is None:
        pytest.skip(f"{REAL_PACKAGE} is not installed and {REAL_DIR_ENV} is not set")
    recorded, real = load_manifest(), real_facts
    assert recorded.module_names <= real.module_names
    assert recorded.image_fields <= real.image_fields
    assert recorded.xi_error_attributes <= real.xi_error_attributes
    for name, method in recorded.camera_methods.items():
        assert real.camera_methods.get(name) == method, f"Camera.{name} changed; {REGENERATE_HINT}"
    for name, method in recorded.image_methods.items():
        assert real.image_methods.get(name) == method, f"Image.{name} changed; {REGENERATE_HINT}"
    assert recorded.param_types.items() <= real.param_types.items()
    assert recorded.param_enums.items() <= real.param_enums.items()
    assert recorded.error_codes.items() <= real.error_codes.items()
    for name, table in recorded.enums.items():
        assert table.items() <= real.enums[name].items(), f"enum {name} changed; {REGENERATE_HINT}"
    needed = build_manifest(real)  # what the driver and mock rely on today
    for key in ("camera_methods", "image_methods", "param_types", "enums"):
        assert set(needed[key]) <= set(getattr(recorded, key)), f"manifest lacks {key}; {REGENERATE_HINT}"
    assert {int(s) for s in needed["error_codes"]} <= set(recorded.error_codes), REGENERATE_HINT


def test_real_import_without_driver_library_is_a_clear_device_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the real package importable but XIMEA's library absent, load_xiapi reports it plainly."""
    path = real_package_dir()
    if path is None:
        pytest.skip(f"{REAL_PACKAGE} is not installed and {REAL_DIR_ENV} is not set")
    if Path("/usr/lib/libm3api.so.2").exists() or sys.platform != "linux":
        pytest.skip("XIMEA's driver library is installed here")
    monkeypatch.syspath_prepend(str(path.parent))
    for name in [m for m in sys.modules if m == REAL_PACKAGE or m.startswith(REAL_PACKAGE + ".")]:
        monkeypatch.delitem(sys.modules, name)
    try:
        with pytest.raises(driver_module.DeviceError) as caught:
            driver_module.load_xiapi()
    finally:  # the half-imported package must not outlive the test
        for name in [m for m in sys.modules if m == REAL_PACKAGE or m.startswith(REAL_PACKAGE + ".")]:
            del sys.modules[name]
    assert str(caught.value) == driver_module.DRIVER_LIBRARY_MISSING
    assert isinstance(caught.value.__cause__, OSError)


def _write_manifest() -> Iterator[str]:
    path = real_package_dir()
    if path is None:
        raise SystemExit(f"{REAL_PACKAGE} not found: pip install {REAL_PACKAGE}, or set {REAL_DIR_ENV}")
    manifest = build_manifest(load_real_facts(path))
    MANIFEST_PATH.parent.mkdir(parents=True, exist_ok=True)
    MANIFEST_PATH.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    yield f"wrote {MANIFEST_PATH} from {REAL_PACKAGE} {manifest['version']} at {path}"


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-manifest"]:
        raise SystemExit("usage: python tests/test_ximea_contract.py --write-manifest")
    for line in _write_manifest():
        print(line)
