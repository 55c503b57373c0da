"""runtimes.py: detect the local runtimes this machine can run and describe them.

Writes two files into an output directory:
- runtimes.json: the info document's "runtimes" object in OpenWhisk's format
  (read by nginx `ow_api_runtimes`; the kinds listed are the kinds actions may use);
- runtimes-exec.json: how to start each kind (read by the pool-manager):
  {"nodejs:20": {"command": ["/usr/bin/node", "/abs/runtimes/nodejs/proxy.js", "--port", "{port}"],
                 "family": "nodejs", "kind": "nodejs:20", "default": true}, ...,
   "nodejs:default": {... the same entry as the default kind ...}}

Only what is really installed is advertised (DESIGN.md "Where it runs"): `nodejs:<node major>` when a
`node` binary answers `--version`, `python:<major.minor>` of /usr/bin/python3 (the runtime needs only
the standard library). No blackbox: nothing here can run a Docker image.

    python3 -m owx.runtimes --out-dir DIR [--node PATH] [--python PATH]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
NODE_PROXY = os.path.join(ROOT, "runtimes", "nodejs", "proxy.js")
PYTHON_PROXY = os.path.join(ROOT, "runtimes", "python", "proxy.py")
DEFAULT_PYTHON = "/usr/bin/python3"
PROBE_TIMEOUT = 10.0


def _probe(argv):
    """Output of a short version command, or None when it cannot run."""
    try:
        out = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=PROBE_TIMEOUT, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.decode("utf-8", "replace").strip()


def _executable(path):
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


def find_node(node=None):
    """Absolute path of node or None: the argument if given (no fallback), else $OWX_NODE,
    /usr/bin/node, then PATH."""
    cands = [node] if node else [os.environ.get("OWX_NODE"), "/usr/bin/node", shutil.which("node")]
    for cand in cands:
        if _executable(cand):
            return os.path.abspath(cand)
    return None


def node_major(node):
    """'v20.20.2' -> 20; None when node does not answer."""
    out = _probe([node, "--version"])
    m = re.match(r"v?(\d+)\.", out or "")
    return int(m.group(1)) if m else None


def python_version(python):
    """'3.11' of the given interpreter; None when it does not answer."""
    out = _probe([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
    return out if out and re.fullmatch(r"\d+\.\d+", out) else None


def detect(node=None, python=None):
    """The runtimes found here: a list of dicts {family, kind, image, command}, defaults first."""
    found = []
    node = find_node(node)
    major = node_major(node) if node else None
    if major is not None and os.path.isfile(NODE_PROXY):
        found.append({"family": "nodejs", "kind": "nodejs:%d" % major,
                      "image": "owx/local-nodejs:%d" % major,
                      "command": [node, NODE_PROXY, "--port", "{port}"]})
    python = python or os.environ.get("OWX_PYTHON") or DEFAULT_PYTHON
    ver = python_version(python) if _executable(python) else None
    if ver is not None and os.path.isfile(PYTHON_PROXY):
        found.append({"family": "python", "kind": "python:%s" % ver,
                      "image": "owx/local-python:%s" % ver,
                      "command": [os.path.abspath(python), PYTHON_PROXY, "--port", "{port}"]})
    return found


def info_document(found):
    """The info document's "runtimes" object (OpenWhisk format); one kind per family, the default."""
    doc = {}
    for rt in found:
        fam = doc.setdefault(rt["family"], [])
        fam.append({"kind": rt["kind"], "image": rt["image"], "deprecated": False,
                    "default": not fam, "attached": False, "requireMain": False})
    # blackbox actions (an image) can always be managed, as in OpenWhisk; running one
    # needs a backend that runs images (Kubernetes): the local backend refuses it
    doc["blackbox"] = [{"kind": "blackbox", "image": "openwhisk/dockerskeleton",
                        "deprecated": False, "default": True, "attached": False,
                        "requireMain": False}]
    return doc


def exec_document(found):
    """kind -> how to start it; `<family>:default` is the family's default kind's entry."""
    doc = {}
    for rt in found:
        default = not any(v["family"] == rt["family"] for v in doc.values())
        entry = {"command": list(rt["command"]), "family": rt["family"], "kind": rt["kind"],
                 "default": default}
        doc[rt["kind"]] = entry
        if default:
            doc["%s:default" % rt["family"]] = dict(entry, command=list(rt["command"]))
    return doc


def _write_json(path, obj):
    """Atomic replace: nginx and the pool-manager may read while we write."""
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def write_runtime_files(out_dir, node=None, python=None):
    """Detect and write DIR/runtimes.json and DIR/runtimes-exec.json; returns both paths."""
    os.makedirs(out_dir, exist_ok=True)
    found = detect(node, python)
    info_path = os.path.join(out_dir, "runtimes.json")
    exec_path = os.path.join(out_dir, "runtimes-exec.json")
    _write_json(info_path, info_document(found))
    _write_json(exec_path, exec_document(found))
    return info_path, exec_path


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m owx.runtimes", description=__doc__.split("\n")[0])
    p.add_argument("--out-dir", required=True, help="where to write runtimes.json and runtimes-exec.json")
    p.add_argument("--node", help="node binary (default: $OWX_NODE, /usr/bin/node, PATH)")
    p.add_argument("--python", help="python binary (default: $OWX_PYTHON, /usr/bin/python3)")
    a = p.parse_args(argv)
    info_path, exec_path = write_runtime_files(a.out_dir, a.node, a.python)
    with open(info_path) as f:
        kinds = [rt["kind"] for fam in json.load(f).values() for rt in fam]
    print("%s: %s" % (info_path, ", ".join(kinds) or "no runtimes found"))
    print(exec_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
