"""test_error_shapes.py: every answer in OpenWhisk's shape. nginx's own rejections (a URI
over 8 KB, an internal location asked for) and the invoke path under overload answer
JSON {"error", "code": <X-Request-ID>}, never nginx's HTML pages, and every 429 and 503
says when to come back (Retry-After). The management API's validation answers 400 (or
413) with OpenWhisk's messages, never 500."""

import threading
import time

import requests

from conftest import NODE_KIND, assert_error

# two containers at most: a concurrency-1 action under 30 clients is over capacity
STACK_OPTIONS = {"pool_args": ["--max-containers-per-namespace", "2"]}
GUEST_LIMITS = {"invocationsPerMinute": 100000, "concurrentInvocations": 1000}

SLEEPY = ("function main(p) {\n"
          "  return new Promise(r => setTimeout(() => r({slept: true}), 300));\n"
          "}\n")


def put_action(api, name, code, **extra):
    body = {"exec": {"kind": NODE_KIND, "code": code}}
    body.update(extra)
    r = api.put("_/actions/%s?overwrite=true" % name, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_uri_over_8k_is_414_json_on_the_api_and_web_paths(stack, api):
    long = "a" * 9000
    for path in ("/api/v1/namespaces/_/actions/" + long,
                 "/api/v1/web/guest/default/" + long,
                 "/api/v1/namespaces/_/actions/x?p=" + long):
        r = api.get(path)
        assert_error(r, 414, "The request URI is longer than allowed.")


def test_internal_locations_asked_for_are_404_json(stack, api):
    for path in ("/_owinvoke/guest/x", "/_owx/unavailable", "/_owpool", "/_owauth", "/_owcomp/x", "/_owweb/guest/default/x"):
        assert_error(api.get(path), 404, "The requested resource does not exist.")


def test_merged_parameters_over_1_mb_are_413(stack, api):
    # 600 KB of action parameter plus 500 KB of request: each fits, merged not (before
    # the overload test: its container is one of the namespace's two)
    put_action(api, "heavy", "function main(p) { return {n: Object.keys(p).length}; }",
               parameters=[{"key": "big", "value": "p" * 600000}])
    r = api.post("_/actions/heavy?blocking=true&result=true",
                 json={"more": "r" * 500000}, timeout=30)
    body = assert_error(r, 413)
    assert body["error"].startswith("Request larger than allowed: "), body
    assert body["error"].endswith(" > 1048576 bytes."), body
    # overriding the big parameter keeps it under
    r = api.post("_/actions/heavy?blocking=true&result=true",
                 json={"big": "r" * 500000}, timeout=30)
    assert r.status_code == 200, r.text


def check_shape(r):
    """What an overloaded gateway may answer: JSON always, an error with its code, a
    Retry-After on every 429 and 503."""
    assert not r.text.lstrip().startswith("<"), (r.status_code, r.text[:200])
    assert r.headers.get("Content-Type", "").startswith("application/json"), \
        (r.status_code, r.headers, r.text[:200])
    if r.status_code >= 400:
        assert_error(r, r.status_code)
    if r.status_code in (429, 503):
        assert r.headers.get("Retry-After", "").isdigit(), (r.status_code, r.headers)


def test_overload_answers_json_with_retry_after(stack, api):
    put_action(api, "sleepy", SLEEPY, limits={"concurrency": 1},
               annotations=[{"key": "web-export", "value": True}])
    r = api.post("_/actions/sleepy?blocking=true&result=true", json={}, timeout=30)
    assert r.status_code == 200, r.text

    auth = tuple(api.key.split(":", 1))
    invoke = stack.url + "/api/v1/namespaces/_/actions/sleepy?blocking=true&result=true"
    web = stack.url + "/api/v1/web/guest/default/sleepy.json"
    seen, problems = {}, []
    lock = threading.Lock()
    end = time.monotonic() + 3

    def client(i):
        s = requests.Session()
        while time.monotonic() < end:
            try:
                if i % 2:
                    r = s.get(web, timeout=30)
                else:
                    r = s.post(invoke, json={}, auth=auth, timeout=30)
                check_shape(r)
                with lock:
                    seen[r.status_code] = seen.get(r.status_code, 0) + 1
            except Exception as e:  # noqa: BLE001 (reported below)
                with lock:
                    problems.append(repr(e))
                return

    threads = [threading.Thread(target=client, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert problems == [], (problems[:3], seen)
    assert seen.get(200, 0) > 0, seen
    assert set(seen) - {200, 202, 429, 503} == set(), seen


def test_sequence_over_the_length_limit_is_400(stack, api):
    for n in (51, 60, 200):
        comps = ["/_/c%d" % i for i in range(n)]
        r = api.put("_/actions/longseq?overwrite=true",
                    json={"exec": {"kind": "sequence", "components": comps}})
        assert_error(r, 400, "Too many actions in the sequence.")


def test_version_must_be_semantic(stack, api):
    for v in ("x.y", "1.2.3.4", "-1.0.0", ""):
        r = api.put("_/actions/versioned?overwrite=true",
                    json={"exec": {"kind": NODE_KIND, "code": SLEEPY}, "version": v})
        body = assert_error(r, 400)
        assert "semantic version" in body["error"], body
    doc = put_action(api, "versioned", SLEEPY, version="1.2")
    assert doc["version"] == "1.2.0"


def test_negative_instances_names_the_lower_bound(stack, api):
    r = api.put("_/actions/inst?overwrite=true",
                json={"exec": {"kind": NODE_KIND, "code": SLEEPY},
                      "limits": {"instances": -1}})
    assert_error(r, 400, "instances -1 below allowed threshold of 0")
