"""`fieldcase phone-hint`: how phones on the local network reach a demo or test server.

`make run` serves on 127.0.0.1, which no phone can reach. Unless FIELDCASE_PUBLIC_URL is set,
this finds the machine's address on the local network, says (Vietnamese, then English) how
to serve for phones, and prints that address's server URL as its last line, which
scripts/run-demo.sh gives the demo collector so its URL and QR code work on a phone.
The addresses are read from the network interfaces (an ioctl): nothing is sent anywhere.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import socket
import struct

import click

from server.cli.common import load_config

_SIOCGIFADDR = 0x8915  # Linux: an interface's IPv4 address


def _interface_address(name: str) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            packed = fcntl.ioctl(
                sock.fileno(), _SIOCGIFADDR, struct.pack("256s", name[:15].encode())
            )
        except OSError:
            return None  # no IPv4 address on it
    return socket.inet_ntoa(packed[20:24])


def lan_addresses() -> list[str]:
    """The machine's private IPv4 addresses (10/8, 172.16/12, 192.168/16 and the like), or
    its other non-loopback ones when it has none; interfaces in name order."""
    found = []
    for _index, name in sorted(socket.if_nameindex(), key=lambda item: item[1]):
        address = _interface_address(name)
        if address is None:
            continue
        parsed = ipaddress.IPv4Address(address)
        if parsed.is_loopback or parsed.is_link_local or parsed.is_unspecified:
            continue
        found.append(address)
    private = [a for a in found if ipaddress.IPv4Address(a).is_private]
    return private or found


def hint(lan_url: str) -> list[str]:
    """The lines that tell how to serve for phones, Vietnamese first."""
    command = f"FIELDCASE_HOST=0.0.0.0 FIELDCASE_PUBLIC_URL={lan_url} make run"
    return [
        "fieldcase: máy chủ chỉ nghe trên 127.0.0.1, điện thoại không kết nối được.",
        "  Để điện thoại trong cùng mạng kết nối, hãy chạy:",
        f"    {command}",
        "  Mã QR và địa chỉ máy chủ dưới đây dùng địa chỉ này.",
        "fieldcase: the server listens on 127.0.0.1 only, which no phone can reach.",
        "  For phones on the same network, run:",
        f"    {command}",
        "  The QR code and server URL below use that address.",
    ]


@click.command("phone-hint")
def phone_hint() -> None:
    """Unless FIELDCASE_PUBLIC_URL is set: how to serve for phones on the local network, and
    the server URL for this machine's LAN address as the last line (nothing when unknown)."""
    config = load_config()
    if os.environ.get("FIELDCASE_PUBLIC_URL"):
        return
    addresses = lan_addresses()
    if not addresses:
        click.echo(
            "fieldcase: không tìm thấy địa chỉ mạng nội bộ; hãy đặt FIELDCASE_PUBLIC_URL. / "
            "no local network address found; set FIELDCASE_PUBLIC_URL.",
            err=True,
        )
        return
    lan_url = f"http://{addresses[0]}:{config.port}"
    for line in hint(lan_url):
        click.echo(line, err=True)
    click.echo(lan_url)


COMMANDS = [phone_hint]
