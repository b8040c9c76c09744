"""Docker HEALTHCHECK of the workshop image: does JupyterLab answer on its port?

GET /api is the one Jupyter server endpoint that answers without the token (it
returns the server version), so the check needs no secret. Exit 0: healthy.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request


def main() -> int:
    port = os.environ.get("JUPYTER_PORT", "8888")
    url = f"http://127.0.0.1:{port}/api"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            version = json.load(response).get("version")
    except Exception as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    if not version:
        print(f"unhealthy: {url} answered without a server version", file=sys.stderr)
        return 1
    print(f"healthy: Jupyter server {version} on port {port}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
