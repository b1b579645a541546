"""Customer and complaint figures for Daily KPIs, the Weekly summary and its email
(issue 18). Pure: the Complaints frame, the emails sent by kind (from the ledger,
given by the job) and a period in; the measures out.

* **Complaints opened**: Complaints rows whose ``Received at`` is in the period.
* **Median hours to first response**: business hours (the complaints clock, see
  :mod:`.complaints`) from Received at to First response at, median over those
  answered. **Answered within SLA %**: of the period's complaints answered or
  already past their deadline at the period's end, the share answered in time.
* **Shipping confirmations / Delay notices / Review requests / Complaint
  acknowledgements sent**: emails of that kind the ledger sent in the period.

A shop without a Complaints tab (or one that cannot be read) gets blanks for
the complaint measures, never 0; without a ledger (dry run) the email counts
are blank.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from ops_sheets.domain.complaints import ComplaintRules, complaint_kpis

#: email kind → its measure (the Daily KPIs key)
EMAIL_MEASURES: dict[str, str] = {
    "shipping_confirmation": "shipping_confirmations_sent",
    "order_delayed": "delay_notices_sent",
    "review_request": "review_requests_sent",
    "complaint_acknowledgement": "complaint_acknowledgements_sent",
}
COMPLAINT_MEASURES = (
    "complaints_opened",
    "median_hours_to_first_response",
    "answered_within_sla_pct",
)
KEYS: tuple[str, ...] = (*COMPLAINT_MEASURES, *EMAIL_MEASURES.values())


def customer_measures(
    complaints: pd.DataFrame | None,
    rules: ComplaintRules | None,
    start: datetime,
    end: datetime,
    sent_by_kind: Mapping[str, int] | None,
) -> dict[str, Any]:
    """The period's measures (None = unknown: no Complaints tab, no ledger)."""
    out: dict[str, Any] = dict.fromkeys(KEYS)
    if complaints is not None and rules is not None:
        k = complaint_kpis(complaints, rules, start, end)
        out.update(
            complaints_opened=k.opened,
            median_hours_to_first_response=k.median_hours_to_response,
            answered_within_sla_pct=k.answered_within_sla_pct,
        )
    if sent_by_kind is not None:
        for kind, key in EMAIL_MEASURES.items():
            out[key] = int(sent_by_kind.get(kind, 0))
    return out
