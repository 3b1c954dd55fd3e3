"""The member list as a file (DESIGN §9): the CSV export.

Whoever may see the member list may export it: the same filters and sort, every matching row,
no paging. The file is written as it is read, a batch of rows at a time, so its size does not
change the memory it takes.
"""

from __future__ import annotations

from collections.abc import Iterator

from webapp.inputs import MemberFilters
from webapp.models import User
from webapp.services import csv_files, member_list
from webapp.services.csv_files import flag, inert, utc_text

EXPORT_HEADER = ("user_id", "email", "name", "role", "is_active", "joined_at")


def export_members(actor: User, org_id: int, filters: MemberFilters) -> Iterator[str]:
    """The members ``filters`` match as CSV text, a batch of rows per chunk. Access is checked
    now (``all_matching``): a refusal is raised here, before the first chunk."""
    batches = member_list.all_matching(actor, org_id, filters)
    rows = (
        [
            (
                m.user_id,
                inert(m.email),
                inert(m.name),
                m.role.name,
                flag(m.is_active),
                utc_text(m.joined_at),
            )
            for m in batch
        ]
        for batch in batches
    )
    return csv_files.chunks(EXPORT_HEADER, rows)
