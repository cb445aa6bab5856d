"""Reading fabric-intent's inputs from disk: cluster snapshots, the inventory, saved plans."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from intent.cluster import ClusterSnapshot, parse_snapshot
from intent.errors import InputError, InventoryError, PlanError, SnapshotError
from intent.inventory import FabricInventory, parse_inventory
from intent.plan import Plan, parse_plan

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SNAPSHOT_SUFFIXES = (".yaml", ".yml", ".json")


def read_documents(path: Path, error: type[InputError] = SnapshotError) -> list[Any]:
    """Every document in a YAML (multi-document) or JSON file; syntax errors name file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read: {exc}") from None
    if path.suffix == ".json":
        try:
            return [json.loads(text)]
        except json.JSONDecodeError as exc:
            raise error(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    try:
        return [doc for doc in yaml.load_all(text, Loader=_LOADER) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise error(f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None


def snapshot_files(path: Path) -> list[Path]:
    """The files a `--cluster` path stands for: itself, or every YAML/JSON file below a folder, sorted."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SNAPSHOT_SUFFIXES)
        if not files:
            raise SnapshotError(f"{path}: no .yaml, .yml or .json files in this folder")
        return files
    if not path.exists():
        raise SnapshotError(f"{path}: no such file or folder")
    return [path]


def _documents(path: Path) -> Iterator[tuple[str, Any]]:
    for file in snapshot_files(path):
        for document in read_documents(file):
            yield str(file), document


def load_cluster(path: Path) -> ClusterSnapshot:
    """A cluster snapshot from what `kubectl get ... -o yaml|json` printed (file or folder)."""
    return parse_snapshot(_documents(path))


def load_inventory(path: Path) -> FabricInventory:
    if not path.is_file():
        raise InventoryError(f"{path}: no such file")
    documents = read_documents(path, InventoryError)
    if len(documents) != 1:
        raise InventoryError(f"{path}: expected one YAML document, found {len(documents)}")
    return parse_inventory(documents[0], str(path))


def load_plan(path: Path) -> Plan:
    if not path.is_file():
        raise PlanError(f"{path}: no such file")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanError(f"{path}: not a readable JSON plan: {exc}") from None
    return parse_plan(document, str(path))
