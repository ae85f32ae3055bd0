"""`salesflow leads import-chat FILE`: a WhatsApp export, German or English, Android or iOS, becomes a lead
with its conversation history; a re-import adds nothing; an unreadable file exits 2 naming the line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from typer.testing import CliRunner

from salesflow.cli.main import app
from salesflow.settings import settings
from tests.conftest import ACME

Conn = psycopg.Connection[Any]
runner = CliRunner()
BERLIN = ZoneInfo("Europe/Berlin")

GERMAN_ANDROID = """\
12.03.24, 14:05 - Nachrichten und Anrufe sind Ende-zu-Ende-verschlüsselt. Niemand außerhalb dieses Chats kann sie lesen.
12.03.24, 14:05 - Paul Weber: Hallo, ich interessiere mich für Ihr Angebot.
12.03.24, 14:07 - Anna Vertrieb: Gern! Wie viele Nutzer brauchen Sie?
Und ab wann?
12.03.24, 14:09 - Paul Weber: <Medien ausgeschlossen>
13.03.24, 09:15 - Paul Weber: 20 Nutzer, ab April: Ist das machbar?
"""
GERMAN_IOS = (
    "[12.03.24, 14:05:33] Paul Weber: \u200eNachrichten und Anrufe sind Ende-zu-Ende-verschlüsselt.\n"
    "[12.03.24, 14:05:33] Paul Weber: Hallo, ich interessiere mich für Ihr Angebot.\n"
    "[12.03.24, 14:07:10] Anna Vertrieb: Gern! Wie viele Nutzer brauchen Sie?\n"
    "Und ab wann?\n"
    "[12.03.24, 14:09:00] Paul Weber: \u200eBild weggelassen\n"
    "[13.03.24, 09:15:42] Paul Weber: 20 Nutzer, ab April: Ist das machbar?\n"
)
ENGLISH_ANDROID = """\
3/12/24, 2:05 PM - Messages and calls are end-to-end encrypted. No one outside of this chat can read them.
3/12/24, 2:05 PM - Paul Weber: Hi, I'm interested in your offer.
3/12/24, 2:07 PM - Anna Sales: Sure! How many users do you need?
And from when?
3/12/24, 2:09 PM - Paul Weber: <Media omitted>
3/13/24, 9:15 AM - Paul Weber: 20 users, from April: can you do that?
"""
ENGLISH_IOS = (
    "[3/12/24, 2:05:33\u202fPM] Paul Weber: \u200eMessages and calls are end-to-end encrypted.\n"
    "[3/12/24, 2:05:33\u202fPM] Paul Weber: Hi, I'm interested in your offer.\n"
    "[3/12/24, 2:07:10\u202fPM] Anna Sales: Sure! How many users do you need?\n"
    "And from when?\n"
    "[3/12/24, 2:09:00\u202fPM] Paul Weber: \u200eimage omitted\n"
    "[3/13/24, 9:15:42\u202fAM] Paul Weber: 20 users, from April: can you do that?\n"
)


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings.cache_clear()
    yield
    settings.cache_clear()


def import_chat(database: str, path: Path, *args: str) -> tuple[int, Any, str]:
    result = runner.invoke(app, ["leads", "import-chat", str(path), "--tenant", ACME, "--json",
                                 "--database-url", database, *args])
    out = json.loads(result.stdout) if result.exit_code == 0 else result.stdout
    return result.exit_code, out, result.stderr


def _history(db: Conn, lead: str) -> list[tuple[Any, ...]]:
    rows = db.execute("select direction, content_type, body, created_at, status from public.messages "
                      "where lead_id = %s order by created_at, id", (lead,)).fetchall()
    db.commit()
    return rows


@pytest.mark.parametrize(("text", "me", "words"), [
    (GERMAN_ANDROID, "Anna Vertrieb", ("Angebot", "Nutzer brauchen Sie?\nUnd ab wann?", "Ist das machbar?")),
    (GERMAN_IOS, "Anna Vertrieb", ("Angebot", "Nutzer brauchen Sie?\nUnd ab wann?", "Ist das machbar?")),
    (ENGLISH_ANDROID, "Anna Sales", ("offer", "do you need?\nAnd from when?", "can you do that?")),
    (ENGLISH_IOS, "Anna Sales", ("offer", "do you need?\nAnd from when?", "can you do that?")),
], ids=["german-android", "german-ios", "english-android", "english-ios"])
def test_an_export_becomes_a_lead_with_its_history_once(
    db: Conn, database: str, tmp_path: Path, text: str, me: str, words: tuple[str, str, str]
) -> None:
    path = tmp_path / "chat.txt"
    path.write_text(text, encoding="utf-8")
    code, out, err = import_chat(database, path, "--me", me, "--phone", "0151 23456789")
    assert code == 0, err
    assert (out["lead_name"], out["address"], out["lead_created"]) == ("Paul Weber", "+4915123456789", True)
    assert (out["inserted"], out["inbound"], out["outbound"], out["system_lines"]) == (4, 3, 1, 1)
    history = _history(db, out["lead_id"])
    assert [(d, c, s) for d, c, _, _, s in history] == [
        ("in", "text", "received"), ("out", "text", "sent"),
        # Android says only "media omitted"; iOS says which kind
        ("in", "image" if text.startswith("[") else "document", "received"), ("in", "text", "received")]
    assert words[0] in history[0][2] and history[1][2].endswith(words[1]) and history[3][2].endswith(words[2])
    assert history[2][2] is None  # media are not in the export
    # The chat's own times, in the exporting phone's time zone.
    assert history[0][3] == datetime(2024, 3, 12, 14, 5, history[0][3].astimezone(BERLIN).second, tzinfo=BERLIN)
    assert history[3][3].astimezone(BERLIN).replace(second=0) == datetime(2024, 3, 13, 9, 15, tzinfo=BERLIN)

    lead = db.execute("select name, phone, source, source_channel from public.leads where id = %s",
                      (out["lead_id"],)).fetchone()
    assert lead == ("Paul Weber", "+4915123456789", "chat_import", "whatsapp")
    # History is not news: no inbound handler runs on it, and nothing counts as unread; a summary is due.
    events = db.execute("select type, ordering_key from public.events where ordering_key in (%s, %s) order by seq",
                        (out["lead_id"], f"summary:{out['conversation_id']}")).fetchall()
    assert [e[0] for e in events] == ["lead.created", "conversation.created", "conversation.summary_due"]
    assert db.execute("select unread_count from public.conversations where id = %s",
                      (out["conversation_id"],)).fetchone() == (0,)
    db.commit()

    again_code, again, _ = import_chat(database, path, "--me", me, "--phone", "+49 151 23456789")
    assert again_code == 0
    assert (again["lead_id"], again["lead_created"], again["inserted"], again["already_imported"]) == (
        out["lead_id"], False, 0, 4)
    assert len(_history(db, out["lead_id"])) == 4


def test_a_longer_export_later_adds_only_the_new_messages(db: Conn, database: str, tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    path.write_text(GERMAN_ANDROID, encoding="utf-8")
    code, first, err = import_chat(database, path, "--me", "Anna Vertrieb", "--phone", "+4915123456789")
    assert code == 0, err
    path.write_text(GERMAN_ANDROID + "14.03.24, 10:00 - Anna Vertrieb: Ja, das Angebot kommt heute.\n",
                    encoding="utf-8")
    code, second, err = import_chat(database, path, "--me", "Anna Vertrieb", "--phone", "+4915123456789")
    assert code == 0, err
    assert (second["inserted"], second["outbound"], second["already_imported"]) == (1, 1, 4)
    assert len(_history(db, first["lead_id"])) == 5


def test_the_lead_shown_as_a_number_needs_no_options(db: Conn, database: str, tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    path.write_text("12.03.24, 14:05 - +49 170 1112223: Hallo, was kostet das?\n"
                    "12.03.24, 14:07 - Anna Vertrieb: Hallo! Das hängt von der Nutzerzahl ab.\n", encoding="utf-8")
    code, out, err = import_chat(database, path)
    assert code == 0, err
    assert (out["address"], out["me"], out["inbound"], out["outbound"]) == ("+491701112223", "Anna Vertrieb", 1, 1)


def test_who_is_who_must_be_said_when_the_chat_does_not_show_it(database: str, tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    path.write_text(GERMAN_ANDROID, encoding="utf-8")
    code, _, err = import_chat(database, path, "--phone", "+4915123456789")
    assert code == 2
    assert "error: --me: the chat is between 'Paul Weber' and 'Anna Vertrieb'" in err
    code, _, err = import_chat(database, path, "--me", "Bernd")
    assert code == 2 and "error: --me: 'Bernd' is not an author of the chat (authors: Paul Weber, Anna Vertrieb)" in err
    code, _, err = import_chat(database, path, "--me", "Anna Vertrieb")
    assert code == 2 and "error: --phone: the lead 'Paul Weber' is not shown with a number" in err


@pytest.mark.parametrize(("text", "line", "reason"), [
    ("name,phone\nPaul,+49151\n", 1, "not a WhatsApp chat line"),
    ("12.03.24, 14:05 - Paul Weber: Hallo\n13.03.24, 09:15 - Paul Weber: Hi\n31.02.24, 10:00 - Paul Weber: ?\n",
     3, "31.02.24, 10:00 is not a date and time"),
    ("3/12/24, 14:05 PM - Paul Weber: Hi\n", 1, "'14:05 PM' is not a 12-hour clock time"),
], ids=["not-a-chat", "impossible-date", "impossible-time"])
def test_an_unreadable_file_exits_2_naming_the_line(
    db: Conn, database: str, tmp_path: Path, text: str, line: int, reason: str
) -> None:
    path = tmp_path / "chat.txt"
    path.write_text(text, encoding="utf-8")
    code, _, err = import_chat(database, path, "--me", "Anna", "--phone", "+4915123456789")
    assert code == 2
    assert f"error: FILE: {path}: line {line}: {reason}" in err
    assert db.execute("select count(*) from public.messages").fetchone() == (0,)  # nothing imported


def test_a_large_export_imports_in_batches(db: Conn, database: str, tmp_path: Path) -> None:
    lines = [f"{1 + i // 1440 % 28:02d}.03.24, {i // 60 % 24:02d}:{i % 60:02d} - "
             f"{'Paul Weber' if i % 2 else 'Anna Vertrieb'}: Nachricht {i}" for i in range(2500)]
    path = tmp_path / "chat.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = import_chat(database, path, "--me", "Anna Vertrieb", "--phone", "+4915123456789")
    assert code == 0, err
    assert (out["inserted"], out["inbound"], out["outbound"]) == (2500, 1250, 1250)
    assert db.execute("select count(*) from public.events where type = 'message.received'").fetchone() == (0,)
