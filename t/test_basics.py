"""test_basics.py: info documents, authentication, namespaces and limits
(openwhisk-api.md §0-§2)."""

import subprocess

from conftest import GUEST, Api, assert_error, basic


def test_info_documents_need_no_auth(stack):
    anon = Api(stack, None)
    root = anon.get("/").json()
    assert root["description"] == "OpenWhisk"
    assert root["api_paths"] == ["/api/v1"]
    assert root["limits"]["max_action_memory"] == 512 * 1024 * 1024
    # the kinds this machine really has (Node 18 on a fresh Debian 12, 20 here)
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
    assert root["runtimes"]["nodejs"][0]["kind"] == "nodejs:" + node.strip().lstrip("v").split(".")[0]
    assert root["runtimes"]["python"][0]["kind"].startswith("python:3.")

    v1 = anon.get("/api/v1").json()
    assert v1["api_version"] == "1.0.0" and "build" in v1 and "buildno" in v1

    r = anon.get("/ping")
    assert r.status_code == 200 and r.text == "pong"


def test_every_response_carries_request_id_and_cors(api):
    r = api.get("_/triggers")
    assert len(r.headers["X-Request-ID"]) == 32
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    r = api.request("OPTIONS", "_/actions")
    assert r.status_code == 200


def test_missing_credentials_is_401_with_realm(stack):
    r = Api(stack, None).get("_/actions")
    assert_error(r, 401, "The resource requires authentication, which was not supplied "
                         "with the request")
    assert r.headers["WWW-Authenticate"] == 'Basic realm="OpenWhisk secure realm"'


def test_wrong_or_malformed_credentials_are_401(stack):
    uuid, key = GUEST.split(":")
    bad = [
        uuid + ":" + key[:-1] + ("x" if key[-1] != "x" else "y"),   # wrong key
        uuid + ":" + key[:-1],                                       # 63 chars
        "not-a-uuid:" + key,                                         # unknown uuid
        uuid,                                                        # no colon
    ]
    for k in bad:
        r = Api(stack, None).get("_/actions", headers={"Authorization": basic(k)})
        assert_error(r, 401, "The supplied authentication is invalid")
    for header in ("Bearer x", "Basic !!!", "Basic ", "Basic " + "A" * 5000):
        r = Api(stack, None).get("_/actions", headers={"Authorization": header})
        assert r.status_code in (400, 401), header
    # the positive verdict is not poisoned by the negative ones
    assert Api(stack).get("_/actions").status_code != 401


def test_namespaces_list_is_the_keys_namespace(api, system_api):
    assert api.get("/api/v1/namespaces").json() == ["guest"]
    assert system_api.get("/api/v1/namespaces").json() == ["whisk.system"]


def test_limits_are_the_defaults_then_the_overrides(stack, api):
    from owx import admin
    limits = api.get("_/limits").json()
    assert limits["invocationsPerMinute"] == 60
    assert limits["concurrentInvocations"] == 30
    assert limits["maxActionMemory"] == 512
    assert limits["maxParameterSize"] == "1 MB"
    assert admin.main(stack.admin_args() + ["limits", "set", "guest",
                       "--invocationsPerMinute", "7"]) == 0
    assert api.get("guest/limits").json()["invocationsPerMinute"] == 7
    assert admin.main(stack.admin_args() + ["limits", "delete", "guest"]) == 0


def test_foreign_namespace_is_403(api):
    assert_error(api.get("whisk.system/triggers"), 403)
    assert_error(api.get("whisk.system/limits"), 403)


def test_unknown_paths_are_404(api):
    assert_error(api.get("_/nothing"), 404, "The requested resource does not exist.")
    assert_error(api.get("guest"), 404)
