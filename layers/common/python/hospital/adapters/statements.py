"""What the providers' daily statements share on our side (the insurance platform's detail
file, the credit provider's statement, the HIS's daily ledger; the WeChat Pay bill has its own
reader, hospital.adapters.wechatpay_bill): the error for a statement that cannot be read or
does not add up, and reading a streamed file line by line without holding it."""
from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator

from hospital.errors import UpstreamUnavailable


class StatementUnreadable(UpstreamUnavailable):
    """A statement that is not as its format says (a malformed line or field), or whose own
    totals disagree with its entries: it is not reconciled. An UpstreamUnavailable, as every
    unreadable answer is, so the caller may ask again later; `line` (1-based) or `field` says
    where, never a value (entries carry order ids, not personal data, but the rule is one)."""

    code = "statement_unreadable"

    def __init__(self, message: str, *, line: int | None = None, field: str | None = None):
        where = ", ".join(part for part in (f"line {line}" if line else "", f"field {field}" if field else "")
                          if part)
        super().__init__(f"{message} ({where})" if where else message, field=field)
        self.line = line


def text_lines(chunks: Iterable[bytes], encoding: str = "utf-8") -> Iterator[str]:
    """The lines of a file arriving in chunks, without their LF or CRLF, decoded as they come:
    a line split across chunks (even inside a character) is joined. Undecodable bytes raise
    StatementUnreadable."""
    decoder = codecs.getincrementaldecoder(encoding)()
    rest = ""
    try:
        for chunk in chunks:
            rest += decoder.decode(chunk)
            *complete, rest = rest.split("\n")
            for line in complete:
                yield line.removesuffix("\r")
        rest += decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise StatementUnreadable(f"the statement is not {encoding}") from None
    if rest:
        yield rest.removesuffix("\r")
