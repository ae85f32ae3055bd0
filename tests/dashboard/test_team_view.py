"""The Team view in a browser: a new user signs up and creates a tenant; an owner invites by email (the listener
sends the link through the outbox); the invitee follows the link, signs up and joins as member; used and
expired links are refused; an admin cannot invite an admin or grant it; a member sees no invite form."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from salesflow.db.claims import act_as
from tests.conftest import ACME, ANNA, BEN, NORDLICHT, member_claims
from tests.dashboard.conftest import PASSWORD, Listener, RunningStack
from tests.polling import wait_until_sync

LINK = re.compile(r"(http://\S+/dashboard/#/team\?invitation=[0-9a-f]{64})")


@pytest.fixture(scope="module")
def listener(dashboard_stack: RunningStack) -> Iterator[Listener]:
    """`salesflow listen` with the product's handlers: team.send_invitation emails through the outbox."""
    running = Listener(dashboard_stack.database_url)
    try:
        yield running
    finally:
        running.stop()


def sent_link(stack: RunningStack, email: str, timeout: float = 30) -> str:
    """The invitation link in the mail the outbox recorded for `email`."""
    def mail() -> Any:
        rows = stack.sql("select e.provider, e.detail from private.invitation_emails e join public.invitations i "
                         "on i.id = e.invitation_id where i.email = %s order by e.sent_at desc limit 1", (email,))
        return rows[0] if rows else None
    provider, detail = wait_until_sync(mail, timeout=timeout, every=0.2, what=f"the invitation mail to {email}")
    assert provider == "outbox"
    assert detail["to"] == email and detail["rendered"]["envelope_to"] == [email]
    found = LINK.search(detail["rendered"]["body"])
    assert found, detail["rendered"]["body"]
    return found[1]


def invite_as(stack: RunningStack, user: str, tenant: str, email: str, role: str = "member") -> str:
    """An invitation made directly in SQL as `user` (RLS and the rules apply); returns its raw token."""
    with psycopg.connect(stack.database_url) as conn:
        act_as(conn, member_claims(user, tenant))
        row = conn.execute("select public.invite_member(%s, %s, %s)",
                           (email, role, f"{stack.url}/dashboard/")).fetchone()
        assert row is not None
        # Read in the same transaction: once committed, the listener may send it and drop the raw token.
        conn.execute("reset role")
        found = conn.execute("select token from private.invitation_tokens where invitation_id = %s",
                             (row[0]["id"],)).fetchone()
        conn.commit()
    assert found is not None
    return str(found[0])


def script_errors(page: Any) -> list[str]:
    """Console errors of the page's scripts (a 404 of a resource, e.g. a view module still to land, is the
    shell's to skip)."""
    return [e for e in page.console_errors if not e.startswith("Failed to load resource")]


def sign_up_http(stack: RunningStack, email: str) -> None:
    response = httpx.post(f"{stack.url}/auth/v1/signup", headers={"apikey": stack.stack.anon_key},
                          json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text


def test_a_new_user_signs_up_and_creates_a_tenant(
    dashboard_stack: RunningStack, new_page: Callable[..., Any], screenshot: Callable[[Any, str], Any],
) -> None:
    email = f"founder-{uuid.uuid4().hex[:6]}@example.test"
    page = new_page()
    page.goto(f"{dashboard_stack.url}/dashboard/")
    page.wait_for_selector("body[data-ready='true']")
    page.get_by_test_id("shell-lang").select_option("en")
    page.get_by_test_id("team-signup-toggle").click()
    page.get_by_test_id("team-signup-email").fill(email)
    page.get_by_test_id("team-signup-password").fill(PASSWORD)
    screenshot(page, "team-signup-en")
    page.get_by_test_id("team-signup-button").click()
    page.wait_for_selector("body[data-signed-in='true']")
    page.get_by_test_id("team-no-tenant").wait_for()
    assert page.get_by_test_id("shell-tenant").is_hidden()
    screenshot(page, "team-no-tenant-en")
    page.get_by_label("Tenant name").fill("Founders Ltd")
    page.get_by_test_id("team-create-button").click()
    page.wait_for_selector("[data-testid='shell-tenant']:has-text('Founders Ltd')")
    assert page.get_by_test_id("shell-role").inner_text() == "Owner"
    page.goto(f"{dashboard_stack.url}/dashboard/#/team")
    row = page.locator(f"[data-testid='team-member-row'][data-email='{email}']")
    row.wait_for()
    assert "Owner" in row.inner_text() and "(you)" in row.inner_text()
    screenshot(page, "team-owner-new-tenant-en")
    members = dashboard_stack.sql("select m.role from public.tenant_members m join auth.users u on u.id = m.user_id "
                                  "join public.tenants t on t.id = m.tenant_id where u.email = %s "
                                  "and t.name = 'Founders Ltd'", (email,))
    assert members == [("owner",)]
    assert not script_errors(page), page.console_errors


def test_an_owner_invites_by_email_and_the_invitee_joins_through_the_link(
    dashboard_stack: RunningStack, listener: Listener, signed_in_page: Callable[..., Any], new_page: Callable[..., Any],
    screenshot: Callable[[Any, str], Any],
) -> None:
    invitee = f"ivy-{uuid.uuid4().hex[:6]}@example.test"
    anna = signed_in_page("anna@acme.test")
    anna.goto(f"{dashboard_stack.url}/dashboard/#/team")
    anna.get_by_test_id("team-members-table").wait_for()
    anna.get_by_label("Email address").fill(invitee)
    anna.get_by_test_id("team-invite-role").select_option("member")
    anna.get_by_test_id("team-invite-button").click()
    anna.wait_for_selector(f"[data-testid='team-status']:has-text('Invitation for {invitee} created')")
    pending = anna.locator(f"[data-testid='team-pending-row'][data-email='{invitee}']")
    pending.wait_for()

    link = sent_link(dashboard_stack, invitee)
    assert link.startswith(f"{dashboard_stack.url}/dashboard/#/team?invitation=")
    # The open invitation shows that its mail went out (the view refreshes it).
    pending.locator("[data-testid='team-pending-sent']").wait_for(timeout=10_000)
    screenshot(anna, "team-owner-invited-en")

    ivy = new_page()
    ivy.goto(link)
    ivy.wait_for_selector("body[data-ready='true']")
    ivy.get_by_test_id("shell-lang").select_option("en")
    assert ivy.get_by_test_id("team-signup").get_attribute("open") is not None, "the link opens the sign-up box"
    ivy.get_by_test_id("team-signup-email").fill(invitee)
    ivy.get_by_test_id("team-signup-password").fill(PASSWORD)
    ivy.get_by_test_id("team-signup-button").click()
    ivy.wait_for_selector("body[data-signed-in='true']")
    ivy.get_by_test_id("team-accept-button").wait_for()
    screenshot(ivy, "team-invitee-accept-en")
    ivy.get_by_test_id("team-accept-button").click()
    ivy.wait_for_selector("[data-testid='shell-tenant']:has-text('Acme Sales')")
    assert ivy.get_by_test_id("shell-role").inner_text() == "Member"
    assert "invitation=" not in ivy.url, "the used token leaves the address bar"
    # A member sees the team but no invite form.
    ivy.goto(f"{dashboard_stack.url}/dashboard/#/team")
    ivy.get_by_test_id("team-member-note").wait_for()
    assert ivy.get_by_test_id("team-invite-form").count() == 0
    screenshot(ivy, "team-member-en")

    joined = dashboard_stack.sql("select m.role from public.tenant_members m join auth.users u on u.id = m.user_id "
                                 "where u.email = %s and m.tenant_id = %s", (invitee, ACME))
    assert joined == [("member",)]
    anna.reload()
    anna.locator(f"[data-testid='team-member-row'][data-email='{invitee}']").wait_for()
    assert anna.locator(f"[data-testid='team-pending-row'][data-email='{invitee}']").count() == 0

    # The same link again: refused, nothing changes.
    ivy.goto(link)
    ivy.get_by_test_id("team-accept-button").click()
    ivy.wait_for_selector("[data-testid='team-status'].error")
    assert "already used" in ivy.get_by_test_id("team-status").inner_text()
    screenshot(ivy, "team-link-reused-en")


def test_an_expired_link_is_refused(
    dashboard_stack: RunningStack, signed_in_page: Callable[..., Any], screenshot: Callable[[Any, str], Any],
) -> None:
    email = f"late-{uuid.uuid4().hex[:6]}@example.test"
    token = invite_as(dashboard_stack, ANNA, ACME, email)
    dashboard_stack.sql("update public.invitations set created_at = now() - interval '8 days', "
                        "expires_at = now() - interval '1 day' where email = %s", (email,))
    sign_up_http(dashboard_stack, email)
    page = signed_in_page(email)
    page.goto(f"{dashboard_stack.url}/dashboard/#/team?invitation={token}")
    page.get_by_test_id("team-accept-button").click()
    page.wait_for_selector("[data-testid='team-status'].error")
    assert "expired" in page.get_by_test_id("team-status").inner_text()
    screenshot(page, "team-link-expired-en")
    assert dashboard_stack.sql("select count(*) from public.tenant_members m join auth.users u on u.id = m.user_id "
                               "where u.email = %s", (email,)) == [(0,)]


def test_a_link_for_another_address_is_refused(
    dashboard_stack: RunningStack, signed_in_page: Callable[..., Any],
) -> None:
    token = invite_as(dashboard_stack, ANNA, ACME, f"someone-{uuid.uuid4().hex[:6]}@example.test")
    page = signed_in_page("bea@nordlicht.test")
    page.goto(f"{dashboard_stack.url}/dashboard/#/team?invitation={token}")
    page.get_by_test_id("team-accept-button").click()
    page.wait_for_selector("[data-testid='team-status'].error")
    assert "you are signed in as bea@nordlicht.test" in page.get_by_test_id("team-status").inner_text()


def test_an_admin_cannot_invite_or_make_an_admin(
    dashboard_stack: RunningStack, signed_in_page: Callable[..., Any], screenshot: Callable[[Any, str], Any],
) -> None:
    dashboard_stack.sql("insert into public.tenant_members (tenant_id, user_id, role) values (%s, %s, 'member') "
                        "on conflict do nothing", (NORDLICHT, BEN))
    max_page = signed_in_page("max@consult.test")  # admin of Nordlicht (his active tenant)
    assert max_page.get_by_test_id("shell-role").inner_text() == "Admin"
    max_page.goto(f"{dashboard_stack.url}/dashboard/#/team")
    max_page.get_by_test_id("team-members-table").wait_for()
    max_page.get_by_label("Email address").fill("boss@example.test")
    max_page.get_by_test_id("team-invite-role").select_option("admin")
    max_page.get_by_test_id("team-invite-button").click()
    max_page.wait_for_selector("[data-testid='team-status'].error")
    assert "only an owner can invite an admin" in max_page.get_by_test_id("team-status").inner_text()
    assert dashboard_stack.sql("select count(*) from public.invitations where email = 'boss@example.test'") == [(0,)]

    max_page.get_by_label("Role of ben@acme.test").select_option("admin")
    max_page.wait_for_selector("[data-testid='team-status']:has-text('only an owner can grant the admin role')")
    assert max_page.get_by_label("Role of ben@acme.test").input_value() == "member"
    screenshot(max_page, "team-admin-refused-en")
    assert dashboard_stack.sql("select role from public.tenant_members where tenant_id = %s and user_id = %s",
                               (NORDLICHT, BEN)) == [("member",)]
    # A member invitation is an admin's to send.
    max_page.get_by_label("Email address").fill("helper@example.test")
    max_page.get_by_test_id("team-invite-role").select_option("member")
    max_page.get_by_test_id("team-invite-button").click()
    max_page.wait_for_selector("[data-testid='team-pending-row'][data-email='helper@example.test']")


def test_an_owner_changes_a_role_in_german(
    dashboard_stack: RunningStack, signed_in_page: Callable[..., Any], screenshot: Callable[[Any, str], Any],
) -> None:
    anna = signed_in_page("anna@acme.test", lang="de")
    anna.goto(f"{dashboard_stack.url}/dashboard/#/team")
    select = anna.get_by_label("Rolle von ben@acme.test")
    select.select_option("admin")
    anna.wait_for_selector("[data-testid='team-status']:has-text('ben@acme.test ist jetzt Admin')")
    assert dashboard_stack.sql("select role from public.tenant_members where tenant_id = %s and user_id = %s",
                               (ACME, BEN)) == [("admin",)]
    assert anna.get_by_role("heading", name="Offene Einladungen").is_visible()
    screenshot(anna, "team-owner-de")
    select.select_option("member")
    anna.wait_for_selector("[data-testid='team-status']:has-text('ben@acme.test ist jetzt Mitglied')")
    # Nobody changes their own role: Anna's own row has no select.
    own = anna.locator("[data-testid='team-member-row'][data-email='anna@acme.test']")
    assert own.locator("select").count() == 0


def test_the_team_view_fits_a_phone(
    dashboard_stack: RunningStack, signed_in_page: Callable[..., Any], screenshot: Callable[[Any, str], Any],
) -> None:
    anna = signed_in_page("anna@acme.test", width=375, height=800)
    anna.goto(f"{dashboard_stack.url}/dashboard/#/team")
    anna.get_by_test_id("team-members-table").wait_for()
    overflow = anna.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"
    screenshot(anna, "team-owner-375")
    assert not script_errors(anna), anna.console_errors
