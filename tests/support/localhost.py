"""Talking to a server the test started on this machine: a free port, and HTTP without any proxy."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # localhost: never through a proxy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(url: str) -> int:
    """The HTTP status of a GET, or 0 when nothing answers (yet)."""
    try:
        with DIRECT.open(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:  # URLError, a refused or reset connection, a timeout
        return 0
