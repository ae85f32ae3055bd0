"""Health and readiness probe for the listener and the functions server (standard library only, so it runs in
the slim image, from systemd, or anywhere Python 3.11 is).

    python deploy/healthcheck.py                # one probe: exit 0 when /health answers 200, else 1
    python deploy/healthcheck.py --wait 30      # readiness: probe every 0.5 s until healthy or 30 s passed

The URL is HEALTHCHECK_URL, default http://127.0.0.1:9464/health (the listener's --metrics-port in the image).
The variable is deliberately not SALESFLOW_*: the listener refuses SALESFLOW_ variables it does not know, and
the probe shares the container's environment. The listener answers 200 while `ok` or `degraded` (store
reachable, wake-up channel down: it still polls) and 503 while `failing` (the store does not answer).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:9464/health"


def probe(url: str, timeout: float) -> tuple[bool, str]:
    """(healthy, what the endpoint said)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read().decode("utf-8", "replace")
            return response.status == 200, body
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}: {exc.read().decode('utf-8', 'replace')[:500]}"
    except (urllib.error.URLError, OSError) as exc:
        return False, f"unreachable: {exc}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("HEALTHCHECK_URL", DEFAULT_URL))
    parser.add_argument("--wait", type=float, default=0.0, help="seconds to keep probing until healthy")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds one probe may take")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.wait
    while True:
        healthy, said = probe(args.url, args.timeout)
        if healthy:
            try:
                status = json.loads(said).get("status", "ok")
            except (ValueError, AttributeError):
                status = "ok"
            print(f"healthy ({status}): {args.url}")
            return 0
        if time.monotonic() >= deadline:
            print(f"unhealthy: {args.url}: {said}", file=sys.stderr)
            return 1
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
