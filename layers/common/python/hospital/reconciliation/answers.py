"""What the reconciliation and consistency routes answer with (hospital.api_contract): runs and
their findings, and the consistency reports. Times are ISO-8601 UTC, dates YYYY-MM-DD, money
integer fen."""
from __future__ import annotations

from typing import Any

from pydantic import Field

from hospital.answer_base import Answer


class RunInput(Answer):
    """One statement a run read."""

    source: str
    name: str
    origin: str = Field(description="download, file or api")
    mchid: str = Field(description="a WeChat Pay bill's merchant, when downloaded; else empty")
    sha256: str
    bytes: int
    entries: int
    empty: bool = Field(description="the counterpart said there was nothing that day")


class RunCounts(Answer):
    """A finished run's counts (empty until it finished)."""

    entries: dict[str, int] = Field(default_factory=dict, description="statement entries by source")
    matched: dict[str, int] = Field(default_factory=dict, description="entries matched by source")
    findings: dict[str, int] = Field(default_factory=dict, description="findings by kind")
    carried_out: int | None = Field(None, description="trades carried to the next day")


class Run(Answer):
    run_id: int
    date: str
    trigger: str = Field(description="schedule, back_office, command or upload")
    status: str = Field(description="running, done, waiting, failed or abandoned")
    requested_by: int | None
    inputs: list[RunInput]
    counts: RunCounts
    error: str | None
    started_at: str
    finished_at: str | None


class RunPage(Answer):
    items: list[Run]


class Finding(Answer):
    id: int
    date: str
    kind: str = Field(description="missing_ours, missing_provider, missing_his, amount_mismatch, status_mismatch, "
                                  "fee_mismatch or merchant_mismatch")
    source: str = Field(description="wechatpay, medical_insurance, credit or his")
    trade: str = Field(description="payment or refund")
    trade_key: str = Field(description="the out_trade_no or out_refund_no")
    order_id: str | None
    ours_fen: int | None
    theirs_fen: int | None
    detail: str
    status: str = Field(description="open or resolved")
    run_id: int
    resolution: str | None
    resolved_by: int | None
    resolved_at: str | None
    created_at: str
    updated_at: str


class FindingPage(Answer):
    items: list[Finding]
    next_before: int | None = Field(description="pass as before= for the next page; null on the last")
    totals_by_kind: dict[str, int] | None = Field(
        None, description="the day's findings by kind (with the status and source filters); only with date=")


class FindingOrder(Answer):
    order_id: str
    status: str
    channel: str | None
    amount_fen: int
    paid_fen: int
    refunded_fen: int
    paid_at: str | None
    his_confirmed_at: str | None
    mchid: str | None


class FindingDetail(Finding):
    order: FindingOrder | None = Field(description="our order of the trade, when there is one")
    run: Run


class ConsistencyFinding(Answer):
    check: str
    broken: bool
    count: int = Field(description="how many rows break the check")
    rows: list[dict[str, Any]] = Field(description="the first of the rows that break it, shaped by the check")
    rows_left_out: int


class ConsistencyFindingSummary(Answer):
    check: str
    broken: bool
    count: int
    rows_left_out: int


class ConsistencyReport(Answer):
    report_id: str
    source: str = Field(description="schedule or back_office")
    requested_by: int | None
    started_at: str
    broken: list[str] = Field(description="the checks found broken among those the caller may see")
    findings: list[ConsistencyFinding]


class ConsistencyReportSummary(Answer):
    report_id: str
    source: str
    requested_by: int | None
    started_at: str
    broken: list[str]
    findings: list[ConsistencyFindingSummary]


class ConsistencyReportPage(Answer):
    items: list[ConsistencyReportSummary]
