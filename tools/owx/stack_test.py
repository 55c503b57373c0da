"""stack_test.py: nginx's environment (make test-asan: OWX_SANITIZE)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from owx import stack  # noqa: E402


def test_nginx_env_plain(monkeypatch):
    monkeypatch.delenv("OWX_SANITIZE", raising=False)
    assert stack.nginx_env() is None  # nginx gets ours, untouched


def test_nginx_env_sanitized(monkeypatch, tmp_path):
    monkeypatch.setenv("OWX_SANITIZE", str(tmp_path))
    monkeypatch.setenv("LD_PRELOAD", "/lib/other.so")
    env = stack.nginx_env()
    libs = env["LD_PRELOAD"].split()
    # the ASan runtime first (it must be the process's first library), then the others; not
    # libubsan: the module's UBSan hooks must come before libubsan's defaults
    assert os.path.basename(libs[0]).startswith("libasan.so") and os.path.exists(libs[0])
    assert libs[1:] == ["/lib/other.so"]
    asan = dict(o.split("=", 1) for o in env["ASAN_OPTIONS"].split(":"))
    assert asan["log_path"] == str(tmp_path / "nginx")
    assert asan["detect_leaks"] == "0" and asan["halt_on_error"] == "1"
    assert asan["abort_on_error"] == "1"
    assert env["PATH"] == os.environ["PATH"]
