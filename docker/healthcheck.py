"""Docker HEALTHCHECK of the workshop image: does the running Jupyter server answer?

The server's own runtime file (jpserver-<pid>.json in the Jupyter runtime folder) gives its real
URL: scheme (TLS or not), port and base_url, whatever options it was started with. The check asks
``GET {url}api``, the one endpoint that answers without the token (the server version), so it
needs no secret. A certificate is not verified (the check only asks whether the server answers;
a self-signed one is common). With no runtime file of a live server, it falls back to
http://127.0.0.1:$JUPYTER_PORT/. Exit 0: healthy.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import urllib.request
from pathlib import Path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def server_urls(runtime_dir: Path) -> list[str]:
    """Loopback URLs of the live servers that left a runtime file, newest first.

    Built from the file's scheme (``secure``), ``port`` and ``base_url``; its ``url`` names the
    container's hostname, which is not always resolvable from inside.
    """
    found = []
    for path in sorted(runtime_dir.glob("jpserver-*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            info = json.loads(path.read_text())
            pid, port = int(info["pid"]), int(info["port"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _alive(pid):
            base_url = "/" + str(info.get("base_url") or "/").strip("/")
            base_url = base_url if base_url.endswith("/") else base_url + "/"
            found.append(f"{'https' if info.get('secure') else 'http'}://127.0.0.1:{port}{base_url}")
    return found


def runtime_dir() -> Path:
    """Jupyter's runtime folder, as jupyter_core finds it on Linux (without importing it: the check
    runs every 30 s and must start fast)."""
    if os.environ.get("JUPYTER_RUNTIME_DIR"):
        return Path(os.environ["JUPYTER_RUNTIME_DIR"])
    if os.environ.get("JUPYTER_DATA_DIR"):
        return Path(os.environ["JUPYTER_DATA_DIR"]) / "runtime"
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "jupyter" / "runtime"


def check(url: str) -> str:
    context = ssl._create_unverified_context() if url.startswith("https") else None
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    with opener.open(url + "api", timeout=4) as response:
        version = json.load(response).get("version")
    if not version:
        raise ValueError("answered without a server version")
    return version


def main() -> int:
    urls = server_urls(runtime_dir()) or [f"http://127.0.0.1:{os.environ.get('JUPYTER_PORT', '8888')}/"]
    try:
        version = check(urls[0])
    except Exception as exc:
        print(f"unhealthy: {urls[0]}api: {exc}", file=sys.stderr)
        return 1
    print(f"healthy: Jupyter server {version} at {urls[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
