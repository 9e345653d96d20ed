"""The admin dashboards at size: `GET /api/v1/admin/stats` and `GET /api/v1/admin/events` (plus one event's stats).

A fresh migrated database of its own on the test server is bulk-loaded with INSERT … SELECT generate_series (not
the ORM): first 20 events with 10,000 tickets, then 180 more events up to 200 events and 100,000 tickets — two
orders' worth of tickets per order, 2 % of orders partially refunded, a quarter of the tickets checked in, a few
live holds per event, one event in five in ARS. The real handlers run in-process with API Gateway v2 events and an
admin token. Figures:
- SQL statements per request at 20 and at 200 events (a `before_cursor_execute` listener; BEGIN/COMMIT and pool
  pings are not statements; the role lookup is): they must be equal;
- latency p50/p95 in milliseconds over 25 requests after a warm-up, at 200 events.

`python -m bench.admin` prints the figures; `make bench` collects them with the other benchmarks.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

from tests.support.api_gateway import LambdaContext

REPOSITORY = Path(__file__).resolve().parent.parent
FIRST_EVENTS = 20
ALL_EVENTS = 200
TICKETS_PER_EVENT = 500
REQUESTS = 25
ENVIRONMENT = {
    "JWT_SECRET": "bench-jwt-secret-that-is-long-enough-for-hs256",
    "POWERTOOLS_SERVICE_NAME": "crowdify-bench",
    "POWERTOOLS_METRICS_NAMESPACE": "CrowdifyBench",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}

_EVENTS = """
INSERT INTO events (id, organizer_id, name, starts_at, ends_at, timezone, currency, capacity_total, status, category)
SELECT gen_random_uuid(), (SELECT id FROM organizers WHERE is_default), 'Bench event ' || g,
       now() + (g - 100) * interval '1 day', now() + (g - 100) * interval '1 day' + interval '3 hours',
       'America/Santiago', CASE WHEN mod(g, 5) = 0 THEN 'ARS' ELSE 'CLP' END, 1000, 'published', 'musica'
  FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS g
"""
_TICKET_TYPES = """
INSERT INTO ticket_types (id, event_id, name, price, is_child, is_default, capacity)
SELECT gen_random_uuid(), e.id, kind.name, kind.price, kind.is_child, true, kind.capacity
  FROM events e
 CROSS JOIN (VALUES ('General', 10000, false, NULL), ('Niño', 5000, true, 100)) AS kind(name, price, is_child, capacity)
 WHERE NOT EXISTS (SELECT 1 FROM ticket_types tt WHERE tt.event_id = e.id)
"""
_SERVICES = """
INSERT INTO event_services (id, event_id, name, price, service_type, stock_total)
SELECT gen_random_uuid(), e.id, 'Estacionamiento', 3000, 'parking', 200
  FROM events e WHERE NOT EXISTS (SELECT 1 FROM event_services s WHERE s.event_id = e.id)
"""
# Paid orders of two tickets each (every 50th partially refunded), and five live holds per event.
_ORDERS = """
INSERT INTO orders (id, user_id, event_id, status, currency, total, refunded_amount, buyer_email, hold_expires_at,
                    payment_id, paid_at)
SELECT gen_random_uuid(), :buyer, e.id,
       CASE WHEN k > CAST(:paid AS integer) THEN 'pending'
            WHEN mod(k, 50) = 0 THEN 'partially_refunded' ELSE 'completed' END,
       e.currency, 20000, CASE WHEN k <= CAST(:paid AS integer) AND mod(k, 50) = 0 THEN 10000 ELSE 0 END,
       'buyer@bench.test',
       now() + interval '10 minutes',
       CASE WHEN k <= CAST(:paid AS integer) THEN 'bench-' || e.id || '-' || k END,
       CASE WHEN k <= CAST(:paid AS integer) THEN now() - mod(k, 30) * interval '1 day' END
  FROM events e CROSS JOIN generate_series(1, CAST(:paid AS integer) + 5) AS k
 WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.event_id = e.id)
"""
_ITEMS = """
INSERT INTO order_items (id, order_id, ticket_type_id, quantity, unit_price)
SELECT gen_random_uuid(), o.id, tt.id, 2, 10000
  FROM orders o JOIN ticket_types tt ON tt.event_id = o.event_id AND tt.is_default AND NOT tt.is_child
 WHERE NOT EXISTS (SELECT 1 FROM order_items oi WHERE oi.order_id = o.id)
"""
_ATTENDEES = """
INSERT INTO attendees (id, order_id, order_item_id, position, first_name, last_name, document_type, document_number)
SELECT gen_random_uuid(), oi.order_id, oi.id, p, 'Bench', 'Attendee ' || p, 'RUT', left(oi.id::text, 8) || '-' || p
  FROM order_items oi CROSS JOIN generate_series(1, 2) AS p
 WHERE NOT EXISTS (SELECT 1 FROM attendees a WHERE a.order_item_id = oi.id)
"""
_TICKETS = """
INSERT INTO tickets (id, order_id, order_item_id, attendee_id, event_id, ticket_type_id, holder_first_name,
                     holder_last_name, holder_document_type, holder_document_number, qr_signature, status,
                     issued_at, used_at)
SELECT gen_random_uuid(), a.order_id, a.order_item_id, a.id, o.event_id, oi.ticket_type_id, a.first_name,
       a.last_name, 'RUT', a.document_number, 'bench-' || a.id,
       CASE WHEN o.status = 'partially_refunded' AND a.position = 2 THEN 'cancelled'
            WHEN mod(abs(hashtext(a.id::text)), 4) = 0 THEN 'used' ELSE 'issued' END,
       o.paid_at,
       CASE WHEN NOT (o.status = 'partially_refunded' AND a.position = 2) AND mod(abs(hashtext(a.id::text)), 4) = 0
            THEN o.paid_at + interval '1 hour' END
  FROM attendees a JOIN orders o ON o.id = a.order_id JOIN order_items oi ON oi.id = a.order_item_id
 WHERE o.status <> 'pending' AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.attendee_id = a.id)
"""


def _load(connection: Any, first: int, last: int, buyer: uuid.UUID) -> None:
    from sqlalchemy import text

    # The engine's 8 s statement timeout is for requests, not for loading 90,000 tickets at once.
    connection.execute(text("SET LOCAL statement_timeout = 0"))
    connection.execute(text(_EVENTS), {"first": first, "last": last})
    connection.execute(text(_TICKET_TYPES))
    connection.execute(text(_SERVICES))
    connection.execute(text(_ORDERS), {"buyer": buyer, "paid": TICKETS_PER_EVENT // 2})
    for statement in (_ITEMS, _ATTENDEES, _TICKETS):
        connection.execute(text(statement))
    connection.execute(text("ANALYZE"))


def _event(route: str, path: str, token: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": f"GET {route}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"authorization": f"Bearer {token}"},
        "requestContext": {
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": str(uuid.uuid4()),
            "routeKey": f"GET {route}",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }


class _StatementCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_: Any) -> None:
        self.count += 1


def _invoke(module: Any, event: dict[str, Any]) -> None:
    answer = module.lambda_handler(event, LambdaContext(function_name="bench-admin"))
    if answer["statusCode"] != 200:
        raise RuntimeError(f"{event['rawPath']} answered {answer['statusCode']}: {answer['body'][:300]}")
    json.loads(answer["body"])


def _statements(counter: _StatementCounter, module: Any, event: dict[str, Any]) -> int:
    before = counter.count
    _invoke(module, event)
    return counter.count - before


def _latency_ms(module: Any, event: dict[str, Any]) -> dict[str, float]:
    _invoke(module, event)
    samples = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        _invoke(module, event)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 1),
    }


def run() -> dict[str, Any]:
    for folder in (REPOSITORY / "layers" / "shared", REPOSITORY / "functions" / "admin", REPOSITORY):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    from sqlalchemy import create_engine, text
    from sqlalchemy import event as sqlalchemy_event
    from sqlalchemy.pool import NullPool

    from crowdify.auth.backend_tokens import issue_user_token
    from crowdify.config.settings import reset_settings
    from crowdify.persistence.database import dispose_engine, driver_url_and_arguments, engine
    from crowdify.persistence.migrations import upgrade_to_head
    from local.postgres import create_database, drop_database, test_server_url

    server_url = test_server_url()
    name = f"crowdify_bench_admin_{uuid.uuid4().hex[:8]}"
    database_url = create_database(server_url, name)
    previous = {key: os.environ.get(key) for key in (*ENVIRONMENT, "DATABASE_URL")}
    os.environ.update({**ENVIRONMENT, "DATABASE_URL": database_url})
    reset_settings()
    dispose_engine()
    # Loading takes longer than the request path's socket timeout: the loader gets an engine without one.
    loader_url, loader_arguments = driver_url_and_arguments(database_url)
    loader = create_engine(loader_url, connect_args=loader_arguments, poolclass=NullPool)
    try:
        upgrade_to_head(database_url)
        admin_id, buyer_id = uuid.uuid4(), uuid.uuid4()
        with loader.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (id, email, role)"
                    " VALUES (:a, 'admin@bench.test', 'admin'), (:b, 'buyer@bench.test', 'user')"
                ),
                {"a": admin_id, "b": buyer_id},
            )
        token = issue_user_token(str(admin_id), ENVIRONMENT["JWT_SECRET"])

        import get_admin_event_stats
        import get_admin_events
        import get_admin_stats

        counter = _StatementCounter()
        sqlalchemy_event.listen(engine(), "before_cursor_execute", counter)
        stats_event = _event("/api/v1/admin/stats", "/api/v1/admin/stats", token)
        events_event = _event("/api/v1/admin/events", "/api/v1/admin/events", token)

        def one_event_stats() -> dict[str, Any]:
            with loader.connect() as connection:
                event_id = connection.execute(text("SELECT id FROM events ORDER BY starts_at LIMIT 1")).scalar_one()
            path = f"/api/v1/admin/events/{event_id}/stats"
            event = _event("/api/v1/admin/events/{event_id}/stats", path, token)
            event["pathParameters"] = {"event_id": str(event_id)}
            return event

        statements: dict[str, dict[str, int]] = {}
        for size, first, last in ((FIRST_EVENTS, 1, FIRST_EVENTS), (ALL_EVENTS, FIRST_EVENTS + 1, ALL_EVENTS)):
            with loader.begin() as connection:
                _load(connection, first, last, buyer_id)
            statements[f"at_{size}_events"] = {
                "stats": _statements(counter, get_admin_stats, stats_event),
                "events_overview": _statements(counter, get_admin_events, events_event),
                "event_stats": _statements(counter, get_admin_event_stats, one_event_stats()),
            }
        with loader.connect() as connection:
            tickets = connection.execute(text("SELECT count(*) FROM tickets")).scalar_one()
            events = connection.execute(text("SELECT count(*) FROM events")).scalar_one()
        return {
            "events": events,
            "tickets": tickets,
            "stats": _latency_ms(get_admin_stats, stats_event),
            "events_overview": _latency_ms(get_admin_events, events_event),
            "event_stats": _latency_ms(get_admin_event_stats, one_event_stats()),
            "statements": statements,
            "statements_constant": statements[f"at_{FIRST_EVENTS}_events"] == statements[f"at_{ALL_EVENTS}_events"],
        }
    finally:
        dispose_engine()
        loader.dispose()
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_settings()
        drop_database(server_url, name)


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
