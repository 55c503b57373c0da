"""test_runtimes.py: the local runtimes (runtimes/nodejs/proxy.js, runtimes/python/proxy.py) speak
the OpenWhisk runtime protocol (openwhisk-api.md §9) with the official runtimes' observable
behaviour (§14), and tools/owx/runtimes.py describes them.

Each test starts its own runtime process on a free port (a runtime initialises exactly once) and
reads its stdout/stderr pipes line by line, so the end-of-activation sentinel ordering is checked
on the real streams."""

import base64
import io
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import zipfile

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from owx import runtimes  # noqa: E402
from owx.stack import free_port  # noqa: E402

SENTINEL = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"
NODE = runtimes.find_node()
PYTHON = "/usr/bin/python3"
DEADLINE = 10.0

needs_node = pytest.mark.skipif(NODE is None, reason="no node binary")


class Runtime:
    """One runtime process on a free port, with its output streams read line by line."""

    def __init__(self, argv, env=None):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(argv + ["--port", str(self.port)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env)
        self.lines = {"stdout": queue.Queue(), "stderr": queue.Queue()}
        for name in self.lines:
            threading.Thread(target=self._pump, args=(name,), daemon=True).start()
        self.session = requests.Session()
        self._wait_ready()

    def _pump(self, name):
        for raw in getattr(self.proc, name):
            self.lines[name].put(raw.decode("utf-8", "replace").rstrip("\n"))
        self.lines[name].put(None)  # EOF

    def _wait_ready(self):
        end = time.monotonic() + DEADLINE
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("runtime exited with %s" % self.proc.returncode)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > end:
                    raise RuntimeError("runtime did not listen in time")
                time.sleep(0.01)

    def post(self, path, body):
        return self.session.post(self.url + path, data=json.dumps(body), timeout=DEADLINE,
                                 headers={"Content-Type": "application/json"})

    def init(self, code, main="main", binary=False, env=None):
        value = {"name": "act", "main": main, "binary": binary, "code": code}
        if env is not None:
            value["env"] = env
        return self.post("/init", {"value": value})

    def run(self, value=None, **extra):
        body = {"value": value if value is not None else {}}
        body.update(extra)
        return self.post("/run", body)

    def until_sentinel(self, stream):
        """The lines written on stream before the next sentinel (fails without one in time)."""
        out = []
        end = time.monotonic() + DEADLINE
        while True:
            try:
                line = self.lines[stream].get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError("no sentinel on %s; got %r" % (stream, out))
            if line is None:
                raise AssertionError("%s closed before the sentinel; got %r" % (stream, out))
            if line == SENTINEL:
                return out
            out.append(line)

    def both(self):
        return self.until_sentinel("stdout"), self.until_sentinel("stderr")

    def no_more_output(self, stream, wait=0.2):
        """Nothing else was written (used after refusals: they print no sentinel)."""
        try:
            line = self.lines[stream].get(timeout=wait)
        except queue.Empty:
            return True
        raise AssertionError("unexpected output on %s: %r" % (stream, line))

    def wait_line(self, stream, text):
        end = time.monotonic() + DEADLINE
        while True:
            line = self.lines[stream].get(timeout=max(0.0, end - time.monotonic()))
            if line == text:
                return
            assert line is not None, "stream closed waiting for %r" % text

    def close(self):
        self.session.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def start():
    started = []

    def make(lang, env=None):
        if lang == "nodejs":
            if NODE is None:
                pytest.skip("no node binary")
            argv = [NODE, runtimes.NODE_PROXY]
        else:
            argv = [PYTHON, runtimes.PYTHON_PROXY]
        rt = Runtime(argv, env)
        started.append(rt)
        return rt

    yield make
    for rt in started:
        rt.close()


@pytest.mark.parametrize("lang", ["nodejs", "python"])
def test_runtime_serves_the_socket_handed_over_as_fd_3(lang):
    """ow-sidecar binds the runtime's port and hands the socket over (LISTEN_FDS=1,
    LISTEN_PID, fd 3) so no other bind(:0) can take the port first: the runtime serves
    that socket, not the --port it is also given."""
    if lang == "nodejs" and NODE is None:
        pytest.skip("no node binary")
    argv = [NODE, runtimes.NODE_PROXY] if lang == "nodejs" else [PYTHON, runtimes.PYTHON_PROXY]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound, not listening: as the sidecar hands it over
    port = sock.getsockname()[1]
    unused = free_port()
    # sh execs the runtime in place, so $$ is the runtime's pid
    proc = subprocess.Popen(
        ["/bin/sh", "-c", 'LISTEN_FDS=1 LISTEN_PID=$$ exec "$@"', "sh"] + argv +
        ["--port", str(unused)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        preexec_fn=lambda: os.dup2(sock.fileno(), 3), pass_fds=(3,))
    sock.close()
    try:
        end = time.monotonic() + DEADLINE
        while True:
            assert proc.poll() is None, "runtime exited with %s" % proc.returncode
            try:
                r = requests.post("http://127.0.0.1:%d/init" % port, timeout=DEADLINE, json={
                    "value": {"name": "a", "main": "main", "binary": False,
                              "code": PID_CODE[lang]}})
                break
            except requests.ConnectionError:
                assert time.monotonic() < end, "the runtime did not listen on fd 3"
                time.sleep(0.02)
        assert r.status_code == 200, r.text
        r = requests.post("http://127.0.0.1:%d/run" % port, json={"value": {}},
                          timeout=DEADLINE)
        assert r.json() == {"pid": proc.pid}
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", unused), timeout=1).close()
    finally:
        proc.kill()
        proc.wait()


PID_CODE = {"nodejs": "function main() { return {pid: process.pid} }",
            "python": "import os\ndef main(args):\n    return {'pid': os.getpid()}\n"}


def make_zip(files, compression=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, text in files.items():
            z.writestr(name, text)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def gate_path(tmp_path):
    return str(tmp_path / "gate")


# ---------------------------------------------------------------- Node.js

@needs_node
def test_node_plain_init_and_run_with_logs(start):
    rt = start("nodejs")
    r = rt.init("function main(args) {\n"
                "  console.log('hello', args.name);\n"
                "  console.error('to stderr');\n"
                "  return {greeting: 'Hello ' + args.name};\n"
                "}")
    assert (r.status_code, r.json()) == (200, {"OK": True})
    r = rt.run({"name": "owx"})
    assert (r.status_code, r.json()) == (200, {"greeting": "Hello owx"})
    assert r.headers["Content-Type"].startswith("application/json")
    assert rt.both() == (["hello owx"], ["to stderr"])
    # the runtime keeps serving, one sentinel pair per activation
    r = rt.run({"name": "again"})
    assert r.json() == {"greeting": "Hello again"}
    assert rt.both() == (["hello again"], ["to stderr"])


@needs_node
def test_node_ow_env_and_init_env(start):
    rt = start("nodejs")
    r = rt.init("function main() { const e = process.env; return {\n"
                "  ns: e.__OW_NAMESPACE, name: e.__OW_ACTION_NAME, ver: e.__OW_ACTION_VERSION,\n"
                "  id: e.__OW_ACTIVATION_ID, tx: e.__OW_TRANSACTION_ID, dl: e.__OW_DEADLINE,\n"
                "  key: e.__OW_API_KEY, foo: e.FOO, num: e.NUM, obj: e.OBJ}; }",
                env={"FOO": "bar", "NUM": 5, "OBJ": {"a": 1}})
    assert r.status_code == 200
    r = rt.run({}, namespace="guest", action_name="/guest/hello", action_version="0.0.1",
               activation_id="a" * 32, transaction_id="tx1", deadline="1700000060000",
               api_key="uuid:key")
    assert r.status_code == 200
    assert r.json() == {"ns": "guest", "name": "/guest/hello", "ver": "0.0.1", "id": "a" * 32,
                        "tx": "tx1", "dl": "1700000060000", "key": "uuid:key", "foo": "bar",
                        "num": "5", "obj": '{"a":1}'}
    rt.both()


@needs_node
def test_node_custom_main_and_exports(start):
    rt = start("nodejs")
    assert rt.init("function niam(a) { return {n: a.n * 2}; }", main="niam").status_code == 200
    assert rt.run({"n": 21}).json() == {"n": 42}
    rt2 = start("nodejs")
    r = rt2.init("exports.handler = a => ({via: 'exports'});", main="handler")
    assert r.status_code == 200
    assert rt2.run().json() == {"via": "exports"}


@needs_node
@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_node_zip_package_json(start, compression):
    rt = start("nodejs")
    code = make_zip({
        "package.json": json.dumps({"name": "act", "main": "lib/app.js"}),
        "lib/app.js": "const h = require('./helper');\n"
                      "exports.main = a => ({msg: h.greet(a.who), big: h.big.length});\n",
        "lib/helper.js": "exports.greet = w => 'hi ' + w;\n"
                         "exports.big = '" + "x" * 100000 + "';\n",
    }, compression)
    r = rt.init(code, binary=True)
    assert (r.status_code, r.json()) == (200, {"OK": True})
    assert rt.run({"who": "zip"}).json() == {"msg": "hi zip", "big": 100000}
    rt.both()


@needs_node
def test_node_zip_index_js_custom_main(start):
    rt = start("nodejs")
    code = make_zip({"index.js": "exports.run = async a => ({ok: a.x + 1});\n"})
    assert rt.init(code, main="run", binary=True).status_code == 200
    assert rt.run({"x": 1}).json() == {"ok": 2}
    rt2 = start("nodejs")
    code = make_zip({"other.js": "exports.go = () => ({file: 'other'});\n"})
    assert rt2.init(code, main="other.go", binary=True).status_code == 200
    assert rt2.run().json() == {"file": "other"}


@needs_node
def test_node_zip_without_entry_point(start):
    rt = start("nodejs")
    r = rt.init(make_zip({"lib/x.js": "exports.main = () => ({})"}), binary=True)
    assert r.status_code == 502
    assert r.json()["error"] == ("Initialization has failed due to: Zipped actions must contain "
                                 "either package.json or index.js at the root.")
    out, err = rt.both()
    assert any("Error during initialization" in line for line in err)


@needs_node
def test_node_zip_bad_archive(start):
    rt = start("nodejs")
    r = rt.init(base64.b64encode(b"this is not a zip").decode(), binary=True)
    assert r.status_code == 502
    assert "There was an error uncompressing the action archive." in r.json()["error"]
    rt.both()
    rt2 = start("nodejs")
    r = rt2.init(make_zip({"index.js": "exports.main=()=>({})", "../evil.js": "x"}), binary=True)
    assert r.status_code == 502
    rt2.both()
    assert not os.path.exists(os.path.join(os.path.dirname(ROOT), "evil.js"))


@needs_node
def test_node_second_init_refused(start):
    rt = start("nodejs")
    assert rt.init("function main() { return {}; }").status_code == 200
    r = rt.init("function main() { return {other: true}; }")
    assert (r.status_code, r.json()) == (403, {"error": "Cannot initialize the action more "
                                                        "than once."})
    assert rt.run().json() == {}
    rt.both()


@needs_node
def test_node_missing_code_and_missing_main(start):
    rt = start("nodejs")
    r = rt.post("/init", {"value": {"name": "x", "main": "main", "binary": False, "code": ""}})
    assert (r.status_code, r.json()) == (403, {"error": "Missing main/no code to execute."})
    rt.both()  # a failed init ends with the sentinel on both streams
    rt2 = start("nodejs")
    r = rt2.init("function notmain() { return {}; }")
    assert r.status_code == 502
    assert r.json() == {"error": "Initialization has failed due to: Action entrypoint 'main' "
                                 "is not a function."}
    rt2.both()
    # a failed init stops the runtime
    r = rt2.run()
    assert (r.status_code, r.json()) == (403, {"error": "System not ready, status is stopped."})


@needs_node
def test_node_syntax_error(start):
    rt = start("nodejs")
    r = rt.init("function main( { return {}; }")
    assert r.status_code == 502
    assert r.json()["error"].startswith("Initialization has failed due to: SyntaxError")
    out, err = rt.both()
    assert any("SyntaxError" in line for line in err)


@needs_node
def test_node_run_before_init(start):
    rt = start("nodejs")
    r = rt.run()
    assert (r.status_code, r.json()) == (403, {"error": "System not initialized."})
    rt.no_more_output("stdout")


@needs_node
def test_node_async_and_promise(start):
    rt = start("nodejs")
    rt.init("function main(a) { return new Promise(r => setTimeout(() => {\n"
            "  console.log('resolved later'); r({v: a.v}); }, 20)); }")
    assert rt.run({"v": 7}).json() == {"v": 7}
    assert rt.both() == (["resolved later"], [])
    rt2 = start("nodejs")
    rt2.init("async function main(a) {\n"
             "  await new Promise(r => setTimeout(r, 10));\n"
             "  console.log('after await');\n"
             "  return {sum: a.x + a.y};\n}")
    assert rt2.run({"x": 2, "y": 3}).json() == {"sum": 5}
    assert rt2.both() == (["after await"], [])
    rt3 = start("nodejs")
    rt3.init("function main() { return; }")
    assert rt3.run().json() == {}


@needs_node
def test_node_array_and_error_object(start):
    rt = start("nodejs")
    rt.init("function main(a) { return a.kind === 'array' ? [1, {b: 2}] : {error: 'app failed'}; }")
    r = rt.run({"kind": "array"})
    assert (r.status_code, r.json()) == (200, [1, {"b": 2}])
    r = rt.run({"kind": "error"})
    assert (r.status_code, r.json()) == (200, {"error": "app failed"})
    # an application error keeps the runtime working
    assert rt.run({"kind": "array"}).status_code == 200


@needs_node
def test_node_rejected_promise_is_application_error(start):
    rt = start("nodejs")
    rt.init("function main(a) { return a.plain ? Promise.reject({error: 'x'})\n"
            "  : Promise.reject(new Error('nope')); }")
    r = rt.run({})
    assert r.status_code == 200
    err = r.json()["error"]
    assert err["name"] == "Error" and err["message"] == "nope" and "stack" in err
    r = rt.run({"plain": True})
    assert (r.status_code, r.json()) == (200, {"error": {"error": "x"}})
    rt3 = start("nodejs")
    rt3.init("async function main() { throw new Error('async boom'); }")
    r = rt3.run()
    assert r.status_code == 200 and r.json()["error"]["message"] == "async boom"


@needs_node
def test_node_thrown_error_stops_runtime(start):
    rt = start("nodejs")
    rt.init("function main() { console.log('before'); throw new Error('boom'); }")
    r = rt.run()
    assert (r.status_code, r.json()) == (502, {"error": "An error has occurred: Error: boom"})
    out, err = rt.both()
    assert out == ["before"]
    assert err[0] == "Error: boom"
    r = rt.run()
    assert (r.status_code, r.json()) == (403, {"error": "System not ready, status is stopped."})
    rt.no_more_output("stdout")
    rt.no_more_output("stderr")


@needs_node
def test_node_non_dictionary_result(start):
    rt = start("nodejs")
    rt.init("function main(a) { return a.v; }")
    for v in (5, "text", None):
        r = rt.run({"v": v})  # null too (undefined is {}, see test_node_async_and_promise)
        assert (r.status_code, r.json()) == (502, {"error": "The action did not return a "
                                                            "dictionary."})
        out, err = rt.both()
        assert err and err[0].startswith("Result must be of type object")
    # not a developer error of the kind that stops the runtime
    assert rt.run({"v": {"ok": 1}}).json() == {"ok": 1}


@needs_node
def test_node_sentinel_after_all_output(start):
    rt = start("nodejs")
    rt.init("async function main(a) {\n"
            "  for (let i = 0; i < a.n; i++) { console.log('line ' + i + ' ' + 'x'.repeat(200)); }\n"
            "  await null;\n"
            "  for (let i = 0; i < a.n; i++) { console.error('err ' + i); }\n"
            "  return {done: true};\n}")
    n = 3000  # ~600 KB on stdout: more than a pipe buffer
    assert rt.run({"n": n}).json() == {"done": True}
    out, err = rt.both()
    assert out == ["line %d %s" % (i, "x" * 200) for i in range(n)]
    assert err == ["err %d" % i for i in range(n)]


@needs_node
def test_node_concurrent_run_refused(start, tmp_path):
    rt = start("nodejs")
    rt.init(wait_for_gate_js())
    gate = gate_path(tmp_path)
    results = []
    t = threading.Thread(target=lambda: results.append(rt.run({"gate": gate, "id": 1})))
    t.start()
    rt.wait_line("stdout", "started 1")
    r = requests.post(rt.url + "/run", json={"value": {"id": 2}}, timeout=DEADLINE)
    assert (r.status_code, r.json()) == (403, {"error": "System not ready, status is running."})
    open(gate, "w").close()
    t.join(DEADLINE)
    assert results[0].status_code == 200 and results[0].json() == {"id": 1}
    # the refusal printed nothing: the next sentinel closes activation 1
    assert rt.both() == (["done 1"], [])
    assert rt.run({"id": 3}).json() == {"id": 3}


@needs_node
def test_node_concurrent_run_allowed(start, tmp_path):
    rt = start("nodejs", env={"__OW_ALLOW_CONCURRENT": "true"})
    rt.init(wait_for_gate_js())
    gate = gate_path(tmp_path)
    results = []
    t = threading.Thread(target=lambda: results.append(rt.run({"gate": gate, "id": 1})))
    t.start()
    rt.wait_line("stdout", "started 1")
    r = requests.post(rt.url + "/run", json={"value": {"id": 2}}, timeout=DEADLINE)
    assert (r.status_code, r.json()) == (200, {"id": 2})
    open(gate, "w").close()
    t.join(DEADLINE)
    assert results[0].json() == {"id": 1}


def wait_for_gate_js():
    """An action that says it started, then waits for a file to exist (when given one)."""
    return ("const fs = require('fs');\n"
            "function main(a) {\n"
            "  console.log('started ' + a.id);\n"
            "  if (!a.gate) { console.log('done ' + a.id); return {id: a.id}; }\n"
            "  return new Promise(r => { const t = setInterval(() => {\n"
            "    if (fs.existsSync(a.gate)) { clearInterval(t); console.log('done ' + a.id);\n"
            "      r({id: a.id}); } }, 5); });\n}")


@needs_node
def test_node_bad_requests(start):
    rt = start("nodejs")
    r = rt.session.post(rt.url + "/init", data="{not json", timeout=DEADLINE)
    assert r.status_code == 400 and "error" in r.json()
    r = rt.session.get(rt.url + "/other", timeout=DEADLINE)
    assert r.status_code == 404
    # still initialisable after junk
    assert rt.init("function main() { return {}; }").status_code == 200


# ---------------------------------------------------------------- Python

def test_python_plain_init_and_run_with_logs(start):
    rt = start("python")
    r = rt.init("import sys\n"
                "def main(args):\n"
                "    print('hello', args['name'])\n"
                "    print('to stderr', file=sys.stderr)\n"
                "    return {'greeting': 'Hello ' + args['name']}\n")
    assert (r.status_code, r.json()) == (200, {"ok": True})
    r = rt.run({"name": "owx"})
    assert (r.status_code, r.json()) == (200, {"greeting": "Hello owx"})
    assert rt.both() == (["hello owx"], ["to stderr"])
    assert rt.run({"name": "é"}).json() == {"greeting": "Hello é"}
    assert rt.both() == (["hello é"], ["to stderr"])


def test_python_ow_env_and_init_env(start):
    rt = start("python")
    rt.init("import os\n"
            "def main(a):\n"
            "    return {k: os.environ.get(k) for k in ('__OW_NAMESPACE', '__OW_ACTION_NAME',\n"
            "            '__OW_ACTIVATION_ID', '__OW_DEADLINE', '__OW_API_KEY', 'FOO', 'NUM')}\n",
            env={"FOO": "bar", "NUM": 5})
    r = rt.run({}, namespace="guest", action_name="/guest/p", activation_id="b" * 32,
               deadline="1700000060000", api_key="uuid:key")
    assert r.json() == {"__OW_NAMESPACE": "guest", "__OW_ACTION_NAME": "/guest/p",
                        "__OW_ACTIVATION_ID": "b" * 32, "__OW_DEADLINE": "1700000060000",
                        "__OW_API_KEY": "uuid:key", "FOO": "bar", "NUM": "5"}


def test_python_zip_and_custom_main(start):
    rt = start("python")
    code = make_zip({"__main__.py": "import helper\n"
                                    "def entry(a):\n    return {'msg': helper.greet(a['who'])}\n",
                     "helper.py": "def greet(w):\n    return 'hi ' + w\n"})
    r = rt.init(code, main="entry", binary=True)
    assert (r.status_code, r.json()) == (200, {"ok": True})
    assert rt.run({"who": "zip"}).json() == {"msg": "hi zip"}
    rt2 = start("python")
    assert rt2.init("def other(a):\n    return {'x': 1}\n", main="other").status_code == 200
    assert rt2.run().json() == {"x": 1}


def test_python_zip_without_main_py(start):
    rt = start("python")
    r = rt.init(make_zip({"helper.py": "x = 1\n"}), binary=True)
    assert r.status_code == 502
    assert r.json() == {"error": "The action failed to generate or locate a binary. "
                                 "See logs for details."}
    out, err = rt.both()
    assert any("__main__.py" in line for line in err)


def test_python_second_init_refused(start):
    rt = start("python")
    assert rt.init("def main(a):\n    return {}\n").status_code == 200
    r = rt.init("def main(a):\n    return {'other': 1}\n")
    assert (r.status_code, r.json()) == (403, {"error": "Cannot initialize the action more "
                                                        "than once."})
    assert rt.run().json() == {}


def test_python_missing_code_and_missing_main(start):
    rt = start("python")
    r = rt.post("/init", {"value": {"name": "x", "main": "main", "binary": False, "code": ""}})
    assert (r.status_code, r.json()) == (403, {"error": "Missing main/no code to execute."})
    rt.both()
    rt2 = start("python")
    r = rt2.init("def notmain(a):\n    return {}\n")
    assert (r.status_code, r.json()) == (502, {"error": "Cannot start action. Check logs for "
                                                        "details."})
    out, err = rt2.both()
    assert any("cannot import name 'main'" in line for line in err)
    r = rt2.run()
    assert (r.status_code, r.json()) == (403, {"error": "System not ready, status is stopped."})


def test_python_syntax_error(start):
    rt = start("python")
    r = rt.init("def main(a)\n    return {}\n")
    assert (r.status_code, r.json()) == (502, {"error": "The action failed to generate or locate "
                                                        "a binary. See logs for details."})
    out, err = rt.both()
    assert any("SyntaxError" in line for line in err)


def test_python_exception_is_application_error(start):
    rt = start("python")
    rt.init("def main(a):\n"
            "    print('before')\n"
            "    if a.get('fail'):\n"
            "        raise ValueError('boom')\n"
            "    return {'ok': True}\n")
    r = rt.run({"fail": True})
    assert (r.status_code, r.json()) == (200, {"error": "boom"})
    out, err = rt.both()
    assert out == ["before"]
    assert err[0] == "Traceback (most recent call last):"
    assert "ValueError: boom" in err
    # the runtime keeps working
    assert rt.run({}).json() == {"ok": True}


def test_python_array_and_non_dictionary(start):
    rt = start("python")
    rt.init("def main(a):\n"
            "    return {'array': [1, {'b': 2}], 'int': 5, 'none': None, 'set': {1}}[a['kind']]\n")
    r = rt.run({"kind": "array"})
    assert (r.status_code, r.json()) == (200, [1, {"b": 2}])
    rt.both()
    for kind in ("int", "none", "set"):
        r = rt.run({"kind": kind})
        assert (r.status_code, r.json()) == (502, {"error": "The action did not return a "
                                                            "dictionary or array."})
        rt.both()
    assert rt.run({"kind": "array"}).status_code == 200


def test_python_async_main(start):
    rt = start("python")
    rt.init("import asyncio\n"
            "async def main(a):\n"
            "    await asyncio.sleep(0.01)\n"
            "    return {'v': a['v']}\n")
    assert rt.run({"v": 3}).json() == {"v": 3}


def test_python_sentinel_after_all_output(start):
    rt = start("python")
    rt.init("import sys\n"
            "def main(a):\n"
            "    for i in range(a['n']):\n"
            "        print('line %d %s' % (i, 'x' * 200))\n"
            "        print('err %d' % i, file=sys.stderr)\n"
            "    return {'done': True}\n")
    n = 3000
    assert rt.run({"n": n}).json() == {"done": True}
    out, err = rt.both()
    assert out == ["line %d %s" % (i, "x" * 200) for i in range(n)]
    assert err == ["err %d" % i for i in range(n)]


def test_python_concurrent_run_refused(start, tmp_path):
    rt = start("python")
    rt.init("import os, sys, time\n"
            "def main(a):\n"
            "    print('started %d' % a['id']); sys.stdout.flush()\n"
            "    while a.get('gate') and not os.path.exists(a['gate']):\n"
            "        time.sleep(0.005)\n"
            "    print('done %d' % a['id'])\n"
            "    return {'id': a['id']}\n")
    gate = gate_path(tmp_path)
    results = []
    t = threading.Thread(target=lambda: results.append(rt.run({"gate": gate, "id": 1})))
    t.start()
    rt.wait_line("stdout", "started 1")
    r = requests.post(rt.url + "/run", json={"value": {"id": 2}}, timeout=DEADLINE)
    assert (r.status_code, r.json()) == (403, {"error": "System not ready, status is running."})
    open(gate, "w").close()
    t.join(DEADLINE)
    assert results[0].json() == {"id": 1}
    assert rt.both() == (["done 1"], [])
    assert rt.run({"id": 3}).json() == {"id": 3}


def test_python_run_before_init_and_bad_requests(start):
    rt = start("python")
    r = rt.run()
    assert (r.status_code, r.json()) == (403, {"error": "System not initialized."})
    r = rt.session.post(rt.url + "/init", data="{not json", timeout=DEADLINE)
    assert r.status_code == 400
    r = rt.session.get(rt.url + "/run", timeout=DEADLINE)
    assert r.status_code == 404
    assert rt.init("def main(a):\n    return {}\n").status_code == 200


# ---------------------------------------------------------------- runtimes.py

def node_major():
    out = subprocess.run([NODE, "--version"], capture_output=True, check=True, timeout=10)
    return int(out.stdout.decode().strip().lstrip("v").split(".")[0])


def python_minor():
    out = subprocess.run([PYTHON, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, check=True, timeout=10)
    return out.stdout.decode().strip()


def test_runtimes_files_shape(tmp_path):
    info_path, exec_path = runtimes.write_runtime_files(str(tmp_path / "out"))
    assert info_path == str(tmp_path / "out" / "runtimes.json")
    assert exec_path == str(tmp_path / "out" / "runtimes-exec.json")
    with open(info_path) as f:
        info = json.load(f)
    with open(exec_path) as f:
        execs = json.load(f)
    kinds = {"python:%s" % python_minor()}
    if NODE is not None:
        kinds.add("nodejs:%d" % node_major())
    # blackbox is advertised (it can be managed) but has no local command
    assert info.pop("blackbox") == [{"kind": "blackbox", "image": "openwhisk/dockerskeleton",
                                     "deprecated": False, "default": True, "attached": False,
                                     "requireMain": False}]
    assert set(info) == {k.split(":")[0] for k in kinds}
    for family, entries in info.items():
        assert len(entries) == 1
        e = entries[0]
        assert e["kind"] in kinds and e["kind"].startswith(family + ":")
        assert e == {"kind": e["kind"], "image": "owx/local-" + e["kind"],
                     "deprecated": False, "default": True, "attached": False,
                     "requireMain": False}
        for key in (e["kind"], family + ":default"):
            x = execs[key]
            assert x["family"] == family and x["kind"] == e["kind"] and x["default"] is True
            assert x["command"][-2:] == ["--port", "{port}"]
            assert all(os.path.isabs(p) and os.path.exists(p) for p in x["command"][:2])
    assert set(execs) == kinds | {k.split(":")[0] + ":default" for k in kinds}


def test_runtimes_without_node(tmp_path):
    info_path, exec_path = runtimes.write_runtime_files(str(tmp_path), node="/nonexistent/node",
                                                        python=PYTHON)
    with open(info_path) as f:
        info = json.load(f)
    # an explicit interpreter that cannot run drops its family (no fallback)
    assert "nodejs" not in info
    assert info["python"][0]["kind"] == "python:%s" % python_minor()
    info_path, _ = runtimes.write_runtime_files(str(tmp_path), python="/nonexistent/python")
    with open(info_path) as f:
        assert "python" not in json.load(f)


def test_runtimes_main_and_exec_commands_serve(tmp_path):
    out = subprocess.run([PYTHON, "-m", "owx.runtimes", "--out-dir", str(tmp_path)],
                         cwd=os.path.join(ROOT, "tools"), capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert b"python:" in out.stdout
    with open(tmp_path / "runtimes-exec.json") as f:
        execs = json.load(f)
    # every advertised command really starts a runtime that initialises and runs
    code = {"nodejs": "function main(a) { return {lang: 'js', v: a.v}; }",
            "python": "def main(a):\n    return {'lang': 'py', 'v': a['v']}\n"}
    for kind, x in execs.items():
        if kind.endswith(":default"):
            continue
        argv = [a for a in x["command"] if a not in ("--port", "{port}")]
        rt = Runtime(argv)
        try:
            assert rt.init(code[x["family"]]).status_code == 200
            r = rt.run({"v": kind})
            assert r.status_code == 200 and r.json()["v"] == kind
        finally:
            rt.close()


def test_python_sys_exit_ends_runtime(start):
    """sys.exit() in main ends the process as in the official runtime: the platform sees the
    dropped connection (developer error) and replaces the container; the logs still end."""
    rt = start("python")
    rt.init("import sys\ndef main(a):\n    print('bye')\n    sys.exit(3)\n")
    with pytest.raises(requests.ConnectionError):
        rt.run()
    out, err = rt.both()
    assert out == ["bye"]
    assert "SystemExit: 3" in err
    assert rt.proc.wait(timeout=DEADLINE) == 1


ENV_ACTIONS = {
    "nodejs": ("const cp = require('child_process');\n"
               "function main(p) {\n"
               "  if (!p.child) return {};\n"
               "  return {id: process.env.__OW_ACTIVATION_ID,\n"
               "          child: cp.execSync('echo $__OW_ACTIVATION_ID').toString().trim()};\n"
               "}\n"),
    "python": ("import os, subprocess\n"
               "def main(p):\n"
               "    if not p.get('child'):\n"
               "        return {}\n"
               "    out = subprocess.run(['sh', '-c', 'echo $__OW_ACTIVATION_ID'],\n"
               "                         capture_output=True, text=True).stdout.strip()\n"
               "    return {'id': os.environ['__OW_ACTIVATION_ID'], 'child': out}\n"),
}


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.mark.parametrize("lang", ["nodejs", "python"])
def test_per_activation_env_reaches_children_and_does_not_accumulate(start, lang):
    """Each run's __OW_* values are what the action and the processes it starts see, and a
    runtime does not keep every value it was ever given: setenv(3) keeps each distinct
    NAME=value string for good, so 5,000 runs with a 4 KB transaction id each grew a runtime
    by ~20 MB before the runtimes stopped calling it per activation."""
    if lang == "nodejs" and NODE is None:
        pytest.skip("no node binary")
    rt = start(lang)
    assert rt.init(ENV_ACTIONS[lang]).status_code == 200
    for i in range(3):
        aid = "%032x" % (0xabc000 + i)
        r = rt.run({"child": True}, activation_id=aid, transaction_id="tx%d" % i)
        assert r.status_code == 200, r.text
        assert r.json() == {"id": aid, "child": aid}
        rt.both()

    def burst(n, first):
        for i in range(first, first + n):
            r = rt.run({}, activation_id="%032x" % i,
                       transaction_id=("%08d" % i) * 512, deadline=str(1700000000000 + i))
            assert r.status_code == 200, r.text

    # the streams are read by the fixture's threads; the sentinels pile up
    # in its queues, not in the runtime
    burst(500, 0)   # warm: JIT, allocator, GC settle
    before = rss_kb(rt.proc.pid)
    burst(5000, 1000)
    grown_mb = (rss_kb(rt.proc.pid) - before) / 1024
    assert grown_mb < 8, "the runtime grew by %.1f MB over 5,000 runs" % grown_mb

# ---- POST /stream (docs/streams.md): a streaming web action

STREAM_CODE = {
    "nodejs": ("exports.main = async function (args, body) {\n"
               "  let n = 0;\n"
               "  for await (const c of body) n += c.length;\n"
               "  console.log('read', n);\n"
               "  if (args.fail) throw new Error('failed');\n"
               "  async function* out() { yield 'got '; yield String(n) + ' ' + args.who; }\n"
               "  return {statusCode: 201, headers: {'X-Mine': 'yes'}, body: out()};\n"
               "};\n"),
    "python": ("def main(args, body):\n"
               "    n = sum(len(c) for c in body)\n"
               "    print('read', n)\n"
               "    if args.get('fail'):\n"
               "        raise ValueError('failed')\n"
               "    def out():\n"
               "        yield 'got '\n"
               "        yield '%d %s' % (n, args['who'])\n"
               "    return {'statusCode': 201, 'headers': {'X-Mine': 'yes'}, 'body': out()}\n"),
}


def stream(rt, args, pieces):
    """POST /stream: the metadata line, then the pieces, chunked."""
    def body():
        yield (json.dumps({"value": args, "activation_id": "a" * 32}) + "\n").encode()
        yield from pieces
    return rt.session.post(rt.url + "/stream", data=body(), timeout=DEADLINE)


@pytest.mark.parametrize("lang", ["nodejs", "python"])
def test_stream_reads_the_body_and_answers_chunked(start, lang):
    rt = start(lang)
    assert rt.init(STREAM_CODE[lang]).status_code == 200
    r = stream(rt, {"who": "me"}, [b"x" * 70000, b"y" * 5])
    assert r.status_code == 201, r.text
    assert r.headers["X-Mine"] == "yes"
    assert r.headers["Transfer-Encoding"] == "chunked"
    assert r.text == "got 70005 me"
    assert rt.both() == (["read 70005"], [])
    # the runtime serves the next one
    r = stream(rt, {"who": "again"}, [])
    assert (r.status_code, r.text) == (201, "got 0 again")
    assert rt.both() == (["read 0"], [])


@pytest.mark.parametrize("lang", ["nodejs", "python"])
def test_stream_failure_before_the_answer_is_marked(start, lang):
    rt = start(lang)
    assert rt.init(STREAM_CODE[lang]).status_code == 200
    r = stream(rt, {"fail": True}, [b"abc"])
    assert r.status_code == 502
    assert r.headers["X-OW-Stream-Error"] == "true"
    assert "failed" in r.json()["error"]
    out, err = rt.both()
    assert out == ["read 3"] and any("failed" in line for line in err)


def test_stream_before_init_is_refused(start):
    rt = start("python")
    r = stream(rt, {}, [b"abc"])
    assert (r.status_code, r.json()) == (403, {"error": "System not initialized."})
