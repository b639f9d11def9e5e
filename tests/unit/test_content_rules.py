"""Site content rules (AD3), without a database: the review workflow and its four-eyes rule,
the editors' base version, slugs, menus, the notice window and the public API's ETags."""
import datetime as dt

import pytest

from hospital.content import content_rules as rules

AUTHOR, REVIEWER = 7, 8


def step(action, state, *, version=3, latest=3, actor=REVIEWER, author=AUTHOR):
    return rules.step_refusal(action, state, version=version, latest=latest, actor=actor, author=author)


@pytest.mark.parametrize("action,state,to", [("submit", "draft", "in_review"), ("approve", "in_review", "approved"),
                                             ("reject", "in_review", "rejected")])
def test_each_step_moves_from_its_one_state_AD3(action, state, to):
    assert step(action, state) is None
    assert rules.moved_to(action) == to
    for other in set(rules.STATES) - {state}:
        refusal = step(action, other)
        assert refusal is not None and refusal.code == "wrong_state" and refusal.field == "version"


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_the_author_may_not_review_their_own_version_four_eyes_AD3(action):
    refusal = step(action, "in_review", actor=AUTHOR)
    assert refusal is not None and refusal.code == "four_eyes"


def test_the_author_may_submit_their_own_version_AD3():
    assert step("submit", "draft", actor=AUTHOR) is None


def test_only_the_latest_version_moves_AD3():
    refusal = step("approve", "in_review", version=2, latest=3)
    assert refusal is not None and refusal.code == "not_latest"


def test_an_edit_on_an_older_base_is_refused_naming_base_version_AD3():
    assert rules.base_refusal(4, 4) is None
    refusal = rules.base_refusal(3, 4)
    assert refusal is not None and refusal.field == "base_version" and refusal.code == "stale_base_version"


def test_only_a_published_item_is_unpublished_AD3():
    assert rules.unpublish_refusal("published") is None
    assert rules.unpublish_refusal("draft") is not None
    assert rules.unpublish_refusal("unpublished") is not None


@pytest.mark.parametrize("slug", ["visiting-hours", "a", "covid-19", "x" * 64])
def test_good_slugs_AD3(slug):
    assert rules.slug_refusal(slug) is None


@pytest.mark.parametrize("slug", ["", "Visiting", "two--hyphens", "-lead", "trail-", "with space", "ünï", "a/b",
                                  "x" * 65, "../etc", "a_b"])
def test_bad_slugs_AD3(slug):
    assert rules.slug_refusal(slug) is not None


def test_a_menu_of_links_pages_and_one_level_of_children_AD3():
    entries, refusal = rules.menu_entries([
        {"title": " 挂号 ", "page": "registration"},
        {"title": "服务", "children": [{"title": "院内导航", "url": "https://map.example.org/h?x=1"},
                                       {"title": "就诊须知", "page": "visit-guide"}]},
    ])
    assert refusal is None
    assert entries == [{"title": "挂号", "page": "registration"},
                       {"title": "服务", "children": [{"title": "院内导航", "url": "https://map.example.org/h?x=1"},
                                                      {"title": "就诊须知", "page": "visit-guide"}]}]


@pytest.mark.parametrize("menu,field", [
    ([], "menu"),
    ("not a list", "menu"),
    ([{"title": "x", "url": "http://example.org"}], "menu.0.url"),
    ([{"title": "x", "url": "javascript:alert(1)"}], "menu.0.url"),
    ([{"title": "x", "url": "https://"}], "menu.0.url"),
    ([{"title": "x", "url": "https://user@evil.example"}], "menu.0.url"),
    ([{"title": "x", "url": "https://a.example/\"onmouseover=x"}], "menu.0.url"),
    ([{"title": "x", "page": "Bad Slug"}], "menu.0.page"),
    ([{"title": "", "page": "a"}], "menu.0.title"),
    ([{"title": "x" * 41, "page": "a"}], "menu.0.title"),
    ([{"title": "x\u0007", "page": "a"}], "menu.0.title"),
    ([{"title": "x"}], "menu.0"),
    ([{"title": "x", "page": "a", "url": "https://a.example"}], "menu.0"),
    ([{"title": "x", "page": "a", "icon": "y"}], "menu.0.icon"),
    ([{"title": "x", "children": [{"title": "y", "children": [{"title": "z", "page": "a"}]}]}],
     "menu.0.children.0.children"),
    ([{"title": "x", "children": []}], "menu.0.children"),
    ([{"title": "x", "children": [{"title": "y", "url": "ftp://a"}]}], "menu.0.children.0.url"),
    ([{"title": f"t{i}", "page": "a"} for i in range(rules.MAX_MENU_ENTRIES + 1)], "menu"),
    (["just text"], "menu.0"),
])
def test_bad_menus_are_refused_naming_the_field_AD3(menu, field):
    entries, refusal = rules.menu_entries(menu)
    assert entries is None and refusal is not None and refusal.field == field


def test_the_notice_window_is_from_included_until_excluded_AD3():
    start, end = dt.datetime(2027, 2, 1), dt.datetime(2027, 2, 21)
    assert not rules.is_shown(start, end, start - dt.timedelta(microseconds=1))
    assert rules.is_shown(start, end, start)
    assert not rules.is_shown(start, end, end)
    assert rules.is_shown(None, None, start)
    assert rules.is_shown(None, end, start) and rules.is_shown(start, None, end)
    assert rules.window_refusal(start, end) is None
    refusal = rules.window_refusal(end, start)
    assert refusal is not None and refusal.field == "shown_until"
    assert rules.window_refusal(start, start) is not None


def test_pinned_notices_come_first_then_the_newest_AD3():
    older, newer = dt.datetime(2027, 1, 1), dt.datetime(2027, 1, 2)
    keys = {"old-pinned": rules.notice_order(True, older, "old-pinned"),
            "new": rules.notice_order(False, newer, "new"), "old": rules.notice_order(False, older, "old")}
    assert sorted(keys, key=keys.__getitem__) == ["old-pinned", "new", "old"]


def test_the_etag_names_the_published_versions_AD3():
    tag = rules.etag(("item-a", 3))
    assert tag.startswith('"') and tag.endswith('"')
    assert rules.etag(("item-a", 3)) == tag
    assert rules.etag(("item-a", 4)) != tag
    assert rules.etag(("item-b", 3)) != tag
    assert rules.etag(("item-a", 3), ("item-b", 1)) != rules.etag(("item-b", 1), ("item-a", 3))
    assert rules.etag() != tag


def test_if_none_match_is_compared_weakly_AD3():
    tag = rules.etag(("item-a", 3))
    assert rules.not_modified(tag, tag)
    assert rules.not_modified(f'"other", W/{tag}', tag)
    assert rules.not_modified("*", tag)
    assert not rules.not_modified(None, tag)
    assert not rules.not_modified("", tag)
    assert not rules.not_modified('"other"', tag)
    assert not rules.not_modified(tag.strip('"'), tag)
