"""GET /api/v1/admin/stats — admins see global figures; revenue per currency, never summed across currencies."""

from datetime import datetime
from typing import Annotated

from admin_schemas import CurrencyStats, DashboardStatsResponse, StatsPeriod
from admin_stats import CurrencyFigures, dashboard_figures
from aws_lambda_powertools.event_handler.openapi.params import Query

from crowdify.config.settings import get_settings
from crowdify.core.errors import InvalidRequest
from crowdify.core.timezones import in_event_zone
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.sessions import db_session

app = api_app(signed_in("admin"))


@app.get("/api/v1/admin/stats")
def get_dashboard_stats(
    date_from: Annotated[datetime | None, Query()] = None,
    date_to: Annotated[datetime | None, Query()] = None,
) -> DashboardStatsResponse:
    settings = get_settings()
    # Naive bounds are wall-clock time in the installation's default zone, like event times.
    date_from = in_event_zone(date_from, settings.default_timezone)
    date_to = in_event_zone(date_to, settings.default_timezone)
    if date_from and date_to and date_to < date_from:
        raise InvalidRequest("date_to must not be before date_from")
    with db_session() as session:
        figures = dashboard_figures(session, date_from, date_to)
    main_currency = settings.default_currency
    main = figures.by_currency.get(main_currency, CurrencyFigures())
    return DashboardStatsResponse(
        total_events=figures.total_events,
        active_events=figures.active_events,
        total_tickets_sold=figures.tickets_sold,
        total_revenue=main.revenue,
        currency=main_currency,
        period=StatsPeriod(from_date=date_from, to_date=date_to) if date_from or date_to else None,
        revenue_by_currency={currency: f.revenue for currency, f in figures.by_currency.items()},
        by_currency={
            currency: CurrencyStats(
                revenue=f.revenue, refunded=f.refunded, orders_paid=f.orders_paid, tickets_sold=f.tickets_sold
            )
            for currency, f in figures.by_currency.items()
        },
        orders_paid=figures.orders_paid,
        tickets_checked_in=figures.tickets_checked_in,
        tickets_held=figures.tickets_held,
    )


lambda_handler = lambda_handler_for(app)
