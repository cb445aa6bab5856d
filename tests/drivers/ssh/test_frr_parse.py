"""Reading FRR's running-config: owned objects only, hand-made keys, and an order-blind revision."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from drivers.ssh.frr_parse import canonical, config_lines, parse_running_config, revision_of
from intent.model import Realized

DATA = Path(__file__).resolve().parents[1] / "data" / "ssh" / "frr"
CONTRACT = Path(__file__).resolve().parents[1] / "data" / "contract"
TAG = 64512


def _text(name: str) -> str:
    return (DATA / name).read_text()


def _configs(objects: Any) -> dict[str, dict[str, Any]]:
    return {o.key: o.config() for o in objects}


def test_only_owned_objects_are_read_and_hand_made_keys_are_reported() -> None:
    expected = json.loads(_text("running-config.owned.json"))
    parsed = parse_running_config(_text("running-config.txt"), "leaf-1", TAG)
    wanted = TypeAdapter(list[Realized]).validate_python(expected["objects"])
    assert _configs(parsed.objects) == _configs(wanted)
    assert sorted(parsed.foreign) == expected["foreign"]
    assert {vrf: b.redistribute for vrf, b in parsed.bgp.items()} == expected["redistribute"]
    assert parsed.route_map


def test_a_password_on_the_device_is_read_as_a_flag_only() -> None:
    parsed = parse_running_config(_text("running-config.txt"), "leaf-1", TAG)
    assert "s3cret-on-the-device" in _text("running-config.txt")
    assert "s3cret-on-the-device" not in json.dumps([o.config() for o in parsed.objects])


def test_another_route_tag_owns_nothing_of_the_routes() -> None:
    parsed = parse_running_config(_text("running-config.txt"), "leaf-1", 100)
    routes = [o for o in parsed.objects if o.kind == "static-route"]
    assert [o.key for o in routes] == ["static-route:leaf-1:0.0.0.0/0@192.168.1.254"]
    assert "static-route:leaf-1:10.244.2.0/24@192.168.1.12" in parsed.foreign


def test_what_an_apply_left_reads_back_as_the_desired_objects() -> None:
    """running-config-applied.txt is what a real FRR held after applying the contract's leaf-1 intent."""
    desired = json.loads((CONTRACT / "desired.json").read_text())["devices"]["leaf-1"]
    parsed = parse_running_config(_text("running-config-applied.txt"), "leaf-1", TAG)
    assert _configs(parsed.objects) == _configs(TypeAdapter(list[Realized]).validate_python(desired))


def test_revision_ignores_the_order_frr_prints_blocks_in() -> None:
    lines = config_lines(_text("running-config.txt"))
    blocks = canonical(lines)
    shuffled = blocks[:]
    random.Random(7).shuffle(shuffled)
    assert shuffled != blocks
    assert revision_of("\n".join(shuffled).splitlines()) == revision_of(lines)


def test_revision_changes_with_any_hand_made_edit() -> None:
    text = _text("running-config.txt")
    edited = text.replace("ip route 0.0.0.0/0 192.168.1.254 tag 100", "ip route 0.0.0.0/0 192.168.1.254 tag 101")
    assert edited != text
    before, after = (parse_running_config(t, "leaf-1", TAG) for t in (text, edited))
    assert before.revision != after.revision
    assert _configs(before.objects) == _configs(after.objects)


def test_banner_and_comments_are_not_configuration() -> None:
    lines = config_lines(_text("running-config.txt"))
    assert lines[0] == "frr version 8.4.4"
    assert not any(line.startswith(("Building", "Current configuration", "!")) or line == "end" for line in lines)
