"""Twenty scanners scan the same ticket at the same instant: exactly one gets in."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from checkin import Scan, Scanner, Verdict, check_in_verified

from crowdify.auth.qr_tokens import keyring_from_settings
from crowdify.config.settings import get_settings
from crowdify.persistence.pg_connection import Connection, open_connection
from tests.support.devices import issue_device
from tests.support.identities import Identity, create_identity
from tests.support.tickets import checkin_rows, issue_tickets, ticket_row

SCANNERS = 20
Answer = TypeVar("Answer")


def race(
    database_url: str,
    scanners: list[Scanner],
    scan: Callable[[Connection, Scanner], Answer],
    expected_errors: tuple[type[Exception], ...] = (),
) -> list[Answer | Exception]:
    """Each scanner on a thread and a connection of its own, in a transaction, all released by one barrier. A scan
    that raises one of `expected_errors` is rolled back and answers with the error."""
    barrier = threading.Barrier(len(scanners))

    def run(scanner: Scanner) -> Answer | Exception:
        connection = open_connection(database_url, get_settings().database_behind_pooler)
        try:
            connection.begin()
            connection.execute("SELECT 1")  # the transaction has started before the race does
            barrier.wait(timeout=30)
            try:
                answer = scan(connection, scanner)
            except BaseException as error:
                connection.rollback()
                if isinstance(error, expected_errors):
                    return error
                raise
            connection.commit()
            return answer
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(scanners)) as pool:
        return list(pool.map(run, scanners))


def scan_all_at_once(database_url: str, scanners: list[Scanner], qr_signature: str, nonce: str | None) -> list[Verdict]:
    verified = keyring_from_settings(get_settings()).verify(qr_signature)
    return race(
        database_url,
        scanners,
        lambda connection, scanner: check_in_verified(
            connection, scanner, Scan(qr_signature=qr_signature, nonce=nonce), verified
        ),
    )


def test_twenty_scanners_at_once_one_accepted(db: str) -> None:
    ticket = issue_tickets(1).tickets[0]
    identities = [create_identity("scanner") for _ in range(SCANNERS)]
    scanners = [Scanner(id=identity.user_id, is_device=False) for identity in identities]

    verdicts = scan_all_at_once(db, scanners, ticket.qr_signature, nonce=None)

    assert Counter(verdict.status for verdict in verdicts) == {"accepted": 1, "already_used": SCANNERS - 1}
    winner_index = next(index for index, verdict in enumerate(verdicts) if verdict.status == "accepted")
    winner = verdicts[winner_index]
    # Every loser is told who was first and when: the winner's own time, to the microsecond.
    for verdict in verdicts:
        if verdict.status == "already_used":
            assert verdict.first_checked_in_by == scanners[winner_index].id
            assert verdict.first_checked_in_at == winner.checked_in_at
    row = ticket_row(ticket.id)
    assert row["status"] == "used"
    assert row["used_by_user_id"] == scanners[winner_index].id
    log = checkin_rows(ticket.id)
    assert len(log) == SCANNERS
    assert Counter(entry["result"] for entry in log) == {"accepted": 1, "already_used": SCANNERS - 1}
    assert {entry["actor_id"] for entry in log} == {scanner.id for scanner in scanners}


def test_twenty_devices_of_the_event_at_once_one_accepted(coordinator: Identity) -> None:
    issued = issue_tickets(1)
    devices = [issue_device(coordinator, issued.event_id, name=f"Puerta {n}") for n in range(SCANNERS)]
    scanners = [Scanner(id=device.id, is_device=True) for device in devices]

    verdicts = scan_all_at_once(db_url(), scanners, issued.tickets[0].qr_signature, nonce="same-nonce-per-device")

    assert Counter(verdict.status for verdict in verdicts) == {"accepted": 1, "already_used": SCANNERS - 1}
    assert len(checkin_rows(issued.tickets[0].id)) == SCANNERS


def test_one_scanner_retrying_one_nonce_at_once_gets_one_answer(scanner: Identity) -> None:
    # A phone that fires the same scan twenty times (timeouts, double taps): one check-in, one log row, one answer.
    ticket = issue_tickets(1).tickets[0]
    same_scanner = [Scanner(id=scanner.user_id, is_device=False)] * SCANNERS
    from checkin import _AnsweredConcurrently

    verified = keyring_from_settings(get_settings()).verify(ticket.qr_signature)

    def scan(connection: Connection, actor: Scanner) -> str:
        return check_in_verified(
            connection, actor, Scan(qr_signature=ticket.qr_signature, nonce="retry-me"), verified
        ).status

    outcomes = race(db_url(), same_scanner, scan, expected_errors=(_AnsweredConcurrently,))
    answers = [
        "answered-concurrently" if isinstance(outcome, _AnsweredConcurrently) else outcome for outcome in outcomes
    ]

    # Losers either read the winner's stored answer or are told to (the route then reads it: see check_in).
    assert len(answers) == SCANNERS and answers.count("accepted") >= 1
    assert set(answers) <= {"accepted", "answered-concurrently"}
    log = checkin_rows(ticket.id)
    assert [(entry["result"], entry["nonce"]) for entry in log] == [("accepted", "retry-me")]


def db_url() -> str:
    return get_settings().database_url
