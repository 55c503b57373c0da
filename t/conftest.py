"""conftest.py: black-box fixtures. Each test module gets its own real stack (Redis + the
packaged nginx with our modules) on free ports, and its nginx error log is checked for
crashes and alerts when the module ends."""

import base64
import os
import sys

import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))

from owx import admin, runtimes  # noqa: E402
from owx.stack import Stack, let_workers_in, wait_until  # noqa: E402

GUEST = admin.GUEST_KEY
SYSTEM = admin.SYSTEM_KEY

# the kinds this machine runs (Node 18 on a fresh Debian 12, 20 on the dev machines)
_FOUND = runtimes.detect()
NODE_KIND = next(rt["kind"] for rt in _FOUND if rt["family"] == "nodejs")
PY_KIND = next(rt["kind"] for rt in _FOUND if rt["family"] == "python")
_INFO = runtimes.info_document(_FOUND)
KINDS_LIST = ", ".join("'%s'" % rt["kind"] for fam in sorted(_INFO) for rt in _INFO[fam])


class Api:
    """requests against one stack, authenticated as one key (None: no auth)."""

    def __init__(self, stack, key=GUEST):
        self.stack = stack
        self.key = key
        self.session = requests.Session()

    def url(self, path):
        if path.startswith("/"):
            return self.stack.url + path
        return self.stack.url + "/api/v1/namespaces/" + path

    def request(self, method, path, **kw):
        if self.key is not None and "auth" not in kw:
            kw["auth"] = tuple(self.key.split(":", 1))
        kw.setdefault("timeout", 10)
        return self.session.request(method, self.url(path), **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def put(self, path, json=None, **kw):
        return self.request("PUT", path, json=json, **kw)

    def post(self, path, json=None, **kw):
        return self.request("POST", path, json=json, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def as_key(self, key):
        return Api(self.stack, key)


def basic(key):
    return "Basic " + base64.b64encode(key.encode()).decode()


def assert_error(r, status, message=None):
    """An OpenWhisk error: the status, a JSON body with "error" and "code" (the request id)."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error", "code"}, body
    assert body["code"] == r.headers["X-Request-ID"]
    if message is not None:
        assert body["error"] == message, body["error"]
    return body


def wait_activation(api, aid, deadline=15.0):
    """The activation record aid as api sees it, once written: sidecars (and the compose
    driver for components) write records off the response path, so poll until it
    appears; fail after deadline seconds."""
    def record():
        r = api.get("_/activations/" + aid)
        return r.json() if r.status_code == 200 else None
    return wait_until(record, deadline, "the record of " + aid)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, request):
    """A test module may set STACK_OPTIONS (Stack keyword arguments, e.g. pool_manager=False)
    and GUEST_LIMITS (ow-admin limits for guest, set before nginx starts)."""
    home = tmp_path_factory.mktemp("owx")
    let_workers_in(home)
    s = Stack(home, port=0, redis_port=0, pool_port=0,
              **getattr(request.module, "STACK_OPTIONS", {}))
    s.start_redis()
    s.provision()
    limits = getattr(request.module, "GUEST_LIMITS", {})
    if limits:
        argv = s.admin_args() + ["limits", "set", "guest"]
        for k, v in limits.items():
            argv += ["--" + k, str(v)]
        assert admin.main(argv) == 0
    s.start_pool_manager()
    s.start_nginx()
    yield s
    problems = s.error_log_problems()
    s.stop()
    assert problems == [], "nginx error log:\n" + "".join(problems)


@pytest.fixture(scope="module")
def api(stack):
    return Api(stack)


@pytest.fixture(scope="module")
def system_api(stack):
    return Api(stack, SYSTEM)


@pytest.fixture(scope="module")
def make_user(stack):
    """Create a subject with its own namespace; returns an Api authenticated as it."""
    def make(subject, namespace=None):
        import secrets
        import string
        import uuid
        key = "%s:%s" % (uuid.uuid4(), "".join(secrets.choice(string.ascii_letters + string.digits)
                                              for _ in range(64)))
        argv = stack.admin_args() + ["user", "create", subject, "--auth", key]
        if namespace:
            argv += ["--namespace", namespace]
        assert admin.main(argv) == 0
        return Api(stack, key)
    return make


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory):
    """A real Kubernetes control plane (v1.21: etcd, kube-apiserver, controller-manager,
    scheduler; ../shared/k8s), started once for the session on free loopback ports; skipped,
    saying why, where it cannot run (a user's clone has no ../shared)."""
    from kube import ControlPlane
    why = ControlPlane.unavailable()
    if why:
        pytest.skip(why)
    cp = ControlPlane(str(tmp_path_factory.mktemp("k8s")))
    try:
        cp.up()
        yield cp
    finally:
        cp.down()
