"""`make device EVENT=<id> [NAME=…]`: a scanner device for an event of the running local stack, as a pairing link.

It asks the stack's own API (POST /api/v1/admin/scanner-devices, as an admin of that stack), so the link is exactly
what a coordinator gets. The link is the last line of the output (and the only line on stdout): open it on the phone,
or show it as a QR code, and the door app at /scan/ is paired.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request

from local.state import StackNotRunning, read_secrets, read_stack, use_shared_layer

ADMIN_EMAIL = "admin@crowdify.local"


def main(arguments: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.device", description=__doc__)
    parser.add_argument("--event", required=True, help="the event id the device scans")
    parser.add_argument("--name", default="Puerta", help="the device's name, shown in the app (default: Puerta)")
    options = parser.parse_args(arguments)
    try:
        stack = read_stack()
        jwt_secret = read_secrets()["JWT_SECRET"]
    except StackNotRunning as error:
        print(error, file=sys.stderr)
        return 1

    use_shared_layer()
    from crowdify.auth.backend_tokens import issue_user_token
    from crowdify.auth.users import set_role_by_email

    admin_token = issue_user_token(set_role_by_email(stack["database_url"], ADMIN_EMAIL, "admin"), jwt_secret)
    request = urllib.request.Request(
        f"{stack['gateway']}/api/v1/admin/scanner-devices",
        data=json.dumps({"name": options.name, "event_ids": [options.event]}).encode(),
        headers={"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            device = json.load(response)
    except urllib.error.HTTPError as error:
        print(f"The API refused the device ({error.code}): {error.read().decode(errors='replace')}", file=sys.stderr)
        return 1
    except urllib.error.URLError as error:
        print(f"Could not reach the local gateway ({error.reason}); is `make run` still running?", file=sys.stderr)
        return 1
    print(
        f"device {device['name']} ({device['id']}) for event {options.event}, until {device['expires_at']}",
        file=sys.stderr,
    )
    print(device["pairing_link"], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
