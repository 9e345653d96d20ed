"""POST /api/v1/admin/events/{event_id}/waiting-list/{entry_id}/offer — coordinators and admins offer a waiting
entry its seats now, out of turn, when seats kept for the list or free seats can give them (409 otherwise)."""

from admin_waiting_list_schemas import AdminWaitingListEntry

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.domain.outbox import publish_after_commit
from crowdify.domain.waiting_list import entry_by_id, offer_seats
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.database import transaction

app = api_app(signed_in(*MANAGER_ROLES))


@app.post("/api/v1/admin/events/<event_id>/waiting-list/<entry_id>/offer")
def post_offer(event_id: str, entry_id: str) -> AdminWaitingListEntry:
    event, entry = uuid_or_not_found(event_id, "Event"), uuid_or_not_found(entry_id, "Waiting-list entry")
    with transaction() as connection:
        entry_by_id(connection, event, entry)
        offered = offer_seats(connection, event, only_entry=entry)
        view = entry_by_id(connection, event, entry)
    publish_after_commit(offered.messages)
    return AdminWaitingListEntry.model_validate(view, from_attributes=True)


lambda_handler = lambda_handler_for(app)
