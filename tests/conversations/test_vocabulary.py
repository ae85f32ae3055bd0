"""The conversation vocabulary is defined once: the Python mirror equals the database's domains, constraints and
status rule."""

from __future__ import annotations

import re
from itertools import product
from typing import Any

import psycopg

from salesflow import leads
from salesflow.conversations import vocabulary as v


def allowed_values(conn: psycopg.Connection[Any], constraint: str, table: str | None = None) -> set[str]:
    if table is None:  # a domain's constraint
        row = conn.execute(
            "select pg_get_constraintdef(oid) from pg_constraint where conname = %s and contypid <> 0", (constraint,)
        ).fetchone()
    else:
        row = conn.execute(
            "select pg_get_constraintdef(oid) from pg_constraint where conname = %s and conrelid = %s::regclass",
            (constraint, table),
        ).fetchone()
    assert row, constraint
    return set(re.findall(r"'([a-z_]+)'::text", row[0]))


def test_channels_and_providers_match_the_database_domains(session_database: str) -> None:
    with psycopg.connect(session_database) as conn:
        assert allowed_values(conn, "message_channel_allowed") == set(v.MESSAGE_CHANNELS)
        assert allowed_values(conn, "channel_provider_allowed") == set(v.CHANNEL_PROVIDERS)
        for channel, provider in product(v.MESSAGE_CHANNELS, v.CHANNEL_PROVIDERS):
            in_db = conn.execute("select private.channel_provider_serves(%s, %s)", (channel, provider)).fetchone()
            assert in_db == (channel in v.PROVIDER_CHANNELS[provider],), (channel, provider)


def test_message_channels_are_lead_sources() -> None:
    assert set(v.MESSAGE_CHANNELS) <= set(leads.SOURCE_CHANNELS)


def test_table_vocabularies_match_the_database(session_database: str) -> None:
    with psycopg.connect(session_database) as conn:
        assert allowed_values(conn, "messages_direction_allowed", "public.messages") == set(v.DIRECTIONS)
        assert allowed_values(conn, "messages_content_type_allowed", "public.messages") == set(v.CONTENT_TYPES)
        assert allowed_values(conn, "messages_status_allowed", "public.messages") == set(v.MESSAGE_STATUSES)
        assert allowed_values(conn, "messages_sent_by_allowed", "public.messages") == set(v.SENT_BY)
        assert allowed_values(conn, "conversations_status_allowed", "public.conversations") == set(
            v.CONVERSATION_STATUSES)
        assert allowed_values(conn, "consents_status_allowed", "public.consents") == set(v.CONSENT_STATUSES)
        assert allowed_values(conn, "consents_method_allowed", "public.consents") == set(v.CONSENT_METHODS)
        assert allowed_values(conn, "lead_facts_origin_allowed", "public.lead_facts") == set(v.FACT_ORIGINS)
        assert allowed_values(conn, "inbound_webhooks_outcome_allowed", "public.inbound_webhooks") == set(
            v.WEBHOOK_OUTCOMES)


def test_status_rule_matches_the_database(session_database: str) -> None:
    with psycopg.connect(session_database) as conn:
        for old, new in product(v.MESSAGE_STATUSES, repeat=2):
            in_db = conn.execute("select private.message_status_change(%s, %s)", (old, new)).fetchone()
            assert in_db == (v.message_status_change(old, new),), (old, new)


def test_address_shape_matches_the_database(session_database: str) -> None:
    samples = ["+4915123456789", "+49 151 2345678", "004915123456", "+0123456789", "+1234567890123456",
               "anna@acme.test", "Anna@Acme.test", "anna@acme", "a b@acme.test", "17841400000000000", "ig_user",
               ""]
    with psycopg.connect(session_database) as conn:
        for channel, address in product(v.MESSAGE_CHANNELS, samples):
            in_db = conn.execute("select private.channel_address_well_formed(%s, %s)", (channel, address)).fetchone()
            assert in_db == (v.address_well_formed(channel, address),), (channel, address)
