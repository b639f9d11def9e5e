"""Nightly reconciliation: a day's provider statements (WeChat Pay's trade bill first) against
our ledger and orders and the HIS's ledger, every discrepancy found and classified."""
