// kube_client_test.cc: the rate limiter, retries, watch parsing (bookmarks,
// 410 relist, bounded lines), time formats, and that every request the
// Kubernetes backend and lease make is one kube_api_calls.json lists.
#include "pool-manager/backends/kube/kube_client.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "pool-manager/backends/kube/kube_backend.h"
#include "pool-manager/backends/kube/kube_fake_test.h"
#include "pool-manager/leadership/kube_lease.h"

namespace ow::pm::test {
namespace {

TEST(TokenBucket, BurstThenQps) {
    TokenBucket b(10, 2);  // 10/s: a token every 100 ms
    EXPECT_EQ(b.reserve(1000), 0);
    EXPECT_EQ(b.reserve(1000), 0);
    EXPECT_EQ(b.reserve(1000), 100);  // reserved ahead, in order
    EXPECT_EQ(b.reserve(1000), 200);
    // 1 s later the debt (2) is paid and the bucket is full again (max 2)
    EXPECT_EQ(b.reserve(2000), 0);
    EXPECT_EQ(b.reserve(2000), 0);
    EXPECT_EQ(b.reserve(2000), 100);
}

TEST(TokenBucket, ZeroQpsIsUnlimited) {
    TokenBucket b(0, 1);
    for (int i = 0; i < 100; i++) EXPECT_EQ(b.reserve(0), 0);
}

TEST(KubeClient, RetriesTooManyRequestsAfterRetryAfterAndServerErrors) {
    boost::asio::io_context io;
    auto fake = std::make_shared<FakeKube>();
    int n = 0;
    fake->set_handler([&n](const KubeRequest &) {
        n++;
        if (n == 1) {
            KubeResponse r = answer(429, "{}");
            r.retry_after_ms = 0;
            return r;
        }
        if (n == 2) return answer(503, "{}");
        return answer(200, R"({"ok":true})");
    });
    KubeClientOptions o;
    o.backoff_ms = 10;
    KubeClient c(io_post(io), fake, o);
    KubeResponse got;
    bool done = false;
    c.call({"GET", "/api/v1/nodes/a", "", "", 0}, [&](const KubeResponse &r) {
        got = r;
        done = true;
    });
    ASSERT_TRUE(run_until(io, [&] { return done; }));
    EXPECT_EQ(got.status, 200);
    EXPECT_EQ(fake->requests().size(), 3u);
}

TEST(KubeClient, DoesNotRetryClientErrorsAndStopsAtTheDeadline) {
    boost::asio::io_context io;
    auto fake = std::make_shared<FakeKube>();
    fake->set_handler([](const KubeRequest &req) {
        return req.path == "/missing" ? answer(404, "{}") : answer(500, "{}");
    });
    KubeClientOptions o;
    o.backoff_ms = 40;
    o.timeout_ms = 100;
    KubeClient c(io_post(io), fake, o);
    int s404 = -1, s500 = -1;
    c.call({"GET", "/missing", "", "", 0}, [&](const KubeResponse &r) { s404 = r.status; });
    ASSERT_TRUE(run_until(io, [&] { return s404 != -1; }));
    EXPECT_EQ(s404, 404);
    EXPECT_EQ(fake->requests().size(), 1u);
    auto t0 = std::chrono::steady_clock::now();
    c.call({"GET", "/flaky", "", "", 0}, [&](const KubeResponse &r) { s500 = r.status; });
    ASSERT_TRUE(run_until(io, [&] { return s500 != -1; }));
    EXPECT_EQ(s500, 500);  // the last answer once the deadline is near
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1000));
    EXPECT_LE(fake->requests().size(), 4u);
}

TEST(KubeClient, RateLimitSpacesCalls) {
    boost::asio::io_context io;
    auto fake = std::make_shared<FakeKube>();
    fake->set_handler([](const KubeRequest &) { return answer(200, "{}"); });
    KubeClientOptions o;
    o.qps = 20;  // one per 50 ms after the burst
    o.burst = 1;
    o.workers = 1;
    KubeClient c(io_post(io), fake, o);
    int done = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 5; i++) c.call({"GET", "/x", "", "", 0}, [&](const KubeResponse &) { done++; });
    ASSERT_TRUE(run_until(io, [&] { return done == 5; }));
    // 1 at once + 4 × 50 ms
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(190));
}

TEST(KubeClient, FullQueueFailsAtOnce) {
    boost::asio::io_context io;
    auto fake = std::make_shared<FakeKube>();
    std::mutex gate;
    gate.lock();
    fake->set_handler([&gate](const KubeRequest &) {
        std::lock_guard<std::mutex> g(gate);
        return answer(200, "{}");
    });
    KubeClientOptions o;
    o.workers = 1;
    o.max_queue = 1;
    KubeClient c(io_post(io), fake, o);
    std::vector<int> st;
    c.call({"GET", "/a", "", "", 0}, [&](const KubeResponse &r) { st.push_back(r.status); });
    ASSERT_TRUE(fake->wait_requests([](const auto &rs) { return rs.size() == 1; }));
    c.call({"GET", "/b", "", "", 0}, [&](const KubeResponse &r) { st.push_back(r.status); });
    c.call({"GET", "/c", "", "", 0}, [&](const KubeResponse &r) { st.push_back(r.status); });
    ASSERT_TRUE(run_until(io, [&] { return st.size() == 1; }));
    EXPECT_EQ(st[0], 0);  // the third: no room
    gate.unlock();
    ASSERT_TRUE(run_until(io, [&] { return st.size() == 3; }));
    EXPECT_EQ(st[1], 200);
    EXPECT_EQ(st[2], 200);
}

TEST(KubeWatch, TakeLinesKeepsPartialAndBoundsLength) {
    std::string buf = "{\"a\":1}\n{\"b\":2}\r\n{\"c\"";
    std::vector<std::string> got;
    EXPECT_TRUE(KubeWatch::take_lines(&buf, 100, [&](const std::string &l) {
        got.push_back(l);
        return true;
    }));
    EXPECT_EQ(got, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"}));
    EXPECT_EQ(buf, "{\"c\"");
    buf += std::string(200, 'x');
    EXPECT_FALSE(KubeWatch::take_lines(&buf, 100, [](const std::string &) { return true; }));
}

std::string query_value(const std::string &q, const std::string &key) {
    std::istringstream in(q);
    std::string kv;
    while (std::getline(in, kv, '&')) {
        if (kv.rfind(key + "=", 0) == 0) return kv.substr(key.size() + 1);
    }
    return "";
}

TEST(KubeWatch, ListsWatchesFollowsBookmarksAndRelistsOnGone) {
    boost::asio::io_context io;
    auto fake = std::make_shared<FakeKube>();
    int lists = 0;
    fake->set_handler([&lists](const KubeRequest &req) {
        EXPECT_EQ(req.verb, "GET");
        EXPECT_EQ(query_value(req.query, "watch"), "");
        lists++;
        std::string rv = lists == 1 ? "10" : "20";
        return answer(200, R"({"kind":"PodList","metadata":{"resourceVersion":")" + rv +
                               R"("},"items":[{"metadata":{"name":"p)" + std::to_string(lists) +
                               R"(","resourceVersion":"9"}}]})");
    });
    // 1st watch: an event split across chunks, a bookmark, then the stream
    // ends (timeoutSeconds); 2nd: resumes from the bookmark, gets 410 as an
    // ERROR event; then a relist and a 3rd watch from the list's version.
    fake->push_stream({200,
                       {R"({"type":"ADDED","object":{"metadata":{"name":"q","resourceVersion":"11"}}})"
                        "\n{\"type\":\"BOOK",
                        R"(MARK","object":{"kind":"Pod","metadata":{"resourceVersion":"15"}}})"
                        "\n"},
                       ""});
    fake->push_stream({200,
                       {R"({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired"}})"
                        "\n"},
                       ""});
    std::vector<std::string> seen;
    KubeClient c(io_post(io), fake, {});
    KubeWatch::Handlers h;
    h.on_list = [&](std::vector<nlohmann::json> items) {
        seen.push_back("list:" + items.at(0)["metadata"]["name"].get<std::string>());
    };
    h.on_event = [&](const std::string &type, nlohmann::json obj) {
        seen.push_back(type + ":" + obj["metadata"]["name"].get<std::string>());
    };
    KubeWatch w(c, "/api/v1/namespaces/ns/pods", kManagedBy, h, {});
    w.start();
    ASSERT_TRUE(fake->wait_requests([](const auto &rs) { return rs.size() >= 5; }));
    ASSERT_TRUE(run_until(io, [&] { return seen.size() >= 3; }));
    EXPECT_EQ(seen, (std::vector<std::string>{"list:p1", "ADDED:q", "list:p2"}));
    auto rs = fake->requests();
    // list, watch@10, watch@15 (bookmark), list, watch@20
    EXPECT_EQ(query_value(rs[0].query, "labelSelector"),
              "app.kubernetes.io%2Fmanaged-by%3Dowx-pool-manager");
    EXPECT_EQ(query_value(rs[1].query, "watch"), "1");
    EXPECT_EQ(query_value(rs[1].query, "resourceVersion"), "10");
    EXPECT_EQ(query_value(rs[1].query, "allowWatchBookmarks"), "true");
    EXPECT_EQ(query_value(rs[1].query, "timeoutSeconds"), "300");
    EXPECT_EQ(query_value(rs[2].query, "resourceVersion"), "15");
    EXPECT_EQ(query_value(rs[3].query, "watch"), "");
    EXPECT_EQ(query_value(rs[4].query, "resourceVersion"), "20");
    EXPECT_EQ(w.lists(), 2);
}

TEST(KubeWatch, GoneStatusAndOverlongLineRelist) {
    boost::asio::io_context io;
    auto fake = std::make_shared<FakeKube>();
    fake->set_handler([](const KubeRequest &) {
        return answer(200, R"({"metadata":{"resourceVersion":"5"},"items":[]})");
    });
    fake->push_stream({410, {}, R"({"kind":"Status","code":410})"});
    fake->push_stream({200, {std::string(100, 'x')}, ""});
    KubeClient c(io_post(io), fake, {});
    WatchOptions wo;
    wo.max_line = 50;
    KubeWatch w(c, "/api/v1/nodes", "", {}, wo);
    w.start();
    ASSERT_TRUE(fake->wait_requests([](const auto &rs) { return rs.size() >= 6; }));
    EXPECT_EQ(w.lists(), 3);
}

TEST(KubeTime, MicroTimeRoundTrip) {
    EXPECT_EQ(micro_time(1795820356123456LL), "2026-11-27T22:59:16.123456Z");
    int64_t us = 0;
    ASSERT_TRUE(parse_micro_time("2026-11-27T22:59:16.123456Z", &us));
    EXPECT_EQ(us, 1795820356123456LL);
    ASSERT_TRUE(parse_micro_time("2026-11-27T23:59:16+01:00", &us));
    EXPECT_EQ(us, 1795820356000000LL);
    EXPECT_FALSE(parse_micro_time("2026-11-27 22:59:16", &us));
}

// --- every call is one kube_api_calls.json lists ----------------------

struct Call {
    std::string group, resource, verb;
    bool namespaced;
};

// Maps a request to its RBAC terms, as the API server's authorizer does.
bool rbac_of(const KubeRequest &r, Call *c) {
    std::vector<std::string> seg;
    std::istringstream in(r.path);
    std::string s;
    while (std::getline(in, s, '/')) {
        if (!s.empty()) seg.push_back(s);
    }
    size_t i;
    if (seg.size() >= 2 && seg[0] == "api" && seg[1] == "v1") {
        c->group = "";
        i = 2;
    } else if (seg.size() >= 3 && seg[0] == "apis") {
        c->group = seg[1];
        i = 3;
    } else {
        return false;
    }
    c->namespaced = seg.size() > i + 1 && seg[i] == "namespaces";
    if (c->namespaced) i += 2;
    if (seg.size() <= i) return false;
    c->resource = seg[i];
    bool named = seg.size() == i + 2;
    if (seg.size() > i + 2) return false;  // subresources: none used
    bool watch = query_value(r.query, "watch") == "1";
    if (r.verb == "GET") c->verb = named ? "get" : watch ? "watch" : "list";
    else if (r.verb == "POST" && !named) c->verb = "create";
    else if (r.verb == "PUT" && named) c->verb = "update";
    else if (r.verb == "PATCH" && named) c->verb = "patch";
    else if (r.verb == "DELETE") c->verb = named ? "delete" : "deletecollection";
    else return false;
    return true;
}

TEST(KubeApiCalls, EveryRequestIsListed) {
    std::ifstream f(OWX_KUBE_API_CALLS);
    ASSERT_TRUE(f.good()) << OWX_KUBE_API_CALLS;
    nlohmann::json allowed = nlohmann::json::parse(f);
    std::set<std::string> ok;
    for (const char *scope : {"namespaced", "cluster"}) {
        for (const auto &rule : allowed[scope]) {
            for (const auto &v : rule["verbs"]) {
                ok.insert(std::string(scope) + " " + rule["apiGroup"].get<std::string>() + " " +
                          rule["resource"].get<std::string>() + " " + v.get<std::string>());
            }
        }
    }

    // Drive the backend and the lease through their paths: start, ready,
    // init failure, stop, watch of pods and nodes, lease create/renew.
    boost::asio::io_context io;
    auto fake = std::make_shared<FakeKube>();
    fake->set_handler([](const KubeRequest &req) {
        if (req.verb == "GET" && req.path.find("/leases/") != std::string::npos) {
            return answer(200, R"({"metadata":{"name":"l","resourceVersion":"1"},
                "spec":{"holderIdentity":"me","leaseTransitions":0,"leaseDurationSeconds":15}})");
        }
        if (req.verb == "GET") return answer(200, R"({"metadata":{"resourceVersion":"1"},"items":[]})");
        if (req.verb == "POST") return answer(201, "{}");
        return answer(200, "{}");
    });
    KubeClient client(io_post(io), fake, {});
    KubeBackendOptions bo;
    bo.ns = "owx";
    bo.images["nodejs:20"] = {"owx/runtime-nodejs:20", {"node", "proxy.js", "--port", "8080"}};
    bo.sidecar_image = "owx/sidecar:1";
    KubeBackend be(io, client, bo);
    be.begin();
    ContainerSpec spec;
    spec.id = "abc";
    spec.kind = "nodejs:20";
    spec.action = "guest/hello";
    bool started = false;
    be.start(spec, [&](const StartResult &) { started = true; });
    be.stop("abc", 5000);
    KubeLeaseOptions lo;
    lo.ns = "owx";
    lo.identity = "me";
    KubeLeaseElector el(io, client, lo);
    el.start([](const Leadership &) {});
    ASSERT_TRUE(run_until(io, [&] { return el.current().leading; }));
    ASSERT_TRUE(fake->wait_requests([](const auto &rs) {
        int lists = 0;
        for (const auto &r : rs) lists += r.verb == "GET" && r.path.find("leases") == std::string::npos;
        return lists >= 4;  // pods list + watch, nodes list + watch
    }));
    auto rs = fake->requests();
    std::set<std::string> kinds;
    for (const auto &r : rs) {
        Call c;
        ASSERT_TRUE(rbac_of(r, &c)) << r.verb << " " << r.path;
        std::string key = std::string(c.namespaced ? "namespaced" : "cluster") + " " + c.group +
                          " " + c.resource + " " + c.verb;
        EXPECT_TRUE(ok.count(key)) << "not in kube_api_calls.json: " << key << " (" << r.verb << " "
                                   << r.path << ")";
        kinds.insert(key);
        if (!r.body.empty()) {
            EXPECT_FALSE(nlohmann::json::parse(r.body, nullptr, false).is_discarded());
        }
    }
    // the scenario did reach each kind of call
    EXPECT_TRUE(kinds.count("namespaced  pods create"));
    EXPECT_TRUE(kinds.count("namespaced  pods delete"));
    EXPECT_TRUE(kinds.count("namespaced coordination.k8s.io leases get"));
    EXPECT_TRUE(kinds.count("namespaced coordination.k8s.io leases update"));
    (void)started;
}

}  // namespace
}  // namespace ow::pm::test
