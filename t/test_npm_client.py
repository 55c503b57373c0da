"""test_npm_client.py: the official `openwhisk` npm client (t/npm, pinned in
package.json) drives create/get/list/update/delete of every entity type
against this module's stack (openwhisk-api.md §11). The checks themselves
are in t/npm/compat.js; this runs it with node and asserts it passed."""

import json
import os
import shutil
import subprocess

import pytest

from conftest import GUEST

NPM_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "npm")
PUBLIC_PKG = "compatpub"
PUBLIC_ACTION = "echo"


def node():
    exe = shutil.which("node") or shutil.which("nodejs")
    assert exe, "node is not installed (configure.sh installs nodejs)"
    assert os.path.isdir(os.path.join(NPM_DIR, "node_modules", "openwhisk")), \
        "t/npm/node_modules/openwhisk missing: run `cd t/npm && npm install` (configure.sh does)"
    return exe


def run_compat(stack, env_extra):
    env = dict(os.environ)
    # the client honours proxies and these variables: only ours count
    for k in list(env):
        if k.lower().endswith("_proxy") or k.startswith("__OW_") or k in ("PROXY", "proxy"):
            del env[k]
    env.update({"__OW_API_HOST": stack.url, "__OW_API_KEY": GUEST})
    env.update(env_extra)
    return subprocess.run([node(), os.path.join(NPM_DIR, "compat.js")], cwd=NPM_DIR, env=env,
                          capture_output=True, text=True, timeout=120)


def checks(stdout):
    out = []
    for line in stdout.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


@pytest.fixture(scope="module")
def public_package(system_api):
    """whisk.system/compatpub (public) with an action, as real deployments ship
    whisk.system/utils."""
    r = system_api.put("_/packages/%s" % PUBLIC_PKG,
                       json={"publish": True, "parameters": [{"key": "fromPkg", "value": 1}]})
    assert r.status_code == 200, r.text
    r = system_api.put("_/actions/%s/%s" % (PUBLIC_PKG, PUBLIC_ACTION),
                       json={"exec": {"kind": "nodejs:default",
                                      "code": "function main(a) { return a }"}})
    assert r.status_code == 200, r.text
    return "/whisk.system/%s" % PUBLIC_PKG, "/whisk.system/%s/%s" % (PUBLIC_PKG, PUBLIC_ACTION)


def test_npm_client_drives_every_entity_type(stack, public_package):
    pkg, action = public_package
    p = run_compat(stack, {"COMPAT_PUBLIC_PKG": pkg, "COMPAT_PUBLIC_ACTION": action})
    results = checks(p.stdout)
    report = "compat.js exit %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, p.stdout, p.stderr)
    assert p.returncode == 0, report
    assert results and results[-1] == {"check": "all", "ok": True}, report
    assert all(c["ok"] for c in results), report
    # the run covered every entity type
    names = " ".join(c["check"] for c in results)
    for what in ("actions.", "packages.", "triggers.", "rules.", "activations.list",
                 "namespaces.list", "binding", "sequence", "rejects 404"):
        assert what in names, what


def test_npm_client_reports_server_errors_with_the_message(stack):
    """A bad key: the client rejects with the 401 message from body.error
    (the run stops at its first check that talks to the API)."""
    env = {"__OW_API_KEY": GUEST.split(":")[0] + ":" + "x" * 64}
    p = run_compat(stack, env)
    assert p.returncode == 1, p.stdout + p.stderr
    first = checks(p.stdout)[-1]
    assert first["ok"] is False and first["check"] == "namespaces.list", first
    assert first["statusCode"] == 401, first
    assert first["body"]["error"] == "The supplied authentication is invalid", first
    assert "Returned HTTP 401" in first["error"], first
