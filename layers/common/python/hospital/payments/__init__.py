"""Payments and refunds: orders against HIS bills, WeChat Pay v3/v2, callbacks,
refunds, the ledger and the abnormal-order list for finance."""
