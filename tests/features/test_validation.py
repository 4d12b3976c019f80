"""The data contract's checks (docs/input-contract.md): truth tables per rule, structural errors, time zones, PII."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.contract import TABLES, ContractError
from features.validation import REJECTS_SCHEMA, TableValidator, validate_table, validate_tables

INGESTED_AT = datetime(2026, 1, 1, tzinfo=timezone.utc)
KNOWN_CUSTOMER = pl.DataFrame({"customer_id": ["C1"], "signup_at": ["2024-01-01"]})
# one valid row per table; each truth-table row overrides some of its values
BASE_ROWS = {
    "customers": {"customer_id": "C2", "signup_at": "2025-01-01"},
    "events": {"customer_id": "C1", "ts": "2025-06-01T10:00:00", "event_type": "login"},
    "subscriptions": {"customer_id": "C1", "started_at": "2025-01-01"},
    "tickets": {"ticket_id": "T1", "customer_id": "C1", "opened_at": "2025-06-01T10:00:00"},
    "orders": {"order_id": "O1", "customer_id": "C1", "ordered_at": "2025-06-01"},
    "billing": {"customer_id": "C1", "ts": "2025-06-01", "kind": "payment_failed"},
    "surveys": {"customer_id": "C1", "sent_at": "2025-06-01"},
}


@dataclass(frozen=True)
class Rejected:
    reason: str


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def outcome(config, table: str, column: str, **values):
    """Validate one row of `table` (beside customer C1): its accepted value in `column`, or Rejected(reason)."""
    row = pl.DataFrame([{**BASE_ROWS[table], **values}])
    raws = {"customers": row} if table == "customers" else {"customers": KNOWN_CUSTOMER, table: row}
    result = validate_tables(raws, config, INGESTED_AT)[table]
    if result.rejects.height:
        return Rejected(result.rejects["reason"][0])
    return result.accepted[column][0]


TRUTH_TABLE = [
    # timestamps: ISO 8601 with or without offset, date-only; typed values; nulls; the future
    ("customers", "signup_at", {"signup_at": "2025-01-02"}, utc(2025, 1, 2)),
    ("customers", "signup_at", {"signup_at": "2025-01-02T03:04:05"}, utc(2025, 1, 2, 3, 4, 5)),
    ("customers", "signup_at", {"signup_at": "2025-01-02 03:04:05.123456"}, utc(2025, 1, 2, 3, 4, 5, 123456)),
    ("customers", "signup_at", {"signup_at": "2025-01-02T03:04"}, utc(2025, 1, 2, 3, 4)),
    ("customers", "signup_at", {"signup_at": "2025-01-02T03:04:05Z"}, utc(2025, 1, 2, 3, 4, 5)),
    ("customers", "signup_at", {"signup_at": "2025-01-02T03:04:05+02:00"}, utc(2025, 1, 2, 1, 4, 5)),
    ("customers", "signup_at", {"signup_at": "2025-01-02T03:04:05-0500"}, utc(2025, 1, 2, 8, 4, 5)),
    ("customers", "signup_at", {"signup_at": "2025-01-02T03:04:05+02"}, utc(2025, 1, 2, 1, 4, 5)),
    ("customers", "signup_at", {"signup_at": "2025-01-02 03:04+01:00"}, utc(2025, 1, 2, 2, 4)),
    ("customers", "signup_at", {"signup_at": "2025-01-02T03:04Z"}, utc(2025, 1, 2, 3, 4)),
    ("customers", "signup_at", {"signup_at": " 2025-01-02 "}, utc(2025, 1, 2)),
    ("customers", "signup_at", {"signup_at": datetime(2025, 1, 2, 3, 4)}, utc(2025, 1, 2, 3, 4)),
    ("customers", "signup_at", {"signup_at": date(2025, 1, 2)}, utc(2025, 1, 2)),
    ("customers", "signup_at", {"signup_at": "2026-01-01T00:00:00Z"}, utc(2026, 1, 1)),  # the ingest moment itself
    ("customers", "signup_at", {"signup_at": "2025-13-01"}, Rejected("unparseable timestamp in signup_at: '2025-13-01'")),
    ("customers", "signup_at", {"signup_at": "yesterday"}, Rejected("unparseable timestamp in signup_at: 'yesterday'")),
    ("customers", "signup_at", {"signup_at": "02/01/2025"}, Rejected("unparseable timestamp in signup_at: '02/01/2025'")),
    ("customers", "signup_at", {"signup_at": None}, Rejected("null signup_at")),
    ("customers", "signup_at", {"signup_at": ""}, Rejected("null signup_at")),
    ("customers", "signup_at", {"signup_at": "2027-01-01"}, Rejected("signup_at 2027-01-01T00:00:00Z is after ingest")),
    ("events", "ts", {"ts": datetime(2026, 1, 1, 0, 0, 1)}, Rejected("ts 2026-01-01T00:00:01Z is after ingest")),
    # keys
    ("customers", "customer_id", {"customer_id": 42}, "42"),
    ("customers", "customer_id", {"customer_id": None}, Rejected("null customer_id")),
    ("customers", "customer_id", {"customer_id": "  "}, Rejected("null customer_id")),
    # ids lose surrounding whitespace and keep their case (docs/input-contract.md, 'Ids')
    ("customers", "customer_id", {"customer_id": " C2\t"}, "C2"),
    ("customers", "customer_id", {"customer_id": "c 2"}, "c 2"),
    ("events", "customer_id", {"customer_id": "C1 "}, "C1"),
    ("events", "customer_id", {"customer_id": "c1"}, Rejected("unknown customer_id")),
    ("tickets", "ticket_id", {"ticket_id": " T1 "}, "T1"),
    ("orders", "order_id", {"order_id": "O1\n"}, "O1"),
    ("surveys", "survey_id", {"survey_id": " S1 "}, "S1"),
    ("surveys", "survey_id", {"survey_id": "   "}, None),  # a blank id is no id
    ("events", "event_type", {"event_type": " login "}, " login "),  # other text is kept as read
    ("events", "event_type", {"event_type": None}, Rejected("null event_type")),
    ("tickets", "ticket_id", {"ticket_id": None}, Rejected("null ticket_id")),
    ("billing", "kind", {"kind": ""}, Rejected("null kind")),
    ("events", "customer_id", {"customer_id": "C9"}, Rejected("unknown customer_id")),
    ("surveys", "customer_id", {"customer_id": "C9"}, Rejected("unknown customer_id")),
    # numbers, integers, booleans
    ("tickets", "wait_seconds", {"wait_seconds": "12.5"}, 12.5),
    ("tickets", "wait_seconds", {"wait_seconds": 30}, 30.0),
    ("tickets", "wait_seconds", {"wait_seconds": None}, None),
    ("tickets", "wait_seconds", {"wait_seconds": float("nan")}, None),
    ("tickets", "wait_seconds", {"wait_seconds": -1.0}, Rejected("negative wait_seconds")),
    ("tickets", "wait_seconds", {"wait_seconds": "abc"}, Rejected("unparseable number in wait_seconds: 'abc'")),
    ("tickets", "wait_seconds", {"wait_seconds": "inf"}, Rejected("unparseable number in wait_seconds: 'inf'")),
    ("tickets", "handoffs", {"handoffs": "2"}, 2),
    ("tickets", "handoffs", {"handoffs": 2.0}, 2),
    ("tickets", "handoffs", {"handoffs": 2.5}, Rejected("unparseable integer in handoffs: '2.5'")),
    ("tickets", "handoffs", {"handoffs": -1}, Rejected("negative handoffs")),
    ("tickets", "reopened", {"reopened": True}, True),
    ("tickets", "reopened", {"reopened": "yes"}, True),
    ("tickets", "reopened", {"reopened": "0"}, False),
    ("tickets", "reopened", {"reopened": 1}, True),
    ("tickets", "reopened", {"reopened": "maybe"}, Rejected("unparseable boolean in reopened: 'maybe'")),
    ("tickets", "escalated", {"escalated": 2}, Rejected("unparseable boolean in escalated: '2'")),
    ("events", "value", {"value": -1.0}, Rejected("negative value")),
    ("orders", "amount", {"amount": -1.0}, Rejected("negative amount")),
    ("subscriptions", "amount", {"amount": -1.0}, Rejected("negative amount")),
    ("billing", "amount", {"amount": -5.0}, -5.0),  # refunds may be signed either way
    # durations that cannot be negative; planned dates may lie in the future
    ("tickets", "resolved_at", {"resolved_at": "2025-06-01T10:00:00"}, utc(2025, 6, 1, 10)),
    ("tickets", "resolved_at", {"resolved_at": "2025-05-31"}, Rejected("resolved_at before opened_at")),
    ("orders", "promised_at", {"promised_at": "2027-01-01"}, utc(2027, 1, 1)),
    ("orders", "promised_at", {"promised_at": "2025-05-01"}, Rejected("promised_at before ordered_at")),
    ("orders", "delivered_at", {"delivered_at": "2027-01-01"}, Rejected("delivered_at 2027-01-01T00:00:00Z is after ingest")),
    ("subscriptions", "ended_at", {"ended_at": "2027-06-01"}, utc(2027, 6, 1)),
    ("subscriptions", "ended_at", {"ended_at": "2024-12-31"}, Rejected("ended_at before started_at")),
    # survey answers: a score and a response time together, on the configured scale
    ("surveys", "score", {"responded_at": "2025-06-02", "score": 10.0}, 10.0),
    ("surveys", "score", {"responded_at": "2025-06-02", "score": 0.0}, 0.0),
    ("surveys", "score", {"responded_at": "2025-06-02", "score": 7.5}, 7.5),
    ("surveys", "score", {"responded_at": None, "score": None}, None),  # not answered
    ("surveys", "score", {"responded_at": "2025-06-02", "score": 11.0}, Rejected("score 11 outside nps scale 0–10")),
    ("surveys", "score", {"responded_at": "2025-06-02", "score": -0.5}, Rejected("score -0.5 outside nps scale 0–10")),
    ("surveys", "score", {"responded_at": None, "score": 9.0}, Rejected("score without responded_at")),
    ("surveys", "score", {"responded_at": "2025-06-02", "score": None}, Rejected("responded_at without score")),
    ("surveys", "score", {"responded_at": "2025-05-31", "score": 9.0}, Rejected("responded_at before sent_at")),
    # several reasons at once, in contract order
    (
        "tickets",
        "ticket_id",
        {"ticket_id": None, "wait_seconds": -1.0, "customer_id": "C9"},
        Rejected("null ticket_id; negative wait_seconds; unknown customer_id"),
    ),
]


@pytest.mark.parametrize(("table", "column", "values", "expected"), TRUTH_TABLE)
def test_row_rules(make_config, table, column, values, expected):
    assert outcome(make_config(), table, column, **values) == expected


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (1.0, 1.0),
        (5.0, 5.0),
        (0.0, Rejected("score 0 outside csat scale 1–5")),
        (6.0, Rejected("score 6 outside csat scale 1–5")),
    ],
)
def test_score_follows_the_configured_scale(make_config, score, expected):
    config = make_config(survey={"scale": "csat"})
    assert outcome(config, "surveys", "score", responded_at="2025-06-02", score=score) == expected


@pytest.mark.parametrize(
    ("timezone_name", "value", "expected"),
    [
        ("Europe/Berlin", "2025-01-15 09:00", utc(2025, 1, 15, 8)),  # CET, UTC+1
        ("Europe/Berlin", "2025-07-15 09:00", utc(2025, 7, 15, 7)),  # CEST, UTC+2
        ("Europe/Berlin", "2025-07-15", utc(2025, 7, 14, 22)),
        ("Europe/Berlin", datetime(2025, 7, 15, 9), utc(2025, 7, 15, 7)),
        ("Europe/Berlin", date(2025, 7, 15), utc(2025, 7, 14, 22)),
        ("Europe/Berlin", "2025-07-15T09:00:00Z", utc(2025, 7, 15, 9)),  # aware values keep their instant
        ("Europe/Berlin", datetime(2025, 7, 15, 9, tzinfo=timezone.utc), utc(2025, 7, 15, 9)),
        # daylight saving: a repeated hour takes its first instant; a skipped one is shifted forward by the gap
        ("Europe/Berlin", "2025-10-26 02:30", utc(2025, 10, 26, 0, 30)),  # 02:30 CEST, not CET
        ("Europe/Berlin", "2025-10-26 01:59", utc(2025, 10, 25, 23, 59)),  # just before the overlap
        ("Europe/Berlin", "2025-10-26 03:00", utc(2025, 10, 26, 2)),  # just after it
        ("Europe/Berlin", "2025-03-30 02:30", utc(2025, 3, 30, 1, 30)),  # the gap: read as CET, i.e. 03:30 CEST
        ("Europe/Berlin", "2025-03-30 01:59", utc(2025, 3, 30, 0, 59)),  # just before the gap
        ("Europe/Berlin", "2025-03-30 03:00", utc(2025, 3, 30, 1)),  # the gap's end
        ("America/New_York", "2025-01-15 09:00", utc(2025, 1, 15, 14)),
        ("America/New_York", "2025-03-09 02:46:56", utc(2025, 3, 9, 7, 46, 56)),  # the gap: 03:46:56 EDT
        ("America/New_York", "2025-03-09 02:00", utc(2025, 3, 9, 7)),  # the gap's first instant: 03:00 EDT
        ("America/New_York", "2025-03-09 03:00", utc(2025, 3, 9, 7)),  # the same instant, written as it exists
        ("America/New_York", datetime(2025, 3, 9, 2, 30), utc(2025, 3, 9, 7, 30)),  # typed naive values alike
        ("America/New_York", "2025-11-02 01:30", utc(2025, 11, 2, 5, 30)),  # the overlap: 01:30 EDT, the earlier
        ("America/New_York", "2025-11-02 01:30-05:00", utc(2025, 11, 2, 6, 30)),  # an offset settles which one
        ("America/New_York", "2025-03-09 02:46:56Z", utc(2025, 3, 9, 2, 46, 56)),  # aware: no gap in UTC
        ("UTC", "2025-01-15 09:00", utc(2025, 1, 15, 9)),
        ("UTC", "2025-03-09 02:46:56", utc(2025, 3, 9, 2, 46, 56)),
        ("America/New_York", "2025-03-09 25:46:56", Rejected("unparseable timestamp in signup_at: '2025-03-09 25:46:56'")),
    ],
)
def test_naive_timestamps_are_read_in_the_source_timezone(make_config, timezone_name, value, expected):
    config = make_config(source={"timezone": timezone_name})
    assert outcome(config, "customers", "signup_at", signup_at=value) == expected


def test_duplicates_keep_the_first_occurrence_in_source_order(make_config):
    tickets = pl.DataFrame(
        {
            "ticket_id": ["T1", "T2", "T1", "T1"],
            "customer_id": ["C1"] * 4,
            "opened_at": ["2025-06-01"] * 4,
            "category": ["first", "other", "second", "third"],
        }
    )
    result = validate_tables({"customers": KNOWN_CUSTOMER, "tickets": tickets}, make_config(), INGESTED_AT)["tickets"]
    assert result.accepted.select("ticket_id", "category").rows() == [("T1", "first"), ("T2", "other")]
    assert result.rejects["reason"].to_list() == ["duplicate ticket_id"] * 2
    assert result.reasons == {"duplicate ticket_id": 2}


def test_rows_of_rejected_customers_are_unknown(make_config):
    customers = pl.DataFrame({"customer_id": ["C1", "C2", "C1"], "signup_at": ["2025-01-01", "not a date", "2025-02-01"]})
    events = pl.DataFrame({"customer_id": ["C1", "C2"], "ts": ["2025-06-01"] * 2, "event_type": ["login"] * 2})
    result = validate_tables({"customers": customers, "events": events}, make_config(), INGESTED_AT)
    assert result["customers"].accepted["customer_id"].to_list() == ["C1"]
    assert result["events"].accepted["customer_id"].to_list() == ["C1"]
    assert result["events"].rejects["reason"].to_list() == ["unknown customer_id"]


# --- structure: fails before any work, naming table, column, types and config key -------------


STRUCTURE_ERRORS = [
    (
        "customers",
        pl.DataFrame({"customer_id": ["C1"]}),
        {},
        [
            "customers.signup_at",
            "required column missing",
            "expected timestamp",
            "found no such column",
            "source.columns.customers.signup_at",
        ],
    ),
    (
        "customers",
        pl.DataFrame({"account_id": ["C1"], "signup_at": ["2025-01-01"]}),
        {"customers": {"customer_id": "acct"}},
        ["customers.customer_id", "'acct'", "expected text", "found no such column", "source.columns.customers.customer_id"],
    ),
    (
        "tickets",
        pl.DataFrame({"ticket_id": ["T1"], "customer_id": ["C1"], "opened_at": [True]}),
        {},
        ["tickets.opened_at", "expected timestamp", "found Boolean", "source.columns.tickets.opened_at"],
    ),
    (
        "events",
        pl.DataFrame({"customer_id": ["C1"], "when": [["2025-01-01"]], "event_type": ["login"]}),
        {"events": {"ts": "when"}},
        ["events.ts", "expected timestamp", "found List(String)", "source column 'when'", "source.columns.events.ts"],
    ),
    (
        "tickets",
        pl.DataFrame(
            {"ticket_id": ["T1"], "customer_id": ["C1"], "opened_at": ["2025-01-01"], "wait_seconds": [datetime(2025, 1, 1)]}
        ),
        {},
        ["tickets.wait_seconds", "expected number", "found Datetime", "source.columns.tickets.wait_seconds"],
    ),
    (
        "customers",
        pl.DataFrame({"customer_id": [1.5], "signup_at": ["2025-01-01"]}),
        {},
        ["customers.customer_id", "expected text", "found Float64", "source.columns.customers.customer_id"],
    ),
    (
        "tickets",
        pl.DataFrame({"ticket_id": ["T1"], "customer_id": ["C1"], "opened_at": ["2025-01-01"]}),
        {"tickets": {"resolved_at": "solved_at"}},
        ["tickets.resolved_at", "mapped column missing", "'solved_at'", "source.columns.tickets.resolved_at"],
    ),
    (
        "events",
        pl.DataFrame({"customer_id": ["C1"], "ts": ["2025-01-01"], "event_type": ["login"]}),
        {"events": {"kind": "type"}},
        ["source.columns.events.kind", "not a column of the events contract"],
    ),
]


@pytest.mark.parametrize(("table", "raw", "columns", "expected_parts"), STRUCTURE_ERRORS)
def test_structural_errors_name_table_column_types_and_config_key(make_config, table, raw, columns, expected_parts):
    config = make_config(source={"columns": columns})
    with pytest.raises(ContractError) as error:
        validate_table(raw, table, config, INGESTED_AT)
    for part in expected_parts:
        assert part in str(error.value)


def test_a_pii_column_cannot_stand_in_for_a_contract_column(make_config):
    config = make_config(source={"pii": {"customers": ["email"]}, "columns": {"customers": {"customer_id": "email"}}})
    raw = pl.DataFrame({"email": ["a@example.com"], "signup_at": ["2025-01-01"]})
    with pytest.raises(ContractError, match=r"customers\.customer_id.*source\.pii\.customers"):
        validate_table(raw, "customers", config, INGESTED_AT)


def test_structural_errors_of_all_tables_are_raised_together_before_any_row_work(make_config):
    raws = {
        "customers": pl.DataFrame({"customer_id": ["C1"]}),
        "events": pl.DataFrame({"customer_id": ["C1"], "ts": [True], "event_type": ["login"]}),
    }
    with pytest.raises(ContractError) as error:
        validate_tables(raws, make_config(), INGESTED_AT)
    assert "customers.signup_at" in str(error.value) and "events.ts" in str(error.value)


@pytest.mark.parametrize(
    ("column", "values", "typed", "error"),
    [
        # text in a typed source (Parquet, DuckDB, PostgreSQL) is never parsed into another type
        ("ts", ["2025-06-01"], True, "events.ts: expected timestamp"),
        ("value", ["12.5"], True, "events.value: expected number"),
        ("ts", ["2025-06-01"], False, None),  # CSV: text is parsed row by row
        ("value", ["12.5"], False, None),
        ("channel", ["web"], True, None),  # text for a text column is fine anywhere
        ("ts", [datetime(2025, 6, 1)], True, None),
        ("value", [12], True, None),
        ("value", [None], True, None),  # an all-null column fits any type
    ],
)
def test_text_is_parsed_only_from_untyped_sources(make_config, column, values, typed, error):
    typed_row = {"customer_id": ["C1"], "ts": [datetime(2025, 6, 1, 10)], "event_type": ["login"]}
    events = pl.DataFrame({**typed_row, column: values})
    raws = {"customers": KNOWN_CUSTOMER, "events": events}
    if error is None:
        assert validate_tables(raws, make_config(), INGESTED_AT, typed={"events"} if typed else ())["events"].accepted.height == 1
        return
    with pytest.raises(ContractError) as raised:
        validate_tables(raws, make_config(), INGESTED_AT, typed={"events"})
    assert str(raised.value).startswith(error) and f"config key source.columns.events.{column}" in str(raised.value)
    assert "customers" not in str(raised.value)  # customers, read as untyped here, hold text times


def test_a_contract_type_a_source_can_hold_is_no_structural_error(make_config):
    # all-null columns (e.g. an empty CSV column) and integer ids are fine
    raw = pl.DataFrame({"customer_id": [7], "signup_at": [None]}, schema_overrides={"signup_at": pl.Null})
    result = validate_table(raw, "customers", make_config(), INGESTED_AT)
    assert result.rejects["reason"].to_list() == ["null signup_at"]


# --- shape of what comes out -----------------------------------------------------------------


def test_column_mapping_renames_to_contract_names_and_rejects_keep_source_names(make_config):
    config = make_config(
        source={
            "columns": {
                "customers": {"customer_id": "account_id", "signup_at": "created", "monthly_value": "mrr"},
                "events": {"customer_id": "account_id", "ts": "event_time", "event_type": "name"},
            }
        }
    )
    customers = pl.DataFrame({"account_id": ["A1", None], "created": ["2025-01-01", "2025-01-01"], "mrr": [9.5, 1.0]})
    events = pl.DataFrame({"account_id": ["A1", "A2"], "event_time": ["2025-06-01", "2025-06-01"], "name": ["login", "login"]})
    result = validate_tables({"customers": customers, "events": events}, config, INGESTED_AT)
    assert result["customers"].accepted.columns == ["customer_id", "signup_at", "monthly_value"]
    assert result["events"].accepted.select("customer_id", "event_type").rows() == [("A1", "login")]
    assert json.loads(result["customers"].rejects["row"][0]) == {"account_id": None, "created": "2025-01-01", "mrr": 1.0}
    assert json.loads(result["events"].rejects["row"][0])["account_id"] == "A2"


def test_one_source_column_may_feed_two_contract_columns(make_config):
    # only answers are known: sent_at = responded_at (docs/input-contract.md)
    config = make_config(source={"columns": {"surveys": {"sent_at": "answered_at", "responded_at": "answered_at"}}})
    surveys = pl.DataFrame({"customer_id": ["C1"], "answered_at": ["2025-06-01"], "score": [3]})
    result = validate_tables({"customers": KNOWN_CUSTOMER, "surveys": surveys}, config, INGESTED_AT)["surveys"]
    assert result.accepted.select("sent_at", "responded_at", "score").row(0) == (utc(2025, 6, 1), utc(2025, 6, 1), 3.0)


def test_accepted_frames_have_every_contract_column_in_its_type(make_config):
    events = pl.DataFrame({"customer_id": ["C1"], "ts": ["2025-06-01"], "event_type": ["login"], "debug_blob": ["x"]})
    result = validate_tables({"customers": KNOWN_CUSTOMER, "events": events}, make_config(), INGESTED_AT)["events"]
    expected = pl.Schema({c.name: c.dtype for c in TABLES["events"].columns})
    assert result.accepted.schema == expected  # unknown columns dropped, absent optional ones typed and null


def test_customers_keep_their_attributes_excluded_ones_too(make_config):
    config = make_config(source={"exclude": {"customers": ["sales_rep"]}})
    customer = {"customer_id": "C1", "signup_at": "2025-01-01", "plan": "pro", "seats": 3, "sales_rep": "Ann"}
    accepted = validate_table(pl.DataFrame([customer]), "customers", config, INGESTED_AT).accepted
    assert accepted.row(0, named=True) == {**customer, "signup_at": utc(2025, 1, 1)}


def test_rejects_hold_the_original_row_as_json_with_iso_timestamps(make_config):
    events = pl.DataFrame(
        {
            "customer_id": ["C9"],
            "ts": [datetime(2025, 6, 1, 10, 30)],
            "event_type": ["login"],
            "received": [datetime(2025, 6, 1, 10, 31, tzinfo=timezone.utc)],
            "day": [date(2025, 6, 1)],
            "value": [2],
        }
    )
    rejects = validate_tables({"customers": KNOWN_CUSTOMER, "events": events}, make_config(), INGESTED_AT)["events"].rejects
    assert rejects.schema == REJECTS_SCHEMA
    assert rejects.row(0)[:2] == ("events", "unknown customer_id")
    assert json.loads(rejects["row"][0]) == {
        "customer_id": "C9",
        "ts": "2025-06-01T10:30:00",
        "event_type": "login",
        "received": "2025-06-01T10:31:00Z",
        "day": "2025-06-01",
        "value": 2,
    }
    assert rejects["ingested_at"][0] == INGESTED_AT


def test_pii_never_reaches_accepted_rows_or_rejects(make_config):
    config = make_config(source={"pii": {"customers": ["email", "name"], "tickets": ["caller_phone"]}})
    customers = pl.DataFrame(
        {
            "customer_id": ["C1", "C2", None],
            "signup_at": ["2025-01-01", "bad", "2025-01-01"],
            "email": ["ann@example.com", "bob@example.com", "cy@example.com"],
            "name": ["Ann", "Bob", "Cy"],
            "plan": ["pro", "basic", "pro"],
        }
    )
    tickets = pl.DataFrame(
        {"ticket_id": ["T1", None], "customer_id": ["C1"] * 2, "opened_at": ["2025-06-01"] * 2, "caller_phone": ["555-0101"] * 2}
    )
    result = validate_tables({"customers": customers, "tickets": tickets}, config, INGESTED_AT)
    assert {"email", "name"}.isdisjoint(result["customers"].accepted.columns)
    rows = [json.loads(row) for v in result.values() for row in v.rejects["row"]]
    assert len(rows) == 3
    for row in rows:
        assert {"email", "name", "caller_phone"}.isdisjoint(row)
        assert not any(secret in json.dumps(row) for secret in ("example.com", "Ann", "Bob", "555-0101"))


def test_the_moment_of_ingest_must_be_timezone_aware(make_config):
    with pytest.raises(ValueError, match="timezone-aware"):
        validate_table(KNOWN_CUSTOMER, "customers", make_config(), datetime(2026, 1, 1))


# --- property: every row read is accepted or rejected, exactly once ---------------------------

# good and bad values mixed per column; each row also carries a unique tag to follow it through
MIXED_VALUES = {
    "customers": {
        "customer_id": ["C1", "C2", "C3", None, ""],
        "signup_at": ["2025-01-01", "2025-02-03T04:05:06+01:00", "2025-13-01", "2030-01-01", None],
    },
    "tickets": {
        "ticket_id": ["T1", "T2", "T3", "T4", None],
        "customer_id": ["C1", "C2", "C4", None],
        "opened_at": ["2025-06-01", "2025-06-01T12:00:00Z", "never", "2031-01-01", None],
        "resolved_at": ["2025-05-01", "2025-07-01", None],
        "wait_seconds": ["5", "-3", "abc", None],
    },
    "surveys": {
        "customer_id": ["C1", "C3", "C5"],
        "sent_at": ["2025-06-01", None],
        "responded_at": ["2025-06-02", "2025-05-02", None],
        "score": ["3", "10", "11", "x", None],
    },
}
TAG = {"customers": "plan", "tickets": "category", "surveys": "trigger"}  # a text column each table keeps


def tagged_frame(table: str, rows: list[dict]) -> pl.DataFrame:
    schema = dict.fromkeys([*MIXED_VALUES[table], TAG[table]], pl.String)
    return pl.DataFrame([{**row, TAG[table]: f"{table}-{i}"} for i, row in enumerate(rows)], schema=schema)


def mixed_rows(table: str):
    return st.lists(st.fixed_dictionaries({c: st.sampled_from(v) for c, v in MIXED_VALUES[table].items()}), max_size=30)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(customers=mixed_rows("customers"), tickets=mixed_rows("tickets"), surveys=mixed_rows("surveys"))
def test_every_row_is_accepted_or_rejected_exactly_once(make_config, customers, tickets, surveys):
    raws = {"customers": tagged_frame("customers", customers), "tickets": tagged_frame("tickets", tickets)}
    raws["surveys"] = tagged_frame("surveys", surveys)
    result = validate_tables(raws, make_config(), INGESTED_AT)
    for table, validated in result.items():
        tag = TAG[table]
        assert validated.accepted.height + validated.rejects.height == raws[table].height
        seen = validated.accepted[tag].to_list() + [json.loads(row)[tag] for row in validated.rejects["row"]]
        assert sorted(seen) == sorted(raws[table][tag].to_list())  # none lost, none duplicated
        assert (validated.rejects["reason"].str.len_chars() > 0).all()  # every reject says why
        assert sum(validated.reasons.values()) >= validated.rejects.height
    customer_ids = result["customers"].accepted["customer_id"]
    assert customer_ids.is_unique().all()
    for table in ("tickets", "surveys"):
        assert result[table].accepted["customer_id"].is_in(customer_ids.implode()).all()


TICKET_ROWS = st.fixed_dictionaries(
    {
        "ticket_id": st.sampled_from(["T1", "T2", "T3", None, " "]),
        "customer_id": st.sampled_from(["C1", "C9", None]),  # C9 is unknown
        "opened_at": st.sampled_from(["2025-06-01", "2025-06-02T10:00:00", "yesterday", "2027-01-01", None]),
        "resolved_at": st.sampled_from(["2025-05-01", "2025-06-03", None]),
    }
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(TICKET_ROWS, max_size=12), cuts=st.lists(st.integers(0, 12), max_size=4))
def test_a_table_validated_batch_by_batch_matches_it_validated_whole(make_config, rows, cuts):
    """Ingest validates big tables in batches: duplicates across batches, references and counts
    must come out exactly as for the whole table (the first occurrence in source order stays)."""
    config = make_config()
    raw = pl.DataFrame(rows, schema={"ticket_id": pl.String, "customer_id": pl.String, "opened_at": pl.String, "resolved_at": pl.String})
    known = {"customers": KNOWN_CUSTOMER["customer_id"]}
    whole = validate_table(raw, "tickets", config, INGESTED_AT, known)

    validator = TableValidator(raw.schema, "tickets", config, INGESTED_AT, known)
    bounds = sorted({0, raw.height, *(c for c in cuts if c <= raw.height)})
    parts = [validator.validate(raw.slice(start, end - start)) for start, end in zip(bounds, bounds[1:])] or [validator.validate(raw)]
    assert_frame_equal(pl.concat([p.accepted for p in parts]), whole.accepted)
    assert_frame_equal(pl.concat([p.rejects for p in parts]), whole.rejects)
    assert (validator.accepted, validator.rejected, validator.reasons) == (whole.accepted.height, whole.rejects.height, whole.reasons)
    assert validator.accepted_keys.to_list() == whole.accepted["ticket_id"].to_list()
