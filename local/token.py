"""`make token ROLE=… [EMAIL=…]`: a backend JWT for a user of the running local stack.

The user is created (or updated) with that role in the stack's database. Standard output is two lines a shell
can capture: `user_id=<uuid>` (a purchase names its buyer), then the bare JWT, last, so that
`make -s token ROLE=admin | tail -n1` is the token and `sed -n 's/^user_id=//p'` the id.
"""

from __future__ import annotations

import argparse
import sys

from local.state import StackNotRunning, read_secrets, read_stack, use_shared_layer

ROLES = ("admin", "coordinator", "scanner", "user")


def main(arguments: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.token", description=__doc__)
    parser.add_argument("--role", required=True, choices=ROLES)
    parser.add_argument("--email", help="default: {role}@crowdify.local")
    options = parser.parse_args(arguments)
    email = options.email or f"{options.role}@crowdify.local"
    try:
        database_url = read_stack()["database_url"]
        jwt_secret = read_secrets()["JWT_SECRET"]
    except StackNotRunning as error:
        print(error, file=sys.stderr)
        return 1

    use_shared_layer()
    from sqlalchemy.exc import DBAPIError

    from crowdify.auth.backend_tokens import issue_user_token
    from crowdify.auth.users import set_role_by_email

    try:
        user_id = set_role_by_email(database_url, email, options.role)
    except DBAPIError as error:
        print(
            f"Could not reach the local stack's database ({error.orig}); is `make run` still running?",
            file=sys.stderr,
        )
        return 1
    print(f"{options.role} {email}", file=sys.stderr)
    print(f"user_id={user_id}")
    print(issue_user_token(user_id, jwt_secret), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
