"""Lab tests need root and the lab's tools; without root they are skipped with the reason.

CI sets FABRIC_INTENT_LAB=require: there a missing tool fails the tests instead of skipping them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from lab_support import RunningLab, lab_name, missing_tools, running_lab


@pytest.fixture(autouse=True, scope="session")
def lab_prerequisites() -> None:
    required = os.environ.get("FABRIC_INTENT_LAB") == "require"
    if os.geteuid() != 0:
        (pytest.fail if required else pytest.skip)("lab tests need root (network namespaces, FRR, sshd, users)")
    missing = missing_tools()
    if missing:
        message = ("lab tools missing: " + ", ".join(missing) + " (apt-get install frr openssh-server "
                   "containernetworking-plugins nftables iputils-ping sudo)")
        (pytest.fail if required else pytest.skip)(message)


@pytest.fixture(scope="module")
def static_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    with running_lab(lab_name(), "static", tmp_path_factory.mktemp("lab") / "out") as lab:
        yield lab


@pytest.fixture(scope="module")
def bgp_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    with running_lab(lab_name(), "bgp", tmp_path_factory.mktemp("lab") / "out") as lab:
        yield lab
