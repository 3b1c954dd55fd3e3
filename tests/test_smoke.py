from webapp.models import Role, Via
from webapp.services import members, organizations


def test_owner_creates_org_and_adds_member(make_user, make_org):
    owner, other = make_user(), make_user()
    org = make_org(owner)
    account = members.add_members(owner, org.id, [other.id], role=Role.ADMIN, via=Via.CLI)
    assert account.member_count == 2
    assert organizations.get_my_role(other, org.id) is Role.ADMIN
