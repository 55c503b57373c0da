"""catalog.py: the system packages (catalog/catalog.json: whisk.system/utils) installed
through the management API with whisk.system's key, so they are stored exactly as any
entity (indexes, events, versions).

Kept across upgrades: the Redis hash owx:{whisk.system}:catalog records the catalog
version installed and, per entity, the `updated` it had right after the install. An
install runs when the recorded version differs from catalog.json's; it (re)writes an
entity only when it is missing or still exactly as the catalog left it, so an entity a
user created or changed under a catalog name is never clobbered (it is reported as kept).
Entities the catalog does not name are never touched.
"""

import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request

from owx import schema

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CATALOG = os.path.join(ROOT, "catalog", "catalog.json")
HTTP_TIMEOUT = 30


def load(path=CATALOG):
    with open(path) as f:
        manifest = json.load(f)
    base = os.path.dirname(path)
    for pkg in manifest["packages"].values():
        for action in pkg["actions"].values():
            with open(os.path.join(base, action["file"])) as f:
                action["code"] = f.read()
    return manifest


class Client:
    """The few management API calls an install needs (urllib: no extra dependency)."""

    def __init__(self, url, auth):
        self.base = url.rstrip("/") + "/api/v1/namespaces/"
        self.auth = "Basic " + base64.b64encode(auth.encode()).decode()

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", self.auth)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, {"error": text.decode(errors="replace")}


def action_body(spec):
    annotations = [{"key": "description", "value": spec["description"]}]
    for k in ("parameters", "sampleInput", "sampleOutput"):
        if k in spec:
            annotations.append({"key": k, "value": spec[k]})
    return {"exec": {"kind": "nodejs:default", "code": spec["code"]},
            "annotations": annotations}


def install(r, url, auth, manifest=None, force=False, log=print):
    """Install the catalog unless the recorded version is current (force: anyway).
    Returns the list of (path, what) with what in installed/kept/current."""
    manifest = manifest or load()
    ns = manifest["namespace"]
    mark_key = schema.catalog_key(ns)
    marks = r.hgetall(mark_key)
    if marks.get("version") == manifest["version"] and not force:
        return [("", "current")]
    api = Client(url, auth)
    q = lambda p: urllib.parse.quote(ns, safe="") + "/" + p  # noqa: E731
    done, new_marks = [], {}

    def put(coll, path, body):
        status, doc = api.call("GET", q("%s/%s" % (coll, path)))
        if status == 200 and marks.get("e:" + path) != str(doc.get("updated")):
            done.append((path, "kept"))
            log("catalog: kept %s/%s (not as the catalog installed it)" % (ns, path))
            return False
        if status not in (200, 404):
            raise RuntimeError("catalog: GET %s/%s: %s %s" % (ns, path, status, doc))
        status, doc = api.call("PUT", q("%s/%s?overwrite=true" % (coll, path)), body)
        if status != 200:
            raise RuntimeError("catalog: PUT %s/%s: %s %s" % (ns, path, status, doc))
        new_marks["e:" + path] = str(doc["updated"])
        done.append((path, "installed"))
        return True

    for pname, pkg in manifest["packages"].items():
        put("packages", pname, {"publish": pkg.get("publish", False),
                                "annotations": pkg.get("annotations", []),
                                "parameters": pkg.get("parameters", [])})
        for aname, spec in pkg["actions"].items():
            put("actions", pname + "/" + aname, action_body(spec))
    new_marks["version"] = manifest["version"]
    r.hset(mark_key, mapping=new_marks)
    log("catalog %s installed into %s (%d installed, %d kept)" % (
        manifest["version"], ns, sum(1 for _, w in done if w == "installed"),
        sum(1 for _, w in done if w == "kept")))
    return done
