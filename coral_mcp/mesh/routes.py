"""The host's routes (netlink, through pyroute2) and the mesh subnet check against them."""

from __future__ import annotations

from ipaddress import IPv4Network

from pyroute2 import IPRoute, NetlinkError

from coral_mcp.errors import ConfigError


def host_routes() -> list[IPv4Network]:
    """IPv4 destinations routed on this host (all tables), default route excluded."""
    try:
        with IPRoute() as ipr:
            found = ipr.get_routes(family=2)
    except NetlinkError as exc:
        raise ConfigError(f"cannot read the routing table: {exc}") from None
    routes = []
    for route in found:
        dst, length = route.get("dst"), route.get("dst_len")
        if dst and length:
            routes.append(IPv4Network(f"{dst}/{length}", strict=False))
    return routes


def check_subnet_free(subnet: IPv4Network, routes: list[IPv4Network]) -> None:
    """ConfigError naming the route when `subnet` overlaps one of `routes`."""
    for route in routes:
        if route.prefixlen > 0 and subnet.overlaps(route) and not route.is_loopback:
            raise ConfigError(
                f"mesh subnet {subnet} overlaps the route to {route} on this host",
                hint="choose another with --subnet, e.g. 100.96.0.0/16 or 10.213.0.0/16",
            )
