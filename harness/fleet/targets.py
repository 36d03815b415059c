"""Which addresses the fleet may connect to: public unicast addresses only, judged after resolution.

A directory entry is untrusted input. The fleet refuses, each as its own classification:

``refused-loopback``  127.0.0.0/8, ::1, and the names ``localhost`` and ``*.localhost``; allowed
    with ``allow_loopback`` (``--allow-loopback``: the sandbox fleet and tests), nothing else is
``refused-private``  10/8, 172.16/12, 192.168/16, fc00::/7; and private-use names (``.internal``,
    ``.local``, ``.home.arpa``, ...), refused without asking DNS
``refused-link-local``  169.254/16 (cloud metadata services), fe80::/10
``refused-cgnat``  100.64/10, the shared address space of carrier-grade NAT
``refused-unspecified``  0.0.0.0/8, ::
``refused-multicast``  224/4, ff00::/8
``refused-reserved``  every other address that is not global unicast: 240/4, broadcast,
    documentation and benchmarking ranges, IETF protocol assignments, site-local, ...

IPv6 forms that carry an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``,
6to4 ``2002::/16``, Teredo) are judged by the IPv4 address they carry. A name is refused when any
address it resolves to is refused: a host that answers both public and private addresses is not
a tenant to trust. The addresses judged are the ones connected to (see
:mod:`harness.fleet.transport`), so a second, different DNS answer cannot slip in.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

LOOPBACK = "refused-loopback"
PRIVATE = "refused-private"
LINK_LOCAL = "refused-link-local"
CGNAT = "refused-cgnat"
UNSPECIFIED = "refused-unspecified"
MULTICAST = "refused-multicast"
RESERVED = "refused-reserved"
REDIRECT = "refused-redirect"  # a redirect the fleet does not follow (https to http, another scheme)

#: every refusal class, with the words its detail uses
REFUSALS: dict[str, str] = {
    LOOPBACK: "loopback address",
    PRIVATE: "private address",
    LINK_LOCAL: "link-local address",
    CGNAT: "shared (carrier-grade NAT) address",
    UNSPECIFIED: "unspecified address",
    MULTICAST: "multicast address",
    RESERVED: "reserved address",
    REDIRECT: "redirect",
}

#: names for private use: never resolvable on the public internet (RFC 6762, RFC 8375, ICANN 2024)
PRIVATE_USE_SUFFIXES = ("internal", "local", "localdomain", "home.arpa", "intranet", "private", "corp", "home",
                        "lan")

_CGNAT_NET = ipaddress.ip_network("100.64.0.0/10")
_PRIVATE_NETS = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                                        "fc00::/7"))
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
# not globally reachable, whatever this Python's ipaddress tables say: IETF protocol assignments,
# site-local, discard-only, IETF protocol assignments (IPv6, Teredo included), documentation
_EXTRA_RESERVED = tuple(ipaddress.ip_network(n) for n in ("192.0.0.0/24", "fec0::/10", "100::/64", "2001::/23",
                                                          "3fff::/20"))


@dataclass(frozen=True)
class Refusal:
    """Why the fleet does not connect: the class (one of :data:`REFUSALS`) and one line."""

    outcome: str
    detail: str


class TargetRefused(Exception):
    """Raised where a connection would go to a refused address; ``fleet_outcome`` is the class."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.detail)
        self.refusal = refusal
        self.fleet_outcome = refusal.outcome


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv4-mapped, NAT64 or 6to4 address carries, with the form's name."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    return None


def _category(ip: IPAddress) -> str | None:
    """The refusal class of a plain address (no embedded IPv4), or None for a global unicast one."""
    if ip.is_unspecified or (ip.version == 4 and ip in _THIS_NETWORK):
        return UNSPECIFIED
    if ip.is_loopback:
        return LOOPBACK
    if ip.is_link_local:
        return LINK_LOCAL
    if ip.is_multicast:
        return MULTICAST
    if ip.version == 4 and ip in _CGNAT_NET:
        return CGNAT
    if any(ip in net for net in _PRIVATE_NETS if net.version == ip.version):
        return PRIVATE
    if ip.version == 6 and ip in _NAT64_LOCAL:
        return PRIVATE
    if ip.is_reserved or ip.is_private or not ip.is_global:
        return RESERVED
    if any(ip in net for net in _EXTRA_RESERVED if net.version == ip.version):
        return RESERVED
    return None


def judge_address(ip: IPAddress | str, *, allow_loopback: bool = False, name: str | None = None) -> Refusal | None:
    """None when the fleet may connect to ``ip``; else why not. ``name``: the host name it came from."""
    address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
    shown, via = address, None
    category = _category(address)
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:  # judged by the IPv4 address it carries
            shown, form = embedded
            via = f"{form} {'::ffff:' + str(shown) if form == 'IPv4-mapped' else address}"
            category = _category(shown)
    if category is None or (category == LOOPBACK and allow_loopback):
        return None
    notes = [n for n in (via, name) if n]
    suffix = f" ({', '.join(notes)})" if notes else ""
    return Refusal(category, f"refused: {REFUSALS[category]} {shown}{suffix}")


def judge_name(host: str, *, allow_loopback: bool = False) -> Refusal | None:
    """A refusal for a host name that needs no lookup (a loopback or private-use name); else None."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        if allow_loopback:
            return None
        return Refusal(LOOPBACK, f"refused: {host} is a loopback name")
    suffix = next((s for s in PRIVATE_USE_SUFFIXES if name == s or name.endswith("." + s)), None)
    if suffix is not None:
        return Refusal(PRIVATE, f"refused: {host} is a private-use name (.{suffix})")
    return None


def judge_addresses(host: str, addresses: Iterable[IPAddress | str], *, allow_loopback: bool = False) -> Refusal | None:
    """The first refusal among the addresses ``host`` resolved to; None when every one is allowed."""
    for ip in addresses:
        refusal = judge_address(ip, allow_loopback=allow_loopback, name=host)
        if refusal is not None:
            return refusal
    return None


def ip_literal(host: str) -> IPAddress | None:
    """The address when ``host`` is an IP literal (brackets allowed), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
