"""Intent objects some controllers cannot hold as asked, refused before anything is sent (pure, no I/O)."""

from __future__ import annotations

from intent.errors import DriverError
from intent.model import BgpPeering, DeviceObject, PrefixList, ip_text

__all__ = ["refuse_bgp_password", "refuse_sequence_numbers"]


def refuse_bgp_password(obj: DeviceObject, device: str, driver: str, why: str = "") -> None:
    """Refuse a BGP session with a password: the `driver` does not set BGP passwords (`why` says more)."""
    if isinstance(obj, BgpPeering) and obj.authenticated:
        raise DriverError(f"{device}: bgp neighbor {ip_text(obj.neighbor)} asks for a password; the {driver} "
                          f"driver does not set BGP passwords{why}")


def refuse_sequence_numbers(obj: DeviceObject, device: str, holder: str) -> None:
    """Refuse a prefix list numbered other than 10, 20, 30...: the `holder` keeps entries in order only."""
    if isinstance(obj, PrefixList) and any(e.seq != 10 * (i + 1) for i, e in enumerate(obj.entries)):
        raise DriverError(f"{device}: prefix-list {obj.name} is numbered other than 10, 20, 30...; {holder} "
                          "keep entries in order without sequence numbers")
