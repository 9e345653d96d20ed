"""DELETE /api/v1/admin/events/{event_id}/waiting-list/{entry_id} — coordinators and admins remove someone from the
list (`removed`); an offer they hold is withdrawn and its seats go to the next in line."""

from admin_waiting_list_schemas import AdminWaitingListEntry

from crowdify.auth.callers import MANAGER_ROLES
from crowdify.core.identifiers import uuid_or_not_found
from crowdify.domain.waiting_list import remove
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import signed_in
from crowdify.persistence.database import transaction

app = api_app(signed_in(*MANAGER_ROLES))


@app.delete("/api/v1/admin/events/<event_id>/waiting-list/<entry_id>")
def delete_entry(event_id: str, entry_id: str) -> AdminWaitingListEntry:
    event, entry = uuid_or_not_found(event_id, "Event"), uuid_or_not_found(entry_id, "Waiting-list entry")
    with transaction() as connection:
        return AdminWaitingListEntry.model_validate(remove(connection, event, entry), from_attributes=True)


lambda_handler = lambda_handler_for(app)
