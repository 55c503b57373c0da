"""admin_test.py: tests for ow-admin against a real redis-server (run: /usr/bin/python3 -m pytest tools/owx/admin_test.py)."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import pytest
import redis

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))

from owx import admin, schema  # noqa: E402
from owx.stack import free_port  # noqa: E402

LAUNCHER = os.path.join(REPO, "bin", "ow-admin")
GUEST_UUID = admin.GUEST_KEY.split(":")[0]
AUTH = "11111111-2222-4333-8444-555555555555:" + "k" * 64



def start_redis(tmp, args, **client_kw):
    """A throwaway redis-server on a free TCP port (data in tmp, extra args); (proc, port, client)
    once PING answers through client (redis-py, client_kw: credentials)."""
    port = free_port()
    proc = subprocess.Popen(["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(tmp)] + args,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, decode_responses=True, socket_timeout=1, **client_kw)
    deadline = time.monotonic() + 10
    while True:
        try:
            if client.ping():
                return proc, port, client
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.01)  # poll interval while PING is refused


@pytest.fixture(scope="module")
def server():
    """A throwaway redis-server on a free TCP port and a unix socket; ready when PING answers."""
    tmp = tempfile.mkdtemp(prefix="owx-admin-")
    sock = os.path.join(tmp, "redis.sock")
    proc, port, client = start_redis(tmp, ["--unixsocket", sock, "--unixsocketperm", "700"])
    yield {"addr": "127.0.0.1:%d" % port, "sock": sock, "client": client}
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def r(server):
    server["client"].flushall()
    return server["client"]


@pytest.fixture
def run(server, r, capsys):
    """Run main(argv) against the test server; returns (exit code, stdout, stderr)."""
    def call(*argv):
        code = admin.main(["--redis", server["addr"]] + list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return call


def ok(run, *argv):
    code, stdout, stderr = run(*argv)
    assert code == 0, stderr
    return stdout


def fails(run, *argv, match):
    code, stdout, stderr = run(*argv)
    assert code == 1 and stdout == ""
    assert re.search(match, stderr), stderr
    return stderr


def cli(server, *argv, env=None, exe=LAUNCHER):
    full = dict(os.environ, OWX_REDIS=server["addr"], **(env or {}))
    return subprocess.run([exe] + list(argv), capture_output=True, text=True, env=full, timeout=30)


# ---------------------------------------------------------------- schema

def test_hash_and_verify():
    import hashlib
    salt = schema.new_salt()
    assert re.fullmatch(r"[0-9a-f]{32}", salt)
    assert schema.hash_key(salt, "k") == hashlib.sha256((salt + ":k").encode()).hexdigest()
    assert schema.verify_key(salt, schema.hash_key(salt, "k"), "k")
    assert not schema.verify_key(salt, schema.hash_key(salt, "k"), "x")
    assert schema.namespace_pattern("a*b") == "owx:{a\\*b}:*"


# ---------------------------------------------------------------- user

def test_user_create_generated_key(run, r):
    uuid, key = ok(run, "user", "create", "alice1").strip().split(":")
    assert re.fullmatch(r"[0-9a-f-]{36}", uuid) and re.fullmatch(r"[A-Za-z0-9]{64}", key)
    subj = r.hgetall("owx:subject:alice1")
    assert subj["blocked"] == "false"
    assert json.loads(subj["namespaces"]) == [{"name": "alice1", "uuid": uuid}]
    assert r.smembers("owx:subjects") == {"alice1"}
    rec = r.hgetall("owx:key:" + uuid)
    assert rec["ns"] == "alice1" and rec["subject"] == "alice1" and rec["blocked"] == "false"
    assert rec["hash"] == schema.hash_key(rec["salt"], key) and key not in json.dumps(rec)
    assert r.hgetall("owx:{alice1}:ns") == {"subject": "alice1", "uuid": uuid}


def test_user_create_explicit_auth_and_errors(run, r):
    assert ok(run, "user", "create", "bob12", "--namespace", "team", "--auth", AUTH).strip() == AUTH
    assert r.hget("owx:{team}:ns", "subject") == "bob12"
    fails(run, "user", "create", "bob12", match="already exists")
    fails(run, "user", "create", "bob12", "--namespace", "team", match="Namespace already exists")
    fails(run, "user", "create", "carol", "--namespace", "team", match="owned by another subject")
    fails(run, "user", "create", "carol", "--auth", AUTH, match="already in use")
    fails(run, "user", "create", "carol", "--auth", "not-a-uuid:" + "k" * 64, match="UUID")
    fails(run, "user", "create", "carol", "--auth", AUTH[:-1], match="64 characters")
    fails(run, "user", "create", "bad{tag}", match="invalid subject")
    assert not r.exists("owx:subject:carol")


def test_user_create_adds_namespace(run, r):
    ok(run, "user", "create", "dave1", "--auth", AUTH)
    ok(run, "user", "block", "dave1")
    uuid2 = ok(run, "user", "create", "dave1", "-ns", "other").strip().split(":")[0]
    names = json.loads(r.hget("owx:subject:dave1", "namespaces"))
    assert [n["name"] for n in names] == ["dave1", "other"] and names[1]["uuid"] == uuid2
    assert r.hget("owx:key:" + uuid2, "blocked") == "true"  # inherits the subject's state
    assert r.hget("owx:{other}:ns", "subject") == "dave1"


def test_user_get(run):
    ok(run, "user", "create", "erin1", "--auth", AUTH)
    uuid2 = ok(run, "user", "create", "erin1", "-ns", "two").strip().split(":")[0]
    stdout = ok(run, "user", "get", "erin1")
    assert stdout.splitlines()[0] == "erin1 %s:<hidden>" % AUTH.split(":")[0]
    assert "stored hashed" in stdout and "k" * 64 not in stdout
    assert "two %s:<hidden>" % uuid2 in ok(run, "user", "get", "erin1", "--all")
    assert ok(run, "user", "get", "erin1", "-ns", "two").splitlines()[0] == "two %s:<hidden>" % uuid2
    fails(run, "user", "get", "erin1", "-ns", "nope", match="not found")
    fails(run, "user", "get", "nobody", match="not found")


def seed_entities(r, ns):
    r.hset(schema.entity_key(ns, "hello"), mapping={"coll": "actions", "rev": "3", "doc": '{"name":"hello"}'})
    r.hset(schema.entity_key(ns, "pkg"), mapping={"coll": "packages", "rev": "1", "doc": '{"name":"pkg"}'})
    r.zadd(schema.act_index_key(ns), {"a1": 1000, "a2": 2000, "a3": 3000})
    r.set(schema.limits_key(ns), '{"maxActionMemory":256}')


def test_user_delete_keeps_or_purges_entities(run, r):
    ok(run, "user", "create", "frank", "--auth", AUTH)
    ok(run, "user", "create", "frank", "-ns", "extra")
    seed_entities(r, "frank")
    seed_entities(r, "extra")
    assert "Namespace deleted" in ok(run, "user", "delete", "frank", "-ns", "extra", "--purge")
    assert not r.keys("owx:{extra}:*")
    assert [n["name"] for n in json.loads(r.hget("owx:subject:frank", "namespaces"))] == ["frank"]
    fails(run, "user", "delete", "frank", "-ns", "extra", match="not found")
    assert "Subject deleted" in ok(run, "user", "delete", "frank")
    assert not r.exists("owx:subject:frank", "owx:{frank}:ns", "owx:key:" + AUTH.split(":")[0])
    assert r.smembers("owx:subjects") == set()
    assert r.exists(schema.entity_key("frank", "hello"))  # entities stay without --purge
    fails(run, "user", "delete", "frank", match="not found")


def test_user_delete_purge_whole_subject(run, r):
    ok(run, "user", "create", "gina1")
    ok(run, "user", "create", "other")
    seed_entities(r, "gina1")
    seed_entities(r, "other")
    assert "Purged" in ok(run, "user", "delete", "gina1", "--purge")
    assert r.keys("owx:{gina1}:*") == [] and r.exists(schema.entity_key("other", "hello"))


def test_user_list(run):
    for name in ("zed12", "amy12", "mike1"):
        ok(run, "user", "create", name)
    assert ok(run, "user", "list").split() == ["amy12", "mike1", "zed12"]
    assert ok(run, "user", "list", "--limit", "2").split() == ["amy12", "mike1"]


def test_user_block_unblock(run, r):
    ok(run, "user", "create", "henry", "--auth", AUTH)
    uuid2 = ok(run, "user", "create", "henry", "-ns", "h2").strip().split(":")[0]
    ok(run, "user", "block", "henry")
    keys = ["owx:subject:henry", "owx:key:" + AUTH.split(":")[0], "owx:key:" + uuid2]
    assert [r.hget(k, "blocked") for k in keys] == ["true"] * 3
    assert "blocked: true" in ok(run, "user", "whoami", AUTH)
    ok(run, "user", "unblock", "henry")
    assert [r.hget(k, "blocked") for k in keys] == ["false"] * 3
    fails(run, "user", "block", "nobody", match="not found")


def test_user_whoami(run):
    ok(run, "user", "create", "ivy12", "-ns", "ivyns", "--auth", AUTH)
    assert ok(run, "user", "whoami", AUTH).splitlines()[:2] == ["subject: ivy12", "namespace: ivyns"]
    fails(run, "user", "whoami", AUTH[:-1] + "x", match="invalid key")
    fails(run, "user", "whoami", "22222222-2222-4333-8444-555555555555:" + "k" * 64, match="invalid key")
    fails(run, "user", "whoami", "garbage", match="invalid key")


# ---------------------------------------------------------------- limits

def test_limits(run, r):
    assert "No limits found" in ok(run, "limits", "get", "guest")
    ok(run, "limits", "set", "guest", "--invocationsPerMinute", "100", "--maxActionMemory", "512")
    ok(run, "limits", "set", "guest", "--firesPerMinute", "0", "--maxParameterSize", "1mb")
    expected = {"firesPerMinute": 0, "invocationsPerMinute": 100, "maxActionMemory": 512, "maxParameterSize": "1 MB"}
    assert json.loads(r.get("owx:{guest}:limits")) == expected
    assert json.loads(ok(run, "limits", "get", "guest")) == expected
    fails(run, "limits", "set", "guest", "--minActionMemory", "1024", match="greater than")
    fails(run, "limits", "set", "guest", match="no limits given")
    assert run("limits", "set", "guest", "--maxActionTimeout", "-1")[0] == 2  # argparse usage error
    assert run("limits", "set", "guest", "--maxParameterSize", "lots")[0] == 2
    assert "Limits deleted" in ok(run, "limits", "delete", "guest")
    assert not r.exists("owx:{guest}:limits")
    fails(run, "limits", "delete", "guest", match="no limits found")


# ---------------------------------------------------------------- db / inspect

def test_db_get(run, r):
    ok(run, "user", "create", "jack1", "--auth", AUTH)
    seed_entities(r, "jack1")
    assert json.loads(ok(run, "db", "get", "owx:{jack1}:limits")) == {"maxActionMemory": 256}
    assert json.loads(ok(run, "db", "get", "owx:{jack1}:ai")) == [["a1", 1000], ["a2", 2000], ["a3", 3000]]
    assert json.loads(ok(run, "db", "get", "owx:subjects")) == ["jack1"]
    rec = json.loads(ok(run, "db", "get", "owx:key:" + AUTH.split(":")[0]))
    assert rec == {"blocked": "false", "ns": "jack1", "subject": "jack1"}  # salt and hash are never shown
    lines = ok(run, "db", "get", "owx:key:*").splitlines()
    assert len(lines) == 1 and "salt" not in lines[0] and '"hash"' not in lines[0]
    lines = ok(run, "db", "get", "owx:{jack1}:e:*").splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == ["owx:{jack1}:e:hello", "owx:{jack1}:e:pkg"]
    fails(run, "db", "get", "owx:nothing", match="not found")


def test_inspect(run, r):
    ok(run, "user", "create", "kate1", "--auth", AUTH)
    ok(run, "user", "create", "leo12", "-ns", "leons")
    seed_entities(r, "kate1")
    assert ok(run, "inspect", "namespaces").splitlines() == ["kate1 kate1", "leons leo12"]
    rows = [json.loads(line) for line in ok(run, "inspect", "entities", "kate1").splitlines()]
    assert rows == [{"coll": "actions", "path": "hello", "rev": 3, "doc": {"name": "hello"}},
                    {"coll": "packages", "path": "pkg", "rev": 1, "doc": {"name": "pkg"}}]
    rows = ok(run, "inspect", "entities", "kate1", "--collection", "packages").splitlines()
    assert [json.loads(line)["path"] for line in rows] == ["pkg"]
    keys = ok(run, "inspect", "keys")
    assert keys.splitlines()[0] == "%s kate1 kate1 false" % AUTH.split(":")[0]
    assert len(keys.splitlines()) == 2 and "k" * 64 not in keys
    for rec in map(r.hgetall, r.keys("owx:key:*")):
        assert rec["salt"] not in keys and rec["hash"] not in keys
    assert ok(run, "inspect", "activations", "kate1").split() == ["a3", "a2", "a1"]
    assert ok(run, "inspect", "activations", "kate1", "--limit", "2").split() == ["a3", "a2"]


# ---------------------------------------------------------------- init

def test_init_idempotent(run, r):
    stdout = ok(run, "init")
    assert "created subject guest" in stdout and "created subject whisk.system" in stdout
    assert "123zO3x" not in stdout
    assert r.hget("owx:key:" + GUEST_UUID, "ns") == "guest"
    assert r.hget("owx:{whisk.system}:ns", "subject") == "whisk.system"
    assert ok(run, "user", "whoami", admin.GUEST_KEY).splitlines()[0] == "subject: guest"
    assert ok(run, "user", "whoami", admin.SYSTEM_KEY).splitlines()[1] == "namespace: whisk.system"
    before = r.hgetall("owx:key:" + GUEST_UUID)
    assert ok(run, "init").strip() == "already provisioned"
    assert r.hgetall("owx:key:" + GUEST_UUID) == before  # never overwritten


def test_init_custom_keys_and_partial(run, r):
    ok(run, "user", "create", "guest", "--auth", AUTH)
    stdout = ok(run, "init", "--system-key", "33333333-2222-4333-8444-555555555555:" + "s" * 64)
    assert stdout.strip() == "created subject whisk.system (namespace whisk.system)"
    assert r.hget("owx:{guest}:ns", "uuid") == AUTH.split(":")[0]
    assert r.exists("owx:key:33333333-2222-4333-8444-555555555555")


# ---------------------------------------------------------------- connection and launcher

def test_connection_options(server, r, capsys):
    assert admin.main(["--redis", "unix:" + server["sock"], "init"]) == 0
    assert admin.main(["--redis", "nonsense", "user", "list"]) == 1
    assert admin.main(["--redis", "127.0.0.1:1", "user", "list"]) == 1
    assert "127.0.0.1:1" in capsys.readouterr().err


def test_redis_credentials(tmp_path, capsys):
    """--redis-credentials FILE (or $OWX_REDIS_CREDENTIALS): one line "USER PASSWORD", an ACL user
    of a Redis whose default user is off (as the local stack's)."""
    acl = tmp_path / "users.acl"
    acl.write_text("user default off\nuser ops on >s3cret ~* &* +@all\n")
    proc, port, client = start_redis(tmp_path, ["--aclfile", str(acl)], username="ops",
                                     password="s3cret")
    try:
        addr = "127.0.0.1:%d" % port
        cred = tmp_path / "redis-ops"
        cred.write_text("ops s3cret\n")
        capsys.readouterr()
        # without credentials: refused (NOAUTH), nothing written
        assert admin.main(["--redis", addr, "init"]) == 1
        assert "auth" in capsys.readouterr().err.lower()
        assert client.dbsize() == 0
        assert admin.main(["--redis", addr, "--redis-credentials", str(cred), "init"]) == 0
        assert client.exists("owx:key:" + GUEST_UUID)
        capsys.readouterr()
        # a wrong password, a missing file, a file that is not "USER PASSWORD"
        bad = tmp_path / "bad"
        bad.write_text("ops wrong\n")
        assert admin.main(["--redis", addr, "--redis-credentials", str(bad), "user", "list"]) == 1
        assert "ow-admin: error: redis" in capsys.readouterr().err
        assert admin.main(["--redis", addr, "--redis-credentials", str(tmp_path / "none"),
                           "user", "list"]) == 1
        assert "cannot read --redis-credentials" in capsys.readouterr().err
        bad.write_text("s3cret\n")
        assert admin.main(["--redis", addr, "--redis-credentials", str(bad), "user", "list"]) == 1
        assert "expected one line" in capsys.readouterr().err
        # the secret never goes on a command line: the launcher takes the file from the env
        result = cli({"addr": addr}, "user", "list", env={"OWX_REDIS_CREDENTIALS": str(cred)})
        assert result.returncode == 0, result.stderr
        assert set(result.stdout.split()) == {"guest", "whisk.system"}
    finally:
        proc.terminate()
        proc.wait(10)


def test_launcher_subprocess(server, r):
    result = cli(server, "user", "create", "mona1", "--auth", AUTH)  # address from OWX_REDIS
    assert result.returncode == 0 and result.stdout.strip() == AUTH
    result = cli(server, "user", "create", "mona1")
    assert result.returncode == 1 and "already exists" in result.stderr
    assert cli(server, "--redis", server["addr"], "user", "list").stdout.split() == ["mona1"]
    for argv in (["user", "get", "mona1"], ["user", "whoami", AUTH], ["user", "block", "mona1"],
                 ["user", "unblock", "mona1"], ["limits", "set", "mona1", "--maxActionLogs", "5"],
                 ["limits", "get", "mona1"], ["limits", "delete", "mona1"], ["db", "get", "owx:subjects"],
                 ["inspect", "namespaces"], ["inspect", "entities", "mona1"], ["inspect", "keys"],
                 ["inspect", "activations", "mona1"], ["init"], ["user", "delete", "mona1", "--purge"]):
        result = cli(server, *argv)
        assert result.returncode == 0, (argv, result.stderr)
    assert cli(server, "user", "list").stdout.split() == ["guest", "whisk.system"]


def test_launcher_via_symlink(server, r, tmp_path):
    link = tmp_path / "ow-admin"
    link.symlink_to(LAUNCHER)
    result = cli(server, "init", exe=str(link))
    assert result.returncode == 0 and "created subject guest" in result.stdout
    assert cli(server, "--help", exe=str(link)).returncode == 0
