"""The findings' CSV cells: text a spreadsheet shows, never a formula it runs (AD1)."""
from hospital.reconciliation.findings import _cell


def test_a_cell_that_would_start_a_formula_is_quoted_as_text():
    for value in ("=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1+1", " \n=cmd"):
        assert _cell(value).startswith("'"), value
    assert _cell(-2500) == "-2500" and _cell("-2500") == "-2500"     # amounts stay numbers
    assert _cell(None) == "" and _cell("挂号费, \"普通门诊\"") == "挂号费, \"普通门诊\""
