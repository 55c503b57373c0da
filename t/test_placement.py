"""test_placement.py: black-box tests of placement on the local backend's
virtual nodes (--nodes, --placement): where the real ow-pool-manager puts
containers, what the warm table and GET /v1/containers say about it, and the
503 when no node has room. Stacks come from test_pool_manager.py (a real
redis-server and pool-manager on free ports, fake sidecars)."""

import subprocess

import pytest

from test_pool_manager import POOL_MANAGER, make_stack

# Actions of make_stack are 256 MB. "small" holds one, "big" two.
NODES = "small:cpu=1000,mem=300;big:cpu=4000,mem=700"


@pytest.fixture
def placed(tmp_path_factory, request):
    s = make_stack(tmp_path_factory, pm_args=["--nodes", NODES] + list(request.param))
    try:
        s.start_pm()
        yield s
    finally:
        s.stop()


def node_of(stack, resp):
    assert resp.status_code == 200, resp.text
    cid = resp.json()["containers"][0]["id"]
    entry = stack.warm()[cid]
    listed = [c for c in stack.containers() if c["id"] == cid][0]
    assert listed["node"] == entry["node"]
    return entry["node"]


@pytest.mark.parametrize("placed", [()], indirect=True)
def test_packing_fills_nodes_and_records_them(placed):
    s = placed
    # most-allocated (default): the node fullest after placement.
    assert node_of(s, s.capacity("guest/hello")) == "small"
    assert node_of(s, s.capacity("guest/slowstart")) == "big"
    assert node_of(s, s.capacity("guest/victim")) == "big"
    r = s.capacity("guest/scaler")
    assert r.status_code == 503
    assert set(r.json()) == {"error", "code"}
    assert "no node has room" in r.json()["error"]
    assert not [c for c in s.containers() if c["action"] == "guest/scaler"]


@pytest.mark.parametrize("placed", [("--placement", "least-allocated")], indirect=True)
def test_spreading_uses_the_emptiest_node(placed):
    s = placed
    # by fraction used after placement: big 37 % < small 85 %; big 73 % <
    # small 85 %; then only small has room
    assert node_of(s, s.capacity("guest/hello")) == "big"
    assert node_of(s, s.capacity("guest/slowstart")) == "big"
    assert node_of(s, s.capacity("guest/victim")) == "small"


@pytest.mark.parametrize("args,message", [
    (["--nodes", "a:disk=5"], "unknown resource 'disk'"),
    (["--nodes", "a:mem=1;a:mem=2"], "listed twice"),
    (["--placement", "first-fit"], "--placement"),
])
def test_bad_placement_options_exit_2(tmp_path, args, message):
    assert POOL_MANAGER, "ow-pool-manager is not built"
    p = subprocess.run([POOL_MANAGER, "--sidecar", "/bin/true", "--runtimes", str(tmp_path / "r.json"),
                        "--listen", "127.0.0.1:1"] + args,
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2
    assert message in p.stderr
