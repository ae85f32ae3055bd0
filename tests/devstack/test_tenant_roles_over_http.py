"""Role rules of tenant_members as the browser meets them: an admin cannot make themselves owner.

The rules live in SQL (supabase/tests/007_tenant_member_roles.sql states each one as each role); this is the
path the issue found open, through /rest/v1 with a signed-in admin's token, refused with the rule named.
"""

from __future__ import annotations

import httpx

from tests.conftest import MAX, NORDLICHT
from tests.devstack.conftest import RunningStack

BEA = "b0000000-0000-4000-8000-000000000001"  # owner of Nordlicht; Max is its admin


def members(stack: RunningStack) -> list[tuple[str, str]]:
    return [(str(u), r) for u, r in stack.sql("select user_id, role from public.tenant_members where tenant_id = %s "
                                              "order by user_id", (NORDLICHT,))]


def test_an_admin_cannot_make_themselves_owner_nor_demote_or_remove_the_owner(running_stack: RunningStack) -> None:
    token = running_stack.sign_in("max@consult.test")["access_token"]
    headers = running_stack.headers(token, Prefer="return=representation")
    url = f"{running_stack.url}/rest/v1/tenant_members"
    before = members(running_stack)
    assert (MAX, "admin") in before and (BEA, "owner") in before

    promote = httpx.patch(url, headers=headers, params={"tenant_id": f"eq.{NORDLICHT}", "user_id": f"eq.{MAX}"},
                          json={"role": "owner"})
    assert promote.status_code == 403, promote.text
    assert promote.json()["code"] == "42501"
    assert promote.json()["message"] == "tenant_members.role: nobody can change their own role (another owner does)"

    demote = httpx.patch(url, headers=headers, params={"tenant_id": f"eq.{NORDLICHT}", "user_id": f"eq.{BEA}"},
                         json={"role": "member"})
    assert demote.status_code == 403, demote.text
    assert demote.json()["message"] == "tenant_members.role: only an owner can revoke the owner role"

    remove = httpx.delete(url, headers=headers, params={"tenant_id": f"eq.{NORDLICHT}", "user_id": f"eq.{BEA}"})
    assert remove.status_code == 403, remove.text
    assert remove.json()["message"] == "tenant_members.role: only an owner can revoke the owner role"

    assert members(running_stack) == before
