"""Review tasks: extracted lead fields waiting for a member (`public.lead_review_tasks`).

Members read their tenant's tasks over PostgREST (`GET /rest/v1/lead_review_tasks?status=eq.pending`) and
decide each with `POST /rest/v1/rpc/review_lead_task` `{"p_task_id", "p_verdict", "p_value"}`: `accepted`
applies the proposed value, `edited` applies `p_value`, `discarded` applies nothing. The verdict, the lead's
field and its fact (origin `member`) change in one transaction, scoped by the token's tenant; a task of
another tenant reads as missing. Mirrors the migration's vocabulary (tests keep them equal).
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, Field, model_validator

REVIEW_FIELDS: Final = ("name", "email", "phone", "company")
REVIEW_STATUSES: Final = ("pending", "accepted", "edited", "discarded")
REVIEW_VERDICTS: Final = ("accepted", "edited", "discarded")
# Why a field waits: below the tenant's threshold, different from the lead's value, or another lead's address.
REVIEW_REASONS: Final = ("low_confidence", "conflicts_with_lead", "matches_other_lead")


class ReviewVerdict(BaseModel):
    """A member's verdict, as `review_lead_task` takes it (validated at the edge before the call)."""

    task_id: str = Field(pattern=r"^[0-9a-fA-F-]{36}$")
    verdict: str = Field(pattern=r"^(accepted|edited|discarded)$")
    value: str | None = Field(default=None, max_length=300)

    @model_validator(mode="after")
    def _value_only_when_edited(self) -> ReviewVerdict:
        if self.verdict == "edited" and not (self.value or "").strip():
            raise ValueError("value: an edited verdict needs the value to apply")
        if self.verdict != "edited" and self.value is not None:
            raise ValueError("value: only an edited verdict takes a value")
        return self

    def rpc_args(self) -> dict[str, Any]:
        """The named arguments of `public.review_lead_task`."""
        return {"p_task_id": self.task_id, "p_verdict": self.verdict, "p_value": self.value}
