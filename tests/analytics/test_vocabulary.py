"""The analytics vocabulary exists once in SQL and once in Python; they must not drift apart."""

from __future__ import annotations

from typing import Any

import psycopg

from salesflow.analytics.stages import FUNNEL_STAGES, STAGE_OF_STATUS
from salesflow.leads import LEAD_STATUSES


def test_the_funnel_stages_and_the_status_mapping_equal_the_sql(db: psycopg.Connection[Any]) -> None:
    stages = db.execute("select private.analytics_stages()").fetchone()[0]  # type: ignore[index]
    assert tuple(stages) == FUNNEL_STAGES
    mapped = dict(db.execute("select s, private.analytics_stage_of_status(s) from unnest(%s::text[]) s",
                             (list(LEAD_STATUSES),)).fetchall())
    assert {k: v for k, v in mapped.items() if v is not None} == STAGE_OF_STATUS
