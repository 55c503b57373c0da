"""test_dashboard.py: helm/owx/files/grafana-dashboard.json is a Grafana dashboard whose
panels query metric families that the components really export (names taken from the
sources that write them: the gateway's modules/engine/ow_metrics.c, the sidecar's
sidecar/sidecar_metrics.cc, the pool-manager's pool-manager/pm_metrics.cc)."""

import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = ["modules/engine/ow_metrics.c", "sidecar/sidecar_metrics.cc", "pool-manager/pm_metrics.cc"]
NAME = re.compile(r"\b((?:owx|openwhisk)_[A-Za-z0-9_]+)")


def exported():
    names = set()
    for s in SOURCES:
        with open(os.path.join(ROOT, s)) as f:
            names |= set(re.findall(r'"((?:owx|openwhisk)_[A-Za-z0-9_]+)', f.read()))
    return names


def family(sample_name, names):
    """A histogram's series (_bucket/_sum/_count) belong to the family."""
    for suffix in ("_bucket", "_sum", "_count"):
        if sample_name.endswith(suffix) and sample_name[:-len(suffix)] in names:
            return sample_name[:-len(suffix)]
    return sample_name


def test_dashboard_queries_exported_metrics():
    with open(os.path.join(ROOT, "helm/owx/files/grafana-dashboard.json")) as f:
        dash = json.load(f)
    names = exported()
    assert {"owx_sidecar_run_seconds", "owx_pool_manager_containers",
            "openwhisk_action_status"} <= names
    ids, used = set(), set()
    assert len(dash["panels"]) >= 10
    for p in dash["panels"]:
        assert p["id"] not in ids
        ids.add(p["id"])
        assert p["title"] and p["targets"], p
        g = p["gridPos"]
        assert g["w"] + g["x"] <= 24 and g["h"] > 0
        for t in p["targets"]:
            found = NAME.findall(t["expr"])
            assert found, t["expr"]
            for n in found:
                assert family(n, names) in names, "%s (panel %r) is not exported" % (n, p["title"])
                used.add(family(n, names))
    titles = " ".join(p["title"] for p in dash["panels"]).lower()
    for topic in ("status", "cold", "waittime", "inittime", "duration", "429", "pool by state",
                  "node fill"):
        assert topic in titles, topic
    # the families the issue names are all on the dashboard
    assert {"openwhisk_action_coldStarts_total", "owx_sidecar_wait_seconds",
            "owx_sidecar_init_seconds", "owx_sidecar_throttled_total",
            "owx_pool_manager_node_memory_mb"} <= used
