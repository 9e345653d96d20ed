"""Users, roles, the old API's scanners and the organiser, through the admin handlers against real Postgres."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from crowdify.config.settings import reset_settings
from crowdify.persistence.database import engine
from local.supabase_auth_emulator import SupabaseAuthEmulator
from tests.support.api_gateway import call
from tests.support.identities import Identity, create_identity

USERS = "/api/v1/admin/users"
ROLE = "/api/v1/admin/users/{user_id}/role"
SCANNERS = "/api/v1/admin/scanners"
SCANNER = "/api/v1/admin/scanners/{scanner_id}"
ORGANIZER = "/api/v1/admin/organizer"
SERVICE_ROLE_KEY = "test-service-role-key"


def role_of(user_id: uuid.UUID | str) -> str:
    with engine().connect() as connection:
        return connection.execute(text("SELECT role FROM users WHERE id = :id"), {"id": user_id}).scalar_one()


def audit_rows(action: str) -> list:
    with engine().connect() as connection:
        return list(
            connection.execute(
                text("SELECT actor_user_id, entity_id, before, after FROM audit_log WHERE action = :a ORDER BY id"),
                {"a": action},
            )
        )


def set_role(identity: Identity, user_id: uuid.UUID, role: str):
    return call(
        "put_admin_user_role", "PUT", ROLE, {"user_id": str(user_id)}, body={"role": role}, token=identity.token
    )


def test_admin_lists_users_by_role_with_search_and_pages(admin: Identity, buyer: Identity, scanner: Identity) -> None:
    create_identity("user", email="maria.lopez@example.test")
    default = call("get_admin_users", "GET", USERS, token=admin.token)
    assert default.status == 200
    assert default.json()["total"] == 2, "the old API's default role filter is `user`"
    assert {user["role"] for user in default.json()["users"]} == {"user"}

    everyone = call("get_admin_users", "GET", USERS, query={"role": "all", "limit": "2"}, token=admin.token).json()
    assert everyone["total"] == 4 and len(everyone["users"]) == 2
    second_page = call(
        "get_admin_users", "GET", USERS, query={"role": "all", "limit": "2", "offset": "2"}, token=admin.token
    ).json()
    assert {u["id"] for u in everyone["users"]} | {u["id"] for u in second_page["users"]} == {
        str(i.user_id) for i in (admin, buyer, scanner)
    } | {u["id"] for u in default.json()["users"]}

    found = call("get_admin_users", "GET", USERS, query={"role": "all", "search": "MARIA"}, token=admin.token).json()
    assert [user["email"] for user in found["users"]] == ["maria.lopez@example.test"]
    scanners = call("get_admin_users", "GET", USERS, query={"role": "scanner"}, token=admin.token).json()
    assert [user["id"] for user in scanners["users"]] == [str(scanner.user_id)]
    assert set(scanners["users"][0]) >= {"id", "email", "first_name", "last_name", "role", "created_at"}

    bad = call("get_admin_users", "GET", USERS, query={"role": "superuser"}, token=admin.token)
    assert bad.status == 422 and isinstance(bad.json()["detail"], list)


def test_role_change_holds_from_the_next_request_whatever_the_token_says(admin: Identity, buyer: Identity) -> None:
    promoted = set_role(admin, buyer.user_id, "coordinator")
    assert promoted.status == 200 and promoted.json()["role"] == "coordinator"
    # The buyer's token is unchanged; the database now says coordinator.
    assert call("get_admin_events", "GET", "/api/v1/admin/events", token=buyer.token).status == 200
    assert set_role(admin, buyer.user_id, "user").status == 200
    assert call("get_admin_events", "GET", "/api/v1/admin/events", token=buyer.token).status == 403

    [promotion, demotion] = audit_rows("user.role_change")
    assert promotion.actor_user_id == admin.user_id and promotion.entity_id == str(buyer.user_id)
    assert (promotion.before["role"], promotion.after["role"]) == ("user", "coordinator")
    assert (demotion.before["role"], demotion.after["role"]) == ("coordinator", "user")


def test_unknown_role_and_unknown_user_are_refused(admin: Identity, buyer: Identity) -> None:
    assert set_role(admin, buyer.user_id, "owner").status == 422
    assert set_role(admin, uuid.uuid4(), "scanner").status == 404
    assert (
        call("put_admin_user_role", "PUT", ROLE, {"user_id": "nope"}, body={"role": "user"}, token=admin.token).status
        == 404
    )
    assert role_of(buyer.user_id) == "user"


def test_the_last_admin_keeps_the_role(admin: Identity) -> None:
    refused = set_role(admin, admin.user_id, "user")
    assert refused.status == 409 and "last admin" in refused.json()["detail"]
    assert role_of(admin.user_id) == "admin" and audit_rows("user.role_change") == []

    second = create_identity("admin")
    assert set_role(admin, admin.user_id, "coordinator").status == 200, "another admin remains"
    assert role_of(admin.user_id) == "coordinator"
    assert set_role(second, second.user_id, "user").status == 409


def test_two_admins_demoting_each_other_at_once_leave_one_admin(admin: Identity) -> None:
    from user_roles import change_role

    from crowdify.core.errors import Conflict
    from crowdify.persistence.sessions import db_session

    other = create_identity("admin")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(actor: Identity, target: Identity) -> None:
        barrier.wait()
        try:
            with db_session() as session:
                change_role(session, target.user_id, "user", actor.user_id)
            outcomes.append("demoted")
        except Conflict:
            outcomes.append("refused")

    threads = [threading.Thread(target=demote, args=pair) for pair in ((admin, other), (other, admin))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["demoted", "refused"]
    assert sorted([role_of(admin.user_id), role_of(other.user_id)]) == ["admin", "user"]


def test_scanners_of_the_old_api_without_supabase(admin: Identity, buyer: Identity, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    body = {"email": "puerta@example.test", "first_name": "Ana", "last_name": "Puerta", "password": "s3cret-Passw0rd"}
    created = call("post_admin_scanners", "POST", SCANNERS, body=body, token=admin.token)
    assert created.status == 201, created.body
    scanner = created.json()
    assert (scanner["email"], scanner["first_name"], scanner["role"]) == ("puerta@example.test", "Ana", "scanner")

    promoted = call(
        "post_admin_scanners", "POST", SCANNERS, body={**body, "email": buyer.email.upper()}, token=admin.token
    )
    assert promoted.status == 201 and promoted.json()["id"] == str(buyer.user_id), "a known email is promoted"
    listed = call("get_admin_scanners", "GET", SCANNERS, token=admin.token).json()["scanners"]
    assert {s["id"] for s in listed} == {scanner["id"], str(buyer.user_id)}

    removed = call("delete_admin_scanner", "DELETE", SCANNER, {"scanner_id": scanner["id"]}, token=admin.token)
    assert removed.status == 200 and removed.json()["user_id"] == scanner["id"]
    assert role_of(scanner["id"]) == "user"
    again = call("delete_admin_scanner", "DELETE", SCANNER, {"scanner_id": scanner["id"]}, token=admin.token)
    assert again.status == 404

    assert len(audit_rows("scanner.create")) == 1 and len(audit_rows("scanner.promote")) == 1
    assert len(audit_rows("scanner.remove")) == 1
    with engine().connect() as connection:
        stored = connection.execute(
            text("SELECT count(*) FROM audit_log WHERE before::text LIKE '%s3cret%' OR after::text LIKE '%s3cret%'")
        ).scalar_one()
    assert stored == 0, "the password is never stored"
    assert "s3cret-Passw0rd" not in caplog.text


@pytest.fixture
def supabase_auth(monkeypatch: pytest.MonkeyPatch) -> Iterator[SupabaseAuthEmulator]:
    emulator = SupabaseAuthEmulator(SERVICE_ROLE_KEY).start()
    monkeypatch.setenv("SUPABASE_URL", emulator.url)
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", SERVICE_ROLE_KEY)
    reset_settings()
    yield emulator
    emulator.stop()
    monkeypatch.undo()
    reset_settings()


def test_scanner_created_in_supabase_auth_with_the_same_id(
    admin: Identity, supabase_auth: SupabaseAuthEmulator, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    body = {"email": "door2@example.test", "first_name": "Luis", "last_name": "Door", "password": "another-Passw0rd"}
    created = call("post_admin_scanners", "POST", SCANNERS, body=body, token=admin.token)
    assert created.status == 201, created.body
    [account] = supabase_auth.users()
    assert account["id"] == created.json()["id"], "the Supabase token's sub names this user"
    assert account["app_metadata"]["role"] == "scanner" and account["email_confirmed_at"] is not None
    assert supabase_auth.password_matches("door2@example.test", "another-Passw0rd")
    assert "another-Passw0rd" not in caplog.text and "another-Passw0rd" not in created.body

    duplicate = call(
        "post_admin_scanners", "POST", SCANNERS, body={**body, "email": "x@example.test"}, token=admin.token
    )
    assert duplicate.status == 201 and len(supabase_auth.users()) == 2


def test_supabase_refusals_and_outages_change_nothing(admin: Identity, supabase_auth: SupabaseAuthEmulator) -> None:
    weak = {"email": "weak@example.test", "first_name": "W", "last_name": "K", "password": "123"}
    refused = call("post_admin_scanners", "POST", SCANNERS, body=weak, token=admin.token)
    assert refused.status == 422 and "123" not in refused.body

    supabase_auth.set_faults(500, 1)
    down = call("post_admin_scanners", "POST", SCANNERS, body={**weak, "password": "long-enough"}, token=admin.token)
    assert down.status == 503
    with engine().connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM users WHERE role = 'scanner'")).scalar_one() == 0
    assert audit_rows("scanner.create") == []

    # An account that exists in Supabase but not here cannot be adopted blindly: 409 with what to do.
    assert (
        call(
            "post_admin_scanners", "POST", SCANNERS, body={**weak, "password": "long-enough"}, token=admin.token
        ).status
        == 201
    )
    with engine().begin() as connection:
        connection.execute(text("DELETE FROM audit_log"))
        connection.execute(text("DELETE FROM users WHERE email = 'weak@example.test'"))
    conflict = call(
        "post_admin_scanners", "POST", SCANNERS, body={**weak, "password": "long-enough"}, token=admin.token
    )
    assert conflict.status == 409


def test_organizer_read_and_update(admin: Identity) -> None:
    organizer = call("get_admin_organizer", "GET", ORGANIZER, token=admin.token)
    assert organizer.status == 200
    assert set(organizer.json()) >= {"id", "org_name", "contact_email", "contact_phone", "user_id", "created_at"}
    assert organizer.json()["user_id"] == "", "no admin claimed it yet: the fixture inserts admins directly"

    updated = call(
        "put_admin_organizer",
        "PUT",
        ORGANIZER,
        body={"org_name": "Crowdify Chile", "contact_email": "hola@crowdify.example"},
        token=admin.token,
    )
    assert updated.status == 200
    assert (updated.json()["org_name"], updated.json()["contact_email"]) == ("Crowdify Chile", "hola@crowdify.example")
    assert updated.json()["contact_phone"] == organizer.json()["contact_phone"], "fields not sent stay"
    [change] = audit_rows("organizer.update")
    assert change.before["org_name"] == organizer.json()["org_name"] and change.after["org_name"] == "Crowdify Chile"
    bad = call("put_admin_organizer", "PUT", ORGANIZER, body={"contact_email": "not-an-email"}, token=admin.token)
    assert bad.status == 422
    # Put the name back: the organiser row outlives each test.
    call("put_admin_organizer", "PUT", ORGANIZER, body={"org_name": organizer.json()["org_name"]}, token=admin.token)
