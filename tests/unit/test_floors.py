"""The floors of the house (docs/architecture.md): generated API and vocabulary, then the core,
then the three services, then the CLI and the bench. Imports only go down, and no service
imports another; the core holds only what two or more packages use."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("token_service", "image_service", "gateway")
GROUND = ("qrpass.vocabulary", "qrpass.token", "qrpass.image")  # the generated API and the words
CORE = "qrpass.core"
UPSTAIRS = ("qrpass.cli", "bench", "tests")


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path) -> set[str]:
    """Every module a file imports by absolute name, including imports inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _sources(*packages: str) -> dict[str, set[str]]:
    files: dict[str, set[str]] = {}
    for package in packages:
        for path in (ROOT / package.replace(".", "/")).rglob("*.py"):
            if "/v1/" not in path.as_posix():  # generated code
                files[_module(path)] = _imports(path)
    return files


def _within(name: str, packages: tuple[str, ...] | str) -> bool:
    packages = (packages,) if isinstance(packages, str) else packages
    return any(name == package or name.startswith(package + ".") for package in packages)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_only_itself_the_core_and_the_ground_floor(service: str) -> None:
    others = tuple(s for s in SERVICES if s != service)
    crossings = {
        (module, name)
        for module, names in _sources(service).items()
        for name in names
        if _within(name, others) or _within(name, UPSTAIRS)
    }
    assert not crossings, f"{service} reaches into another package: {sorted(crossings)}"


@pytest.mark.parametrize("floor", [CORE, "qrpass.vocabulary"])
def test_the_lower_floors_import_no_service_and_nothing_upstairs(floor: str) -> None:
    sources = (
        _sources("qrpass/core")
        if floor == CORE
        else {floor: _imports(ROOT / "qrpass/vocabulary.py")}
    )
    crossings = {
        (module, name)
        for module, names in sources.items()
        for name in names
        if _within(name, SERVICES) or _within(name, UPSTAIRS)
    }
    assert not crossings, f"{floor} imports from a floor above it: {sorted(crossings)}"


def test_the_vocabulary_imports_only_the_generated_api() -> None:
    ours = {
        name
        for name in _imports(ROOT / "qrpass/vocabulary.py")
        if _within(name, ("qrpass", *SERVICES))
    }
    assert all(_within(name, GROUND) for name in ours), ours


def test_each_core_module_serves_two_or_more_packages() -> None:
    """What only one package uses belongs in that package."""
    users: dict[str, set[str]] = defaultdict(set)
    packages = (*SERVICES, "qrpass.cli", "bench", CORE)
    for package in packages:
        for module, names in _sources(package).items():
            owner = next(p for p in packages if _within(module, p))
            for name in names:
                if _within(name, CORE):
                    users[".".join(name.split(".")[:3])].add(owner)
    core_sources = _sources("qrpass/core")
    core_modules = set(core_sources) - {CORE}

    def shared(module: str) -> bool:
        return len(users[module] - {CORE}) >= 2

    # A helper of a shared core module (authz for the server builder) is shared too.
    lonely = {
        module: sorted(users[module] - {CORE})
        for module in core_modules
        if not shared(module)
        and not any(
            shared(other) and any(_within(name, module) for name in names)
            for other, names in core_sources.items()
        )
    }
    assert not lonely, f"core modules used by fewer than two packages: {lonely}"
