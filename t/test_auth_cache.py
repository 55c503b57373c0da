"""test_auth_cache.py: the auth verdict cache (ngx_http_ow_auth_module): verdicts are per
auth location, a location without zone= never uses a cache, and cached verdicts keep
serving while Redis is away."""

import pytest

from conftest import GUEST, Api, assert_error
from owx.stack import Stack

EXTRA = r"""
        # an auth service that refuses everyone, sharing the zone
        location = /_deny { internal; return 401; }
        location /deny/ {
            ow_auth /_deny zone=owx_auth;
            rewrite ^/deny(/.*)$ $1 break;
            ow_api;
        }
        location /outer/ {
            ow_auth /_owauth zone=owx_auth;
            location /outer/nocache/ {
                ow_auth /_owauth;
                rewrite ^/outer/nocache(/.*)$ $1 break;
                ow_api;
            }
        }
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("owx"), port=0, redis_port=0, pool_port=0,
              extra_conf=EXTRA)
    s.start()
    yield s
    problems = s.error_log_problems()
    s.stop()
    assert problems == [], "nginx error log:\n" + "".join(problems)


def test_verdicts_are_per_auth_location(stack):
    api = Api(stack, GUEST)
    assert api.get("/api/v1/namespaces").status_code == 200      # cached for /_owauth
    assert_error(api.get("/deny/api/v1/namespaces"), 401,
                 "The supplied authentication is invalid")


def test_cached_verdicts_survive_redis_outage_uncached_do_not(stack):
    api = Api(stack, GUEST)
    assert api.get("/api/v1/namespaces").json() == ["guest"]
    assert api.get("/outer/nocache/api/v1/namespaces").json() == ["guest"]
    stack.stop_redis()
    try:
        # the namespaces list needs no Redis: only the auth verdict matters
        assert api.get("/api/v1/namespaces").json() == ["guest"]
        assert_error(api.get("/outer/nocache/api/v1/namespaces", timeout=10), 503)
    finally:
        stack.start_redis()
