"""Email through a real SMTP server on 127.0.0.1: headers, threading, one-click unsubscribe, refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from salesflow.channels import PermanentSendError, RetryableSendError, build_adapter
from salesflow.channels.email_smtp import SmtpEmailAdapter
from tests.channels.adapter_helpers import clock, outbound
from tests.channels.smtp_server import SmtpServer, smtp_server

SENDER = "sales@acme.example"
UNSUBSCRIBE = "https://acme.example/functions/v1/email-unsubscribe?token=abc.def"


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with smtp_server() as running:
        yield running


def adapter_for(server: SmtpServer, **changes: object) -> SmtpEmailAdapter:
    built = build_adapter("smtp", "email", SENDER, server.secrets(**changes), clock=clock)
    assert isinstance(built, SmtpEmailAdapter)
    return built


async def test_a_reply_arrives_threaded_with_one_click_unsubscribe_and_its_body(server: SmtpServer) -> None:
    message = outbound("email", subject="Re: Angebot", body="Hallo Anna,\n\ndas Angebot hängt an. Grüße",
                       in_reply_to="<CAB123@mail.example.com>", references=("<CAA001@mail.example.com>",),
                       unsubscribe_url=UNSUBSCRIBE, unsubscribe_mailto="unsubscribe@acme.example")

    receipt = await adapter_for(server).send(message)

    [got] = server.mailbox.received
    mail = got.message
    assert got.mail_from == SENDER and got.rcpt_tos == ["anna@example.com"]
    assert mail["Message-ID"] == f"<salesflow.{message.message_id}@acme.example>" == receipt.provider_message_id
    assert mail["In-Reply-To"] == "<CAB123@mail.example.com>"
    assert mail["References"] == "<CAA001@mail.example.com> <CAB123@mail.example.com>"
    assert mail["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>, <mailto:unsubscribe@acme.example>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["From"] == f"ACME Sales <{SENDER}>"
    assert mail["Subject"] == "Re: Angebot"
    assert mail.get_content().replace("\r\n", "\n") == "Hallo Anna,\n\ndas Angebot hängt an. Grüße\n"
    assert "Ok: queued as 4F2A1" in receipt.detail["smtp_reply"]


async def test_a_bare_provider_id_is_threaded_in_angle_brackets(server: SmtpServer) -> None:
    await adapter_for(server).send(outbound("email", in_reply_to="CAB123@mail.example.com"))
    mail = server.mailbox.received[0].message
    assert mail["In-Reply-To"] == "<CAB123@mail.example.com>"
    assert mail["References"] == "<CAB123@mail.example.com>"


async def test_a_first_mail_without_an_https_link_has_no_one_click_post_header(server: SmtpServer) -> None:
    await adapter_for(server).send(outbound("email", unsubscribe_mailto="mailto:unsubscribe@acme.example"))
    mail = server.mailbox.received[0].message
    assert mail["List-Unsubscribe"] == "<mailto:unsubscribe@acme.example>"
    assert mail["List-Unsubscribe-Post"] is None  # RFC 8058 one-click needs an https URI
    assert mail["In-Reply-To"] is None and mail["References"] is None


async def test_a_refused_mailbox_fails_permanently_with_the_servers_reply(server: SmtpServer) -> None:
    server.mailbox.refuse_rcpt = "550 5.1.1 <anna@example.com>: Recipient address rejected: User unknown"
    with pytest.raises(PermanentSendError) as refused:
        await adapter_for(server).send(outbound("email"))
    assert refused.value.code == "smtp_550" and refused.value.provider_code == "550"
    assert "User unknown" in refused.value.reason
    assert server.mailbox.received == []


async def test_a_greylisted_mailbox_is_retried_later(server: SmtpServer) -> None:
    server.mailbox.refuse_rcpt = "451 4.7.1 Greylisted, please try again later"
    with pytest.raises(RetryableSendError) as later:
        await adapter_for(server).send(outbound("email"))
    assert later.value.code == "smtp_451"
    assert not later.value.maybe_accepted


async def test_a_wrong_password_fails_permanently(server: SmtpServer) -> None:
    with pytest.raises(PermanentSendError) as refused:
        await adapter_for(server, password="wrong").send(outbound("email"))
    assert refused.value.code == "smtp_535"


async def test_no_server_listening_is_retryable_and_nothing_was_accepted(server: SmtpServer) -> None:
    closed = adapter_for(server, port=1)  # nothing listens on port 1
    with pytest.raises(RetryableSendError) as down:
        await closed.send(outbound("email"))
    assert down.value.code == "connection_error"
    assert not down.value.maybe_accepted


async def test_verify_connects_authenticates_and_noops(server: SmtpServer) -> None:
    assert await adapter_for(server).verify() == f"smtp 127.0.0.1:{server.port} answered NOOP with 250"
    with pytest.raises(PermanentSendError, match="smtp_535"):
        await adapter_for(server, password="wrong").verify()
    assert server.mailbox.received == []


async def test_smtp_cannot_be_asked_what_it_accepted(server: SmtpServer) -> None:
    adapter = adapter_for(server)
    assert adapter.can_look_up is False and await adapter.look_up(outbound("email")) is None


async def test_requiring_starttls_from_a_server_without_it_is_a_permanent_configuration_error(
    server: SmtpServer,
) -> None:
    with pytest.raises(PermanentSendError) as refused:
        await adapter_for(server, starttls=True).verify()
    assert refused.value.code == "smtp_not_supported"
