"""A lead's time zone is checked by name against the server's time zone database, exactly (zoneinfo is
case-sensitive), through an indexed copy of the names, with the live list as the fallback."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.conftest import ACME


def insert_lead(db: psycopg.Connection[Any], zone: str) -> None:
    db.execute("insert into public.leads (tenant_id, name, timezone) values (%s, 'Zoe', %s)", (ACME, zone))


@pytest.mark.parametrize("zone", ["Europe/Vienna", "America/New_York", "Etc/GMT+3", "UTC"])
def test_a_known_time_zone_is_taken(db: psycopg.Connection[Any], zone: str) -> None:
    insert_lead(db, zone)


@pytest.mark.parametrize("zone", ["europe/vienna", "Mars/Olympus_Mons", "PST", "UTC+3"])
def test_an_unknown_or_miscased_time_zone_is_refused_naming_the_field(db: psycopg.Connection[Any], zone: str) -> None:
    with pytest.raises(psycopg.errors.CheckViolation, match=r"leads\.timezone"):
        insert_lead(db, zone)


def test_a_name_missing_from_the_copy_is_still_found_in_the_live_list(db: psycopg.Connection[Any]) -> None:
    db.execute("delete from private.time_zone_names where name = 'Asia/Tokyo'")  # as after a tzdata update
    insert_lead(db, "Asia/Tokyo")
