"""`salesflow channels connect | list | test` as an operator uses them, against a real database."""

from __future__ import annotations

import json
from typing import Any

import httpx
import psycopg
import pytest
import respx
from typer.testing import CliRunner

from salesflow.cli.main import app
from tests.channels.adapter_helpers import ACCOUNT_SID
from tests.channels.smtp_server import PASSWORD, USERNAME, smtp_server

ACME = "11111111-1111-4111-8111-111111111111"
NORDLICHT = "22222222-2222-4222-8222-222222222222"
runner = CliRunner()
WHATSAPP = ["--channel", "whatsapp", "--provider", "whatsapp_cloud", "--address", "+49 30 1234567",
            "--account-id", "1234567890", "--name", "Acme WhatsApp",
            "--secret", "access_token=EAAG-very-secret", "--secret", "app_secret=app-s3cret",
            "--secret", "verify_token=verify-me"]


def cli(database: str, *args: str) -> Any:
    return runner.invoke(app, ["channels", *args, "--database-url", database])


def connect(database: str, *args: str, tenant: str = ACME) -> str:
    result = cli(database, "connect", "--tenant", tenant, *args)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_connect_stores_the_connection_and_its_typed_secrets(db: psycopg.Connection[Any], database: str) -> None:
    connection_id = connect(database, *WHATSAPP)

    row = db.execute("select tenant_id::text, channel::text, provider::text, address, external_account_id, "
                     "display_name from public.channel_connections where id = %s", (connection_id,)).fetchone()
    assert row == (ACME, "whatsapp", "whatsapp_cloud", "+49301234567", "1234567890", "Acme WhatsApp")
    [secrets] = db.execute("select secrets from private.channel_credentials where connection_id = %s",
                           (connection_id,)).fetchone() or [None]
    assert secrets == {"access_token": "EAAG-very-secret", "app_secret": "app-s3cret", "verify_token": "verify-me"}

    smtp_id = connect(database, "--channel", "email", "--provider", "smtp", "--address", "Sales@Acme.test",
                      "--secret", "host=mail.acme.test", "--secret", "port=2525", "--secret", "starttls=false")
    [smtp] = db.execute("select secrets from private.channel_credentials where connection_id = %s",
                        (smtp_id,)).fetchone() or [None]
    assert smtp == {"host": "mail.acme.test", "port": 2525, "starttls": False}  # typed, not strings


def test_list_shows_connections_and_key_names_but_never_a_secret(database: str) -> None:
    connect(database, *WHATSAPP)
    connect(database, "--channel", "sms", "--provider", "outbox", "--address", "+447700900123", tenant=NORDLICHT)

    listed = cli(database, "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = {r["channel"]: r for r in json.loads(listed.stdout)}
    assert rows["whatsapp"]["has_credentials"] is True
    assert rows["whatsapp"]["secret_keys"] == ["access_token", "app_secret", "verify_token"]
    assert rows["sms"]["has_credentials"] is False and rows["sms"]["tenant_id"] == NORDLICHT
    table = cli(database, "list")
    only_acme = cli(database, "list", "--tenant", ACME, "--json")
    for output in (listed.output, table.output, only_acme.output):
        assert "EAAG-very-secret" not in output and "app-s3cret" not in output and "verify-me" not in output
    assert "access_token, app_secret, verify_token" in table.stdout
    assert [r["channel"] for r in json.loads(only_acme.stdout)] == ["whatsapp"]


@pytest.mark.parametrize(("args", "message"), [
    (["--channel", "whatsapp", "--provider", "twilio", "--address", "+49301234567"],
     "error: --provider: twilio does not serve channel whatsapp; whatsapp is served by outbox, whatsapp_cloud"),
    (["--channel", "fax", "--provider", "outbox", "--address", "+49301234567"],
     "error: --channel: 'fax' is not a channel; allowed: whatsapp, instagram, sms, email"),
    (["--channel", "sms", "--provider", "twilio", "--address", "030 1234567"], "error: --address: sms: '030 1234567'"),
    (["--channel", "sms", "--provider", "twilio", "--address", "+49301234567",
      "--secret", f"account_sid={ACCOUNT_SID}"],
     "error: --secret: twilio secrets: auth_token: required"),
    (["--channel", "sms", "--provider", "twilio", "--address", "+49301234567", "--secret", "auth_token"],
     "error: --secret: 'auth_token' must be key=value"),
    (["--channel", "whatsapp", "--provider", "whatsapp_cloud", "--address", "+49301234567"],
     "error: --account-id: required for whatsapp_cloud"),
    (["--channel", "email", "--provider", "smtp", "--address", "a@acme.test", "--secret", "host=h",
      "--secret", "port=many"], "error: --secret: smtp secrets: port: Input should be a valid integer"),
])
def test_bad_input_exits_2_naming_the_field(session_database: str, args: list[str], message: str) -> None:
    result = cli(session_database, "connect", "--tenant", ACME, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_an_address_of_another_tenant_is_refused_naming_the_address(database: str) -> None:
    connect(database, "--channel", "sms", "--provider", "outbox", "--address", "+447700900123", tenant=NORDLICHT)
    result = cli(database, "connect", "--tenant", ACME, "--channel", "sms", "--provider", "outbox",
                 "--address", "+447700900123")
    assert result.exit_code == 2
    assert "error: --address: +447700900123 on sms is connected by another tenant" in result.output


def test_an_unknown_tenant_is_refused(session_database: str) -> None:
    result = cli(session_database, "connect", "--tenant", "99999999-9999-4999-8999-999999999999", "--channel", "sms",
                 "--provider", "outbox", "--address", "+447700900999")
    assert result.exit_code == 2 and "--tenant_id: no tenant with id" in result.output


def test_testing_an_outbox_connection_is_always_ok(database: str) -> None:
    connection_id = connect(database, "--channel", "sms", "--provider", "outbox", "--address", "+447700900123")
    result = cli(database, "test", connection_id)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: outbox: sms messages are recorded")


def test_testing_an_smtp_connection_talks_to_the_server_and_names_a_failure(database: str) -> None:
    with smtp_server() as server:
        good = connect(database, "--channel", "email", "--provider", "smtp", "--address", "sales@acme.test",
                       "--secret", "host=127.0.0.1", "--secret", f"port={server.port}", "--secret", "starttls=false",
                       "--secret", f"username={USERNAME}", "--secret", f"password={PASSWORD}")
        bad = connect(database, "--channel", "email", "--provider", "smtp", "--address", "info@acme.test",
                      "--secret", "host=127.0.0.1", "--secret", f"port={server.port}", "--secret", "starttls=false",
                      "--secret", f"username={USERNAME}", "--secret", "password=wrong")

        passed = cli(database, "test", good, "--json")
        failed = cli(database, "test", bad)

    assert passed.exit_code == 0, passed.output
    assert json.loads(passed.stdout) | {"id": None} == {
        "id": None, "channel": "email", "provider": "smtp", "ok": True, "code": None,
        "detail": f"smtp 127.0.0.1:{server.port} answered NOOP with 250"}
    assert failed.exit_code == 1
    assert "failed: smtp_535: email: " in failed.output and "Authentication credentials invalid" in failed.output
    assert server.mailbox.received == []  # testing sends nothing


def test_testing_an_unknown_or_malformed_connection_id_exits_2(session_database: str) -> None:
    missing = cli(session_database, "test", "99999999-9999-4999-8999-999999999999")
    assert missing.exit_code == 2 and "CONNECTION_ID: no channel connection with id" in missing.output
    malformed = cli(session_database, "test", "whatsapp")
    assert malformed.exit_code == 2 and "CONNECTION_ID: 'whatsapp' is not a UUID" in malformed.output


def test_testing_a_whatsapp_connection_reads_the_number_and_names_metas_refusal(
    database: str, respx_mock: respx.MockRouter,
) -> None:
    connection_id = connect(database, *WHATSAPP, "--secret", "api_base_url=https://graph.test/v21.0")
    number = respx_mock.get("https://graph.test/v21.0/1234567890").mock(return_value=httpx.Response(
        200, json={"display_phone_number": "+49 30 1234567", "verified_name": "Acme", "quality_rating": "GREEN"}))

    passed = cli(database, "test", connection_id)

    assert passed.exit_code == 0, passed.output
    assert passed.stdout.strip() == "ok: whatsapp number +49 30 1234567 (Acme), quality GREEN"
    assert number.calls.last.request.headers["authorization"] == "Bearer EAAG-very-secret"
    number.mock(return_value=httpx.Response(401, json={"error": {
        "message": "Error validating access token: Session has expired", "type": "OAuthException", "code": 190,
        "error_subcode": 463}}))
    failed = cli(database, "test", connection_id)
    assert failed.exit_code == 1
    assert "failed: meta_190_463: whatsapp: Error validating access token" in failed.output
    assert "EAAG-very-secret" not in failed.output


def test_testing_a_twilio_connection_checks_the_account_and_the_number(
    database: str, respx_mock: respx.MockRouter,
) -> None:
    connection_id = connect(database, "--channel", "sms", "--provider", "twilio", "--address", "+4930123456789",
                            "--secret", f"account_sid={ACCOUNT_SID}", "--secret", "auth_token=tw-secret",
                            "--secret", "api_base_url=https://twilio.test")
    account = f"https://twilio.test/2010-04-01/Accounts/{ACCOUNT_SID}"
    respx_mock.get(f"{account}.json").mock(return_value=httpx.Response(
        200, json={"friendly_name": "Acme", "status": "active"}))
    respx_mock.get(f"{account}/IncomingPhoneNumbers.json").mock(return_value=httpx.Response(
        200, json={"incoming_phone_numbers": [{"phone_number": "+4930123456789"}]}))
    result = cli(database, "test", connection_id, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["detail"] == "twilio account Acme (active), number +4930123456789"


def test_list_on_a_terminal_is_a_table(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    connect(database, *WHATSAPP)
    monkeypatch.setattr("salesflow.cli.channels.is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "250")
    shown = cli(database, "list")
    assert shown.exit_code == 0, shown.output
    assert "Channel connections (1)" in shown.stdout
    assert "whatsapp_cloud" in shown.stdout and "access_token, app_secret, verify_token" in shown.stdout
    assert "EAAG-very-secret" not in shown.stdout


def test_secrets_can_come_from_a_file_and_a_bad_file_is_named(db: psycopg.Connection[Any], database: str,
                                                              tmp_path: Any) -> None:
    secrets = tmp_path / "twilio.json"
    secrets.write_text(json.dumps({"account_sid": ACCOUNT_SID, "auth_token": "from-file"}))
    connection_id = connect(database, "--channel", "sms", "--provider", "twilio", "--address", "+4930123456789",
                            "--secrets-file", str(secrets))
    [stored] = db.execute("select secrets from private.channel_credentials where connection_id = %s",
                          (connection_id,)).fetchone() or [None]
    assert stored == {"account_sid": ACCOUNT_SID, "auth_token": "from-file"}

    secrets.write_text("[1, 2]")
    refused = cli(database, "connect", "--tenant", ACME, "--channel", "sms", "--provider", "twilio",
                  "--address", "+4930123456789", "--secrets-file", str(secrets))
    assert refused.exit_code == 2 and "error: --secrets-file:" in refused.output and "JSON object" in refused.output
