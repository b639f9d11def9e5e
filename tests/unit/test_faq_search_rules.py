"""The FAQ's Chinese search terms (AS2): NFKC, lowercase, full-width to half-width; CJK runs as
overlapping bigrams (single characters too in the index, for one-character queries), other
letters and digits as whole words; punctuation and spaces are never terms. Pure rules."""
from hospital.helpdesk import search_rules as s


def finds(query: str, document: str) -> set[str]:
    return set(s.query_terms(query)) & s.document_terms(document)


def test_a_query_finds_a_question_that_spells_it_apart_AS2():
    assert s.query_terms("挂号退费") == ["挂号", "号退", "退费"]
    assert finds("挂号退费", "如何办理挂号后的退费") == {"挂号", "退费"}


def test_a_two_character_word_does_not_match_its_characters_elsewhere_AS2():
    assert finds("医保", "医保卡怎么绑定") == {"医保"}
    assert finds("医保", "商业保险如何报销") == set()
    assert finds("医保", "医院的保安") == set()  # 医 and 保, but never side by side


def test_a_one_character_query_finds_the_character_AS2():
    assert s.query_terms("药") == ["药"]
    assert finds("药", "取药窗口在哪里") == {"药"}


def test_punctuation_and_spaces_separate_and_are_ignored_AS2():
    assert s.query_terms("挂号，退费？") == ["挂号", "退费"]
    assert s.query_terms("  挂号 / 退费!! ") == ["挂号", "退费"]
    assert "号退" not in s.document_terms("挂号。退费")  # no bigram across a full stop
    assert s.query_terms("。，！？ ...") == []


def test_full_width_and_case_are_folded_AS2():
    assert s.query_terms("ＷｅＣｈａｔ Pay") == ["wechat", "pay"]
    assert s.query_terms("１２０急救") == ["120", "急救"]
    assert finds("wechat", "在 WeChat 中打开") == {"wechat"}


def test_words_are_whole_words_not_pieces_AS2():
    assert s.query_terms("app登录") == ["app", "登录"]
    assert finds("app", "application") == set()
    assert s.document_terms("x" * 100) == {"x" * s.MAX_TERM}


def test_each_query_term_once_in_typed_order_and_at_most_a_page_AS2():
    assert s.query_terms("退费 退费 挂号") == ["退费", "挂号"]
    pasted = "".join(chr(0x4E00 + n) for n in range(100))  # 99 distinct bigrams
    assert s.query_terms(pasted) == [pasted[n:n + 2] for n in range(s.MAX_QUERY_TERMS)]


def test_question_and_tags_weigh_more_than_the_answer_AS2():
    weights = s.weighted_terms("医保怎么用", "带上医保卡", ["报销"])
    assert weights["医保"] == s.QUESTION_WEIGHT + s.ANSWER_WEIGHT
    assert weights["怎么"] == weights["报销"] == s.QUESTION_WEIGHT
    assert weights["保卡"] == s.ANSWER_WEIGHT
