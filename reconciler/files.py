"""Reading fabric-intent's inputs from disk: cluster snapshots, the inventory, saved plans."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import yaml

from intent.bulk import collector_paused
from intent.cluster import ClusterSnapshot, is_list, parse_snapshot
from intent.errors import InputError, InventoryError, PlanError, SnapshotError
from intent.inventory import FabricInventory, parse_inventory
from intent.plan import Plan, parse_plan

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SNAPSHOT_SUFFIXES = (".yaml", ".yml", ".json")


def _read_text(path: Path, error: type[InputError]) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read: {exc}") from None


def read_documents(path: Path, error: type[InputError] = SnapshotError) -> list[Any]:
    """Every document in a YAML (multi-document) or JSON file; syntax errors name file and line."""
    text = _read_text(path, error)
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


def _documents(path: Path, stream: bool = False) -> Iterator[tuple[str, Any]]:
    for file in snapshot_files(path):
        if stream and file.suffix == ".json":
            yield from _json_objects(file)
        else:
            for document in read_documents(file):
                yield str(file), document


def load_cluster(path: Path) -> ClusterSnapshot:
    """A cluster snapshot from what `kubectl get ... -o yaml|json` printed (file or folder).

    A JSON `List` is decoded one item at a time, so that the whole document (several times the
    size of the records made from it) is never held; anything unusual is read the plain way.
    """
    with collector_paused():
        try:
            return parse_snapshot(_documents(path, stream=True))
        except _Unstreamable:
            return parse_snapshot(_documents(path))


# -- JSON Lists, item by item -------------------------------------------------------------------
# `parse_snapshot` is given each item (an item that is itself a List, as a one-item List): exactly
# the objects, in the order, that the whole document would give it. Text that is not a plain List
# whose items all name their kind (a typed list relying on its own kind, a syntax error, a repeated
# key, ...) raises `_Unstreamable`, and the file is read whole (the whole snapshot again if items
# were given out already), so the result and every error message are the plain reader's.
_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # the C scanner json.loads uses
# JSON whitespace; the pattern matches the empty string too, so a match is never None.
_SPACE: Callable[[str, int], re.Match[str]] = re.compile(r"[ \t\n\r]*").match  # type: ignore[assignment]


class _Unstreamable(Exception):
    """Internal: this JSON text is not a plain kubectl List."""


def _json_objects(file: Path) -> Iterator[tuple[str, Any]]:
    source, text = str(file), _read_text(file, SnapshotError)
    objects = _json_list_items(text, source)
    try:
        first = next(objects)
    except StopIteration:
        return  # an empty List
    except _Unstreamable:  # nothing given out yet: read this file the plain way
        yield from ((source, document) for document in read_documents(file))
        return
    yield first
    yield from objects


def _json_list_items(text: str, source: str) -> Iterator[tuple[str, Any]]:
    """The items of a JSON `List` text, one at a time, each as `parse_snapshot` would get it from the
    whole document; `_Unstreamable` (possibly after some items) for any other text."""
    head: dict[str, Any] = {}
    i = _skip(text, 0)
    if text[i:i + 1] != "{":
        raise _Unstreamable
    i = _skip(text, i + 1)
    while text[i:i + 1] != "}":
        if head:  # a comma between members
            if text[i:i + 1] != ",":
                raise _Unstreamable
            i = _skip(text, i + 1)
        key, i = _value(text, i)
        i = _skip(text, i)
        if not isinstance(key, str) or key in head or text[i:i + 1] != ":":
            raise _Unstreamable
        i = _skip(text, i + 1)
        if key == "items" and text[i:i + 1] == "[":
            head[key] = None
            i = yield from _array_items(text, i, source)
        else:
            head[key], i = _value(text, i)
        i = _skip(text, i)
    kind = head.get("kind")
    if _skip(text, i + 1) != len(text) or "items" not in head or not (isinstance(kind, str) and kind.endswith("List")):
        raise _Unstreamable


def _array_items(text: str, i: int, source: str) -> Generator[tuple[str, Any], None, int]:
    """Yield the items of the array opening at `text[i]`; return the index just after it."""
    scan, space = _SCAN, _SPACE  # the loop runs once per pod: local names, no helper calls
    try:
        i = space(text, i + 1).end()
        while text[i:i + 1] != "]":
            item, i = scan(text, i)
            if not (isinstance(item, dict) and "kind" in item):
                raise _Unstreamable
            yield source, ({"kind": "List", "items": [item]} if "items" in item and is_list(item) else item)
            i = space(text, i).end()
            if text[i:i + 1] == ",":
                i = space(text, i + 1).end()
                if text[i:i + 1] == "]":  # a trailing comma
                    raise _Unstreamable
            elif text[i:i + 1] != "]":
                raise _Unstreamable
    except (StopIteration, ValueError):  # what `_value` turns into _Unstreamable
        raise _Unstreamable from None
    return i + 1


def _value(text: str, i: int) -> tuple[Any, int]:
    """The JSON value starting at `text[i]` (decoded as `json.loads` would) and the index after it."""
    try:
        return _SCAN(text, i)
    except (StopIteration, ValueError):  # JSONDecodeError is a ValueError
        raise _Unstreamable from None


def _skip(text: str, i: int) -> int:
    """The index of the first character at or after `i` that is not JSON whitespace."""
    return _SPACE(text, i).end()


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
