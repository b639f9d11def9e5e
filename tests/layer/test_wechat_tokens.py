"""The WeChat access token is shared by all containers through the database."""
import concurrent.futures

import sqlalchemy as sa

from hospital import wechat_tokens
from hospital.adapters.wechat import WeChatApi
from hospital.db import engine


def _secret(platform):
    return platform.wechat_secrets[platform.mini_program_app_id]


def test_concurrent_containers_fetch_the_token_once(db, platform, fresh_app_id):
    api = WeChatApi(platform.wechat.url)
    before = platform.wechat.stats().get("/cgi-bin/stable_token", 0)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(lambda _: wechat_tokens.access_token(fresh_app_id, "sim-secret", api), range(16)))
    assert len(set(tokens)) == 1
    assert platform.wechat.stats()["/cgi-bin/stable_token"] - before == 1
    # A later container reads it from the database, no WeChat call.
    wechat_tokens.forget_held()
    assert wechat_tokens.access_token(fresh_app_id, "sim-secret", api) == tokens[0]
    assert platform.wechat.stats()["/cgi-bin/stable_token"] - before == 1


def test_invalid_token_is_replaced_once(db, platform, fresh_app_id):
    api = WeChatApi(platform.wechat.url)
    old = wechat_tokens.access_token(fresh_app_id, "sim-secret", api)
    new = wechat_tokens.invalidate(fresh_app_id, old, "sim-secret", api)
    assert new != old
    # A second container noticing the same stale token gets the new one without a fetch.
    before = platform.wechat.stats()["/cgi-bin/stable_token"]
    assert wechat_tokens.invalidate(fresh_app_id, old, "sim-secret", api) == new
    assert platform.wechat.stats()["/cgi-bin/stable_token"] == before


def test_two_containers_refused_the_same_token_force_refresh_once(db, platform, fresh_app_id):
    api = WeChatApi(platform.wechat.url)
    old = wechat_tokens.access_token(fresh_app_id, "sim-secret", api)
    before = platform.wechat.stats()["/cgi-bin/stable_token"]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        replaced = set(pool.map(lambda _: wechat_tokens.invalidate(fresh_app_id, old, "sim-secret", api), range(4)))
    assert len(replaced) == 1
    assert old not in replaced
    assert platform.wechat.stats()["/cgi-bin/stable_token"] - before == 1


def test_a_container_reads_the_token_once_for_a_burst_and_never_reuses_a_refused_one(db, platform, fresh_app_id):
    api = WeChatApi(platform.wechat.url)
    first = wechat_tokens.access_token(fresh_app_id, "sim-secret", api)
    wechat_tokens.forget_held()
    reads = []

    def count(conn, cursor, statement, *args):
        if "wechat_access_tokens" in statement:
            reads.append(statement)

    sa.event.listen(engine(), "before_cursor_execute", count)
    try:
        burst = {wechat_tokens.access_token(fresh_app_id, "sim-secret", api) for _ in range(20)}
        assert burst == {first}
        assert len(reads) == 1
        replaced = wechat_tokens.invalidate(fresh_app_id, first, "sim-secret", api)
        assert replaced != first
        assert wechat_tokens.access_token(fresh_app_id, "sim-secret", api) == replaced
    finally:
        sa.event.remove(engine(), "before_cursor_execute", count)
