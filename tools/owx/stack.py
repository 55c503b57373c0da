"""stack.py: the local owx stack (Redis + the packaged nginx with the owx modules).

Used by `make run` / `make up` / `make down` (through bin/owx) and by the black-box tests,
which start one stack per test module on free ports. All state lives under one directory
(OWX_HOME): Redis data (AOF on), the rendered nginx.conf, logs and pid files.
"""

import contextlib
import grp
import hashlib
import json
import os
import pwd
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from owx import admin, runtimes, schema

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
NGINX = "/usr/sbin/nginx"
REDIS = "/usr/bin/redis-server"
START_DEADLINE = 20.0

# Redis ACL users, one per component, each with only what it needs (Redis 7
# syntax; the file Redis loads is written from this table at every start, the
# passwords stored as SHA-256 there). The default user is off: a process that
# holds no credential file (an action's runtime) gets NOAUTH for everything.
#   gateway, pool-manager: every key (auth keys, entities, the warm table,
#     limits, records) and channel, nothing of the server's own
#     administration (@dangerous: CONFIG, DEBUG, SHUTDOWN, ACL, KEYS, ...);
#   sidecar: reads entities (its action, package, binding), the pieces of
#     an action's big code (modules/engine/ow_code.h) and, for a streaming
#     web action, the namespace's limits (maxStreamBytes), writes activation
#     records and their indexes through the write scripts (schema/ow_schema.h
#     OW_LUA_WRITE_ACTIVATION(S): the commands inside are checked too), keeps
#     its WebSocket connections' registry and adds their messages to the
#     namespace's per-minute count (below), no auth key, no channel;
#   admin: everything (ow-admin, the catalog installer, tests).
REDIS_ACL = {
    "gateway": "~* &* +@all -@dangerous",
    "pool-manager": "~* &* +@all -@dangerous",
    # WebSocket connections (sidecar/connection_registry.h): its scripts
    # count, add, refresh and drop ids and entries (+zcard +zrem +del), and
    # add the messages run to the namespace's per-minute count (+incrby +expire)
    "sidecar": ("resetkeys %%R~%s %%R~%s %%R~%s ~%s ~%s ~%s ~%s ~%s ~%s resetchannels -@all +ping "
                "+hmget +hget +get +eval +evalsha +script|load +time +zremrangebyscore +set +zadd "
                "+pttl +pexpireat +zcard +zrem +del +incrby +expire"
                % (schema.entity_key("*", "*"), schema.code_key("*", "*"), schema.limits_key("*"),
                   schema.activation_key("*", "*"), schema.act_index_key("*"),
                   schema.act_name_index_key("*", "*"), schema.connections_key("*"),
                   schema.connection_key("*", "*"), schema.rate_key("*", "*"))),
    "admin": "~* &* +@all",
}
# the gateway's nginx workers: nginx's compiled-in default user (no "user"
# directive in conf/nginx.conf), and its group, which alone may enter the
# directories that hold the internal socket and the request body files
WORKER_USER = "nobody"


def worker_gid():
    try:
        return pwd.getpwnam(WORKER_USER).pw_gid
    except KeyError:
        return grp.getgrnam("nogroup").gr_gid


def open_files_for_connections(want=65536):
    """Raises this process's soft RLIMIT_NOFILE (which nginx and the daemons inherit) to
    the hard limit, at most want, as nginx.service's LimitNOFILE does: every connection a
    gateway worker holds is an open file, and conf/nginx.conf's worker_connections (16384)
    must fit, or nginx warns at start."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(hard, want)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def ephemeral_low():
    """The start of the kernel's ephemeral port range (bind(:0), outgoing connections)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A loopback port free now, for a process started next to bind: chosen below the
    kernel's ephemeral range. Every sidecar, runtime and outgoing connection takes its
    ports from that range (bind(:0)), so a port picked there could be taken in the moment
    before the process it is meant for binds it (a pool-manager restarted on its port
    found a sidecar there)."""
    low = min(ephemeral_low(), 65536)
    for _ in range(200):
        port = random.randrange(10000, low) if low > 10000 else 0
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, deadline, what, detail=None):
    """Poll check() until it answers, and return the answer; fail after deadline seconds,
    naming what was awaited, the last OSError (a process still starting refuses
    connections) and detail(), if given (what was seen instead). An answer is a true value,
    or an HTTP response of any status (requests makes an error response false: the status
    is for the caller to judge). The one poll helper of the stack and of the tests (t/)."""
    end = time.monotonic() + deadline
    delay = 0.01
    error = None
    while True:
        try:
            v = check()
            if v or (v is not None and hasattr(v, "status_code")):
                return v
        except OSError as e:
            error = e
        if time.monotonic() > end:
            raise AssertionError("timed out after %g s waiting for %s%s%s" % (
                deadline, what, " (last error: %s)" % error if error else "",
                ": %r" % (detail(),) if detail else ""))
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def nginx_env():
    """nginx's environment: ours, unless OWX_SANITIZE names a directory (make test-asan:
    the module is built with ASan + UBSan, nginx is not). Then libasan is preloaded (ASan
    must be the process's first library; the module comes with dlopen, and libubsan with
    it) and ASan reports into that directory (nginx.nginx.<pid>; the workers' user must be
    able to write there). The workers inherit it from the master (ASan starts with the
    process). UBSan's options are compiled into the module (libow/sanitizer_defaults.cc:
    it starts in a worker, whose environment nginx has overwritten by then).
    detect_leaks=0: nginx leaves its pools to exit() by design. abort_on_error: a worker
    that dies of a finding is an "exited on signal 6" alert in the error log.
    Nothing is passed on: nginx runs no other program."""
    reports = os.environ.get("OWX_SANITIZE")
    if not reports:
        return None
    env = dict(os.environ)
    asan = subprocess.run(["gcc", "-print-file-name=libasan.so"], check=True,
                          capture_output=True, text=True).stdout.strip()
    env["LD_PRELOAD"] = " ".join([asan, env.get("LD_PRELOAD", "")]).strip()
    env["ASAN_OPTIONS"] = ("halt_on_error=1:abort_on_error=1:detect_leaks=0:log_exe_name=1:"
                           "log_path=" + os.path.join(os.path.abspath(reports), "nginx"))
    return env


def sanitized_sidecar_args():
    """ow-pool-manager options for a local backend that starts sanitized sidecars (under
    OWX_SANITIZE; none otherwise). The RLIMIT_DATA the pool-manager gives each
    container's processes (limits.memory + --memory-headroom) counts ASan's shadow
    memory, terabytes of private writable reservations: at the default 128 MB headroom a
    sanitized sidecar cannot even start. A 32 TB headroom lifts that limit (and so the
    runtime's, which no test of t/ measures through a real sidecar)."""
    if not os.environ.get("OWX_SANITIZE"):
        return []
    return ["--memory-headroom", str(1 << 25)]


def let_workers_in(path):
    """nginx workers run as nobody when we are root: they must reach files under path
    (request body temp files, bodies > client_body_buffer_size) through pytest's 0700
    directories. Adds search (x) permission on path and every parent."""
    if os.geteuid() != 0:
        return
    d = str(path)
    while d not in ("/", ""):
        os.chmod(d, os.stat(d).st_mode | 0o111)
        d = os.path.dirname(d)


class Stack:
    """One owx stack. port/redis_port 0 pick free ports."""

    def __init__(self, home, port=3233, redis_port=3234, extra_conf="", workers=2,
                 pool_port=3235, pool_manager=True, pool_args=(), pool_replicas=1):
        self.home = os.path.abspath(home)
        self.pool_args = list(pool_args)  # extra ow-pool-manager options
        self.port = port or free_port()
        self.redis_port = redis_port or free_port()
        self.pool_port = pool_port or free_port()
        # replicas after the first listen on the next ports (free ones when
        # the first port was picked freely)
        self.pool_ports = [self.pool_port] + [
            (pool_port + i) if pool_port else free_port() for i in range(1, pool_replicas)]
        self.with_pool_manager = pool_manager
        self.extra_conf = extra_conf
        self.workers = workers
        self.procs = []
        # seconds the gateway adds to its clock for the per-minute windows
        # (ow_limit_clock_offset): 0 but where a test moves it (fresh_minute)
        self.clock_offset = 0

    # ---- paths
    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def pool_addr(self):
        return "127.0.0.1:%d" % self.pool_port

    @property
    def pool_addrs(self):
        return ["127.0.0.1:%d" % p for p in self.pool_ports]

    @property
    def redis_addr(self):
        return "127.0.0.1:%d" % self.redis_port

    def path(self, *parts):
        return os.path.join(self.home, *parts)

    @property
    def error_log(self):
        return self.path("nginx", "error.log")

    # ---- secrets (per installation; kept across restarts)
    def secret(self, name):
        return self.path("secrets", name)

    def ensure_secrets(self):
        """The internal token, the metrics token (what a scraper of any
        /metrics sends as "Authorization: Bearer") and one Redis password per
        ACL user, each in its own 0600 file under the 0700 secrets directory
        (made once, kept across restarts; a state directory made before one
        of them existed gets it), and Redis's ACL file written from them."""
        os.makedirs(self.path("secrets"), mode=0o700, exist_ok=True)
        os.chmod(self.path("secrets"), 0o700)
        files = {"internal-token": lambda: secrets.token_hex(32),
                 "metrics-token": lambda: secrets.token_hex(32)}
        for user in REDIS_ACL:
            files["redis-" + user] = lambda user=user: "%s %s" % (user, secrets.token_hex(32))
        for name, make in files.items():
            path = self.secret(name)
            if not os.path.exists(path):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(make() + "\n")
        # "off": no client can be the default user (no password-less
        # access). Its rights stay whole because Redis 7.0 replays the AOF
        # as the default user: without them every MULTI/EXEC in the AOF is
        # refused (NOPERM) and a restart loses the data.
        lines = ["user default off resetpass ~* &* +@all"]
        for user, rules in REDIS_ACL.items():
            password = self.redis_credentials(user)[1]
            lines.append("user %s on #%s %s" % (
                user, hashlib.sha256(password.encode()).hexdigest(), rules))
        os.makedirs(self.path("redis"), mode=0o700, exist_ok=True)
        fd = os.open(self.path("redis", "users.acl"),
                     os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")

    def redis_credentials(self, user="admin"):
        """(user, password) of one of REDIS_ACL's users."""
        return admin.read_credentials(self.secret("redis-" + user))

    @property
    def internal_token(self):
        with open(self.secret("internal-token")) as f:
            return f.read().strip()

    @property
    def internal_headers(self):
        """What the gateway sends the pool-manager and sidecars: tests that
        call them directly send it too."""
        return {"X-OW-Token": self.internal_token}

    @property
    def metrics_token(self):
        with open(self.secret("metrics-token")) as f:
            return f.read().strip()

    @property
    def metrics_headers(self):
        """What a scraper of the gateway's, the pool-manager's or a sidecar's
        /metrics sends (Prometheus' bearer token)."""
        return {"Authorization": "Bearer " + self.metrics_token}

    def redis(self, **kw):
        """A redis-py client of this stack's Redis, as the admin user."""
        import redis as redis_py
        user, password = self.redis_credentials("admin")
        kw.setdefault("decode_responses", True)
        return redis_py.Redis(host="127.0.0.1", port=self.redis_port, username=user,
                              password=password, **kw)

    def admin_args(self):
        """ow-admin's connection options for this stack."""
        return ["--redis", self.redis_addr, "--redis-credentials", self.secret("redis-admin")]

    def harden(self):
        """State files are the platform's alone: an action's runtime runs as
        a uid of its own (ow-sidecar --runtime-uid-base) and must read
        nothing here. Redis data, logs, secrets, runtimes: 0700. The home and
        nginx's directory: 0710 with the nginx workers' group, which must
        reach the request body files and the internal listener's socket."""
        os.makedirs(self.path("nginx", "tmp"), exist_ok=True)
        for d in ("secrets", "redis", "pool-manager", "runtimes", "journal"):
            os.makedirs(self.path(d), mode=0o700, exist_ok=True)
            os.chmod(self.path(d), 0o700)
        for d in (self.home, self.path("nginx")):
            if os.geteuid() == 0:
                os.chown(d, 0, worker_gid())
                os.chmod(d, 0o710)
            else:
                os.chmod(d, 0o700 if d == self.path("nginx") else 0o711)

    # ---- configuration
    def write_runtimes(self):
        """The kinds this machine can run: for nginx (info document) and the pool-manager."""
        self.runtimes_info, self.runtimes_exec = runtimes.write_runtime_files(self.path("runtimes"))

    def render_nginx_conf(self, daemon):
        self.write_runtimes()
        with open(os.path.join(ROOT, "conf", "nginx.conf")) as f:
            conf = f.read()
        subst = {
            "@OWX_MODULES@": os.path.join(os.environ.get("OWX_BUILD", os.path.join(ROOT, "build")),
                                          "modules"),
            "@OWX_HOME@": self.home,
            "@OWX_SECRETS@": self.path("secrets"),
            "@OWX_RUNTIMES@": self.runtimes_info,
            "@OWX_PORT@": str(self.port),
            "@OWX_REDIS@": self.redis_addr,
            "@OWX_DAEMON@": "on" if daemon else "off",
            # max_fails=0: never set a replica aside; a dead one costs one refused connect
            # before the next is asked (a leader killed and restarted within nginx's
            # fail_timeout must not leave "no live upstreams")
            "@OWX_POOL_SERVERS@": " ".join("server %s max_fails=0;" % a
                                           for a in self.pool_addrs),
        }
        for k, v in subst.items():
            conf = conf.replace(k, v)
        conf = conf.replace("worker_processes 2;", "worker_processes %d;" % self.workers)
        conf = self.set_clock_offset(conf)
        conf = conf.replace("# @OWX_EXTRA@ (locations added by benchmarks and tests)", self.extra_conf)
        for d in ("nginx/tmp", "redis"):
            os.makedirs(self.path(d), exist_ok=True)
        target = self.path("nginx", "nginx.conf")
        with open(target, "w") as f:
            f.write(conf)
        # the files nginx.conf includes sit beside it
        for name in os.listdir(os.path.join(ROOT, "conf")):
            if name.endswith(".conf") and name != "nginx.conf":
                with open(os.path.join(ROOT, "conf", name)) as src, \
                        open(self.path("nginx", name), "w") as dst:
                    dst.write(src.read())
        return target

    def set_clock_offset(self, conf):
        """conf with ow_limit_clock_offset at self.clock_offset (none when 0)."""
        conf = re.sub(r"    ow_limit_clock_offset \d+s;\n", "", conf)
        if self.clock_offset:
            conf = conf.replace("    ow_limit_sync 1s;\n", "    ow_limit_sync 1s;\n"
                                "    ow_limit_clock_offset %ds;\n" % self.clock_offset, 1)
            assert "ow_limit_clock_offset" in conf, "conf/nginx.conf has no ow_limit_sync 1s"
        return conf

    def redis_args(self, daemon):
        return [REDIS, "--port", str(self.redis_port), "--bind", "127.0.0.1",
                "--aclfile", self.path("redis", "users.acl"),
                "--dir", self.path("redis"), "--appendonly", "yes",
                "--save", "", "--daemonize", "yes" if daemon else "no",
                "--pidfile", self.path("redis", "redis.pid"),
                "--logfile", self.path("redis", "redis.log")]

    # ---- readiness
    def redis_ready(self):
        user, password = self.redis_credentials("admin")
        with socket.create_connection(("127.0.0.1", self.redis_port), timeout=1) as s:
            s.sendall(("AUTH %s %s\r\nPING\r\n" % (user, password)).encode())
            answer = b""
            while answer.count(b"\r\n") < 2:
                chunk = s.recv(64)
                if not chunk:
                    return False
                answer += chunk
            return answer == b"+OK\r\n+PONG\r\n"

    def nginx_ready(self):
        with urllib.request.urlopen(self.url + "/ping", timeout=1) as r:
            return r.status == 200

    # ---- lifecycle
    def start_redis(self, daemon=False):
        self.ensure_secrets()
        self.harden()
        if daemon:
            subprocess.run(self.redis_args(True), check=True)
        else:
            self.procs.append(subprocess.Popen(self.redis_args(False)))
        wait_until(self.redis_ready, START_DEADLINE, "redis on " + self.redis_addr)

    def stop_redis(self):
        """Stop Redis alone (tests of Redis outages); start_redis() brings it back."""
        pid = self._signal_pidfile(self.path("redis", "redis.pid"), signal.SIGTERM)
        for p in list(self.procs):
            if p.pid == pid:
                self._wait_child(p)
                self.procs.remove(p)
                return
        if pid is not None:
            self._wait_pid(pid)

    def provision(self):
        rc = admin.main(self.admin_args() + ["init"])
        if rc != 0:
            raise RuntimeError("ow-admin init failed")

    def install_catalog(self):
        """whisk.system/utils, through the API (so nginx must be up); a no-op when the
        catalog version recorded in Redis is current (tools/owx/catalog.py)."""
        rc = admin.main(self.admin_args() + ["catalog", "install",
                         "--apihost", self.url])
        if rc != 0:
            # e.g. no Node.js on this machine: the platform still works without the catalog
            print("owx: warning: the catalog (whisk.system/utils) was not installed",
                  file=sys.stderr)

    def remove_stale_socket(self):
        """Unlink the internal listener's socket left by an nginx that was
        killed (a clean stop removes it): bind() would fail on it. A socket
        someone still answers on is left alone."""
        path = self.path("nginx", "internal.sock")
        if not os.path.exists(path):
            return
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
        except ConnectionRefusedError:
            os.unlink(path)
        except OSError:
            pass
        finally:
            s.close()

    def start_nginx(self, daemon=False):
        open_files_for_connections()
        conf = self.render_nginx_conf(daemon)
        self.remove_stale_socket()
        env = nginx_env()
        subprocess.run([NGINX, "-p", self.path("nginx"), "-c", conf, "-t", "-q"], check=True,
                       env=env)
        args = [NGINX, "-p", self.path("nginx"), "-c", conf]
        if daemon:
            subprocess.run(args, check=True, env=env)
        else:
            self.procs.append(subprocess.Popen(args, env=env))
        wait_until(self.nginx_ready, START_DEADLINE, "nginx on " + self.url)

    def reload_nginx(self):
        self._signal_pidfile(self.path("nginx", "nginx.pid"), signal.SIGHUP)

    def nginx_workers(self):
        """The pids of the nginx master's children (workers, also old ones finishing)."""
        with open(self.path("nginx", "nginx.pid")) as f:
            master = int(f.read())
        with open("/proc/%d/task/%d/children" % (master, master)) as f:
            return set(f.read().split())

    def minute(self):
        """The epoch minute the gateway counts a request in now (per-minute limits)."""
        return int(time.time() + self.clock_offset) // 60

    def fresh_minute(self):
        """Move the gateway's per-minute windows to the start of a minute none of its
        requests has counted in yet: ow_limit_clock_offset, rewritten and reloaded. A test
        of a per-minute limit then has the whole minute without waiting for the calendar's,
        and the next window is one more call away. Returns once only workers of the new
        configuration remain (old ones count in the old minute)."""
        now = int(time.time())
        self.clock_offset = (self.minute() + 1) * 60 - now
        with open(self.path("nginx", "nginx.conf")) as f:
            conf = self.set_clock_offset(f.read())
        with open(self.path("nginx", "nginx.conf"), "w") as f:
            f.write(conf)
        old = self.nginx_workers()
        self.reload_nginx()
        wait_until(lambda: (lambda now: now and not (now & old))(self.nginx_workers()),
                   START_DEADLINE,
                   "nginx workers with ow_limit_clock_offset %ds" % self.clock_offset)
        return self.minute()

    # ---- the pool-manager (starts containers: sidecar + runtime processes)
    def binary(self, name):
        build = os.environ.get("OWX_BUILD", os.path.join(ROOT, "build"))
        path = os.path.join(build, "cmake", name, "ow-" + name)
        return path if os.access(path, os.X_OK) else None

    def pool_ready(self, addr=None, leader=False):
        """/health answers (and, with leader, this replica leads and has reconciled)."""
        with urllib.request.urlopen("http://%s/health" % (addr or self.pool_addr),
                                    timeout=1) as r:
            return r.status == 200 and (not leader or json.load(r).get("leader") is True)

    def pool_get(self, path):
        """GET path of the pool-manager's control API, as the gateway and a scraper."""
        headers = dict(self.internal_headers, **self.metrics_headers)
        req = urllib.request.Request("http://%s%s" % (self.pool_addr, path), headers=headers)
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.read().decode()

    def pool_containers(self):
        """The pool-manager's containers (GET /v1/containers: state, health, ...)."""
        return json.loads(self.pool_get("/v1/containers"))["containers"]

    def pool_metrics(self):
        return self.pool_get("/metrics")

    def pool_pidfile(self, i):
        return self.path("pool-manager", "pool-manager.pid" if i == 0
                         else "pool-manager-%d.pid" % i)

    def let_runtimes_in(self):
        """The runtimes run as uids of their own (ow-sidecar --runtime-uid-base):
        they must read their proxy scripts (runtimes/ of this checkout) through
        every directory above it, whatever the checkout's umask and place.
        Read and search on runtimes/, search only on its parents."""
        if os.geteuid() != 0:
            return
        top = os.path.join(ROOT, "runtimes")
        for d, _, files in os.walk(top):
            os.chmod(d, os.stat(d).st_mode | 0o555)
            for f in files:
                path = os.path.join(d, f)
                os.chmod(path, os.stat(path).st_mode | 0o444)
        let_workers_in(ROOT)

    def start_pool_manager(self):
        """Start the ow-pool-manager replicas when built (each in its own session: they
        outlive make's Ctrl-C handling only through stop()); the first is started alone
        and leads, the others follow. Returns False when there is none."""
        pool, sidecar = self.binary("pool-manager"), self.binary("sidecar")
        if pool is None or sidecar is None or not self.with_pool_manager:
            return False
        self.write_runtimes()
        self.let_runtimes_in()
        os.makedirs(self.path("pool-manager"), exist_ok=True)
        for i, addr in enumerate(self.pool_addrs):
            self.start_pool_replica(i)
            wait_until(lambda: self.pool_ready(addr, leader=(i == 0)), START_DEADLINE,
                       "the pool-manager on " + addr)
        return True

    def start_pool_replica(self, i):
        """Start replica i (again, after a test killed it); returns its Popen."""
        pool, sidecar = self.binary("pool-manager"), self.binary("sidecar")
        name = "pool-manager.log" if i == 0 else "pool-manager-%d.log" % i
        log = open(self.path("pool-manager", name), "ab")
        argv = [pool, "--listen", self.pool_addrs[i], "--redis", self.redis_addr,
                "--redis-credentials", self.secret("redis-pool-manager"),
                "--token-file", self.secret("internal-token"),
                "--metrics-token-file", self.secret("metrics-token"),
                "--sidecar-redis-credentials", self.secret("redis-sidecar"),
                "--sidecar", sidecar, "--runtimes", self.runtimes_exec,
                "--journal-dir", self.path("journal"),
                "--api-host", self.url]
        if "kubernetes" not in self.pool_args:
            # (the Kubernetes backend's pods would take it as their memory limit)
            argv += sanitized_sidecar_args()
        p = subprocess.Popen(argv + self.pool_args,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        with open(self.pool_pidfile(i), "w") as f:
            f.write(str(p.pid))
        self.procs.append(p)
        return p

    def sidecars(self):
        """{pid: argv} of this stack's live ow-sidecar processes (sidecars run in sessions
        of their own: they survive a pool-manager crash), found by the Redis address on
        their command line. A sidecar's child between fork and exec (its runtime starting)
        still has that command line: not a sidecar."""
        mine = ("--redis\0%s\0" % self.redis_addr).encode()
        found, parent = {}, {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read()
                with open("/proc/%s/stat" % pid) as f:
                    stat = f.read().rsplit(")", 1)[1].split()
                if stat[0] == "Z":
                    continue  # exited, not yet reaped
            except (OSError, IndexError):
                continue
            argv = cmd.split(b"\0")
            if b"ow-sidecar" in argv[0] and mine in cmd:
                found[int(pid)] = [a.decode(errors="replace") for a in argv]
                parent[int(pid)] = int(stat[1])
        return {pid: argv for pid, argv in found.items() if parent[pid] not in found}

    def stop_containers(self):
        """Stop the sidecars of this stack (SIGTERM: they drain)."""
        for pid in self.sidecars():
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass

    def start(self, daemon=False):
        self.start_redis(daemon)
        self.provision()
        self.start_pool_manager()
        self.start_nginx(daemon)
        self.install_catalog()
        return self

    def stop(self):
        """Stop nginx (graceful) then Redis; children are reaped, daemons polled."""
        pids = {p.pid: p for p in self.procs}
        # standbys before the leader: a leader stopping first would hand the
        # lead to a standby, which would then start its stemcells
        pools = [(self.pool_pidfile(i), signal.SIGTERM)
                 for i in reversed(range(len(self.pool_ports)))]
        for pidfile, sig in ([(self.path("nginx", "nginx.pid"), signal.SIGQUIT)] + pools +
                             [(self.path("redis", "redis.pid"), signal.SIGTERM)]):
            if pidfile.endswith("redis.pid"):
                self.stop_containers()
            pid = self._signal_pidfile(pidfile, sig)
            if pid in pids:
                self._wait_child(pids.pop(pid))
            elif pid is not None:
                self._wait_pid(pid)
        for p in pids.values():
            if p.poll() is None:
                p.terminate()
            self._wait_child(p)
        self.procs = []

    @staticmethod
    def _wait_child(p):
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def _signal_pidfile(self, pidfile, sig):
        try:
            with open(pidfile) as f:
                pid = int(f.read().strip())
            os.kill(pid, sig)
            return pid
        except (OSError, ValueError):
            return None

    @staticmethod
    def _wait_pid(pid):
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.05)
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass

    def error_log_problems(self):
        """Lines of the nginx error log that mean a worker misbehaved."""
        try:
            # clients' bytes (request lines, headers) end up in the log
            with open(self.error_log, errors="replace") as f:
                lines = f.readlines()
        except OSError:
            return []
        bad = ("[alert]", "[crit]", "[emerg]", "exited on signal", "open socket")
        return [l for l in lines if any(b in l for b in bad)]


@contextlib.contextmanager
def gateway_replica(stack, home, stack_class=None, **kwargs):
    """Another gateway replica: its own nginx (and so its own warm table, fed by the same
    events) on stack's Redis and pool-manager, with stack's secrets, in home. On leaving, its
    nginx stops and its error log must be clean."""
    let_workers_in(home)
    shutil.copytree(stack.path("secrets"), os.path.join(home, "secrets"))
    replica = (stack_class or Stack)(home, port=0, redis_port=stack.redis_port,
                                     pool_port=stack.pool_port, **kwargs)
    replica.start_nginx()
    try:
        yield replica
    finally:
        problems = replica.error_log_problems()
        replica._signal_pidfile(replica.path("nginx", "nginx.pid"), signal.SIGQUIT)
        for p in replica.procs:
            replica._wait_child(p)
    assert problems == [], "the replica's nginx error log:\n" + "".join(problems)

def banner(stack):
    return "\n".join([
        "owx is running on %s (Redis %s, state in %s)" % (stack.url, stack.redis_addr, stack.home),
        "point wsk at it:",
        "  wsk property set --apihost %s --auth %s" % (stack.url, admin.GUEST_KEY),
        "admin tool:",
        "  bin/ow-admin --redis %s --redis-credentials %s user list" % (
            stack.redis_addr, stack.secret("redis-admin")),
    ])


def from_env():
    return Stack(os.environ.get("OWX_HOME", os.path.join(ROOT, ".owx")),
                 port=int(os.environ.get("OWX_PORT", "3233")),
                 redis_port=int(os.environ.get("OWX_REDIS_PORT", "3234")),
                 pool_port=int(os.environ.get("OWX_POOL_PORT", "3235")),
                 pool_replicas=int(os.environ.get("OWX_POOL_REPLICAS", "1")))


def main(argv):
    cmd = argv[0] if argv else "run"
    stack = from_env()
    if cmd == "run":
        stopping = []

        def stop(signum, frame):
            stopping.append(signum)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            stack.start(daemon=False)
            print(banner(stack), flush=True)
            print("Ctrl-C stops it.", flush=True)
            while not stopping and all(p.poll() is None for p in stack.procs):
                time.sleep(0.5)
        finally:
            stack.stop()
        return 0
    if cmd == "up":
        stack.start(daemon=True)
        print(banner(stack))
        return 0
    if cmd == "down":
        stack.stop()
        print("owx stopped")
        return 0
    print("usage: owx run|up|down", file=sys.stderr)
    return 2
