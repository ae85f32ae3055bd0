"""The review-task vocabulary is defined once: `salesflow.conversations.review` equals the table's checks, and
the verdict model refuses what review_lead_task would refuse, naming the field."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from salesflow.conversations import review
from tests.conversations.test_vocabulary import allowed_values


def test_fields_statuses_and_reasons_match_the_table(session_database: str) -> None:
    with psycopg.connect(session_database) as conn:
        table = "public.lead_review_tasks"
        assert allowed_values(conn, "lead_review_tasks_field_allowed", table) == set(review.REVIEW_FIELDS)
        assert allowed_values(conn, "lead_review_tasks_status_allowed", table) == set(review.REVIEW_STATUSES)
        assert allowed_values(conn, "lead_review_tasks_reason_allowed", table) == set(review.REVIEW_REASONS)
        assert set(review.REVIEW_VERDICTS) == set(review.REVIEW_STATUSES) - {"pending"}


@pytest.mark.parametrize(("given", "problem"), [
    ({"verdict": "approve"}, "verdict"),
    ({"verdict": "edited"}, "value: an edited verdict needs the value to apply"),
    ({"verdict": "accepted", "value": "x"}, "value: only an edited verdict takes a value"),
])
def test_a_bad_verdict_is_refused_naming_what_is_wrong(given: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        review.ReviewVerdict.model_validate({"task_id": "7a000000-0000-4000-8000-000000000001", **given})


def test_a_verdict_becomes_the_rpc_arguments() -> None:
    verdict = review.ReviewVerdict(task_id="7a000000-0000-4000-8000-000000000001", verdict="edited", value="Lisa")
    assert verdict.rpc_args() == {"p_task_id": "7a000000-0000-4000-8000-000000000001", "p_verdict": "edited",
                                  "p_value": "Lisa"}
