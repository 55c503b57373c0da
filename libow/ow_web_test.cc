// The C API of ow_web.h, as the gateway's compose driver uses it.
#include "libow/ow_web.h"

#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using nlohmann::json;

namespace {

struct Req {
    std::string method = "GET", uri, body, user, tid = "tid1";
    std::vector<std::pair<std::string, std::string>> headers;
};

// ow_web_prepare over Req and facts; the caller frees
ow_web_t *prepare(const Req &q, const std::string &facts) {
    std::vector<ow_web_header_t> h;
    for (const auto &kv : q.headers)
        h.push_back({kv.first.data(), kv.first.size(), kv.second.data(), kv.second.size()});
    ow_web_request_t r;
    std::memset(&r, 0, sizeof(r));
    r.method = q.method.data();
    r.method_len = q.method.size();
    r.uri = q.uri.data();
    r.uri_len = q.uri.size();
    r.headers = h.data();
    r.nheaders = h.size();
    r.body = q.body.data();
    r.body_len = q.body.size();
    r.user = q.user.empty() ? nullptr : q.user.data();
    r.user_len = q.user.size();
    r.tid = q.tid.data();
    r.tid_len = q.tid.size();
    // the request's memory is the caller's: prepare must copy what it keeps
    return ow_web_prepare(&r, facts.data(), facts.size());
}

struct Resp {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string hdr(const std::string &name) const {
        for (const auto &kv : headers)
            if (kv.first == name) return kv.second;
        return "<none>";
    }
    json error() const { return json::parse(body, nullptr, false); }
};

Resp response(const ow_web_t *w) {
    ow_web_response_t out;
    ow_web_response(w, &out);
    Resp r;
    r.status = out.status;
    for (size_t i = 0; i < out.nheaders; i++)
        r.headers.emplace_back(std::string(out.headers[i].name, out.headers[i].name_len),
                               std::string(out.headers[i].value, out.headers[i].value_len));
    r.body.assign(out.body ? out.body : "", out.body_len);
    return r;
}

json arguments(const ow_web_t *w) {
    size_t len = 0;
    const char *p = ow_web_arguments(w, &len);
    return json::parse(std::string(p, len));
}

void finish(ow_web_t *w, int code, const std::string &result) {
    ow_web_finish(w, code, result.data(), result.size());
}

const char kExported[] =
    R"({"annotations":[{"key":"web-export","value":true}],"parameters":[]})";

Req get(const std::string &uri) {
    Req q;
    q.uri = uri;
    return q;
}

}  // namespace

TEST(OwWeb, RunsAndShapesJson) {
    Req q = get("/api/v1/web/guest/pkg/seq.json/out?x=1");
    q.headers = {{"Accept", "*/*"}, {"Content-Type", "application/json"}};
    q.method = "POST";
    q.body = R"({"b":true})";
    q.user = "alice";
    std::string facts = R"({"annotations":[{"key":"web-export","value":true}],
        "parameters":[{"key":"p","value":1},{"key":"p","value":2},
                      {"key":"i","value":"s","init":true}]})";
    ow_web_t *w = prepare(q, facts);
    ASSERT_NE(w, nullptr);
    ASSERT_EQ(ow_web_runs(w), 1);
    json a = arguments(w);
    // the parameters are merged where the action runs, not sent along
    EXPECT_FALSE(a.contains("p"));
    EXPECT_FALSE(a.contains("i"));
    EXPECT_EQ(a["x"], "1");
    EXPECT_EQ(a["b"], true);
    EXPECT_EQ(a["__ow_method"], "post");
    EXPECT_EQ(a["__ow_path"], "/out");
    EXPECT_EQ(a["__ow_user"], "alice");
    EXPECT_EQ(a["__ow_headers"]["accept"], "*/*");

    finish(w, 0, R"({"out":{"v":[1,2]},"other":3})");
    Resp r = response(w);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(json::parse(r.body), json({{"v", {1, 2}}}));
    EXPECT_EQ(r.hdr("Content-Type"), "application/json");
    EXPECT_EQ(r.hdr("Access-Control-Allow-Origin"), "*");
    EXPECT_EQ(r.headers.front().first, "Access-Control-Allow-Origin");   // CORS first

    // a projection that finds nothing
    finish(w, 0, R"({"other":3})");
    r = response(w);
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(r.error(), json({{"error", "Response does not include requested property."},
                               {"code", "tid1"}}));
    ow_web_free(w);
}

TEST(OwWeb, JsonResultNotAnObject) {
    ow_web_t *w = prepare(get("/api/v1/web/guest/default/s.json"), kExported);
    ASSERT_NE(w, nullptr);
    ASSERT_EQ(ow_web_runs(w), 1);
    finish(w, 0, R"("just a string")");
    Resp r = response(w);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.error()["error"], "Response is not valid 'application/json'.");
    EXPECT_EQ(r.hdr("Content-Type"), "application/json");
    ow_web_free(w);
}

// the bridge runs in an nginx worker: a deep body is refused, a deep result
// falls back to the bridge's error; neither may overflow the stack
TEST(OwWeb, DeepBodyAndResult) {
    Req q = get("/api/v1/web/guest/default/s.json");
    q.method = "POST";
    q.headers = {{"Content-Type", "application/json"}};
    q.body = "{\"a\":" + std::string(100000, '[');
    ow_web_t *w = prepare(q, kExported);
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(ow_web_runs(w), 0);
    Resp r = response(w);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.error()["code"], "tid1");
    ow_web_free(w);

    w = prepare(get("/api/v1/web/guest/default/s.json"), kExported);
    ASSERT_NE(w, nullptr);
    ASSERT_EQ(ow_web_runs(w), 1);
    finish(w, 0, std::string(100000, '[') + std::string(100000, ']'));
    EXPECT_EQ(response(w).status, 500);
    ow_web_free(w);
}

TEST(OwWeb, HttpResult) {
    ow_web_t *w = prepare(get("/api/v1/web/guest/default/s.http"), kExported);
    ASSERT_NE(w, nullptr);
    ASSERT_EQ(ow_web_runs(w), 1);
    finish(w, 0, R"({"statusCode":201,"headers":{"X-A":"1","Content-Type":"text/plain"},
                     "body":"made"})");
    Resp r = response(w);
    EXPECT_EQ(r.status, 201);
    EXPECT_EQ(r.body, "made");
    EXPECT_EQ(r.hdr("X-A"), "1");
    EXPECT_EQ(r.hdr("Content-Type"), "text/plain; charset=UTF-8");
    EXPECT_EQ(r.hdr("Access-Control-Allow-Methods"),
              "OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH");

    // no extension is .http too; an application error answers its "error"
    finish(w, 1, R"({"error":{"statusCode":418,"body":"teapot"}})");
    r = response(w);
    EXPECT_EQ(r.status, 418);
    EXPECT_EQ(r.body, "teapot");

    // a developer error
    finish(w, 2, R"({"error":"boom"})");
    r = response(w);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.error()["error"], "There was an error processing your request.");

    finish(w, 0, R"({"statusCode":"abc"})");
    r = response(w);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.error()["error"], "Response is not valid 'message/http'.");
    ow_web_free(w);
}

TEST(OwWeb, NotExported) {
    const char *facts[] = {
        R"({"annotations":[],"parameters":[]})",
        R"({"annotations":[{"key":"web-export","value":"true"}]})",   // only true counts
        "{not json",   // malformed facts: as if not exported
        "[]",
        "",
    };
    for (const char *f : facts) {
        ow_web_t *w = prepare(get("/api/v1/web/guest/default/s.json"), f);
        ASSERT_NE(w, nullptr) << f;
        EXPECT_EQ(ow_web_runs(w), 0) << f;
        Resp r = response(w);
        EXPECT_EQ(r.status, 404) << f;
        EXPECT_EQ(r.error(), json({{"error", "The requested resource does not exist."},
                                   {"code", "tid1"}})) << f;
        EXPECT_EQ(r.hdr("Access-Control-Allow-Origin"), "<none>") << f;
        EXPECT_EQ(arguments(w), json::object()) << f;
        ow_web_free(w);
    }
    // NULL facts and a URI that names no action
    Req q = get("/api/v1/web/guest/default");
    ow_web_t *w = ow_web_prepare(nullptr, nullptr, 0);
    EXPECT_EQ(w, nullptr);
    w = prepare(q, kExported);
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(ow_web_runs(w), 0);
    EXPECT_EQ(response(w).status, 404);
    ow_web_free(w);
}

TEST(OwWeb, OptionsAndCustomOptions) {
    Req q = get("/api/v1/web/guest/default/s");
    q.method = "OPTIONS";
    q.headers = {{"Access-Control-Request-Headers", "X-Mine"}};
    ow_web_t *w = prepare(q, kExported);
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(ow_web_runs(w), 0);
    Resp r = response(w);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "");
    EXPECT_EQ(r.hdr("Access-Control-Allow-Origin"), "*");
    EXPECT_EQ(r.hdr("Access-Control-Allow-Headers"), "X-Mine");
    EXPECT_EQ(r.headers.size(), 3u);
    ow_web_free(w);

    // web-custom-options: the action answers, and no CORS is added
    const char custom[] = R"({"annotations":[{"key":"web-export","value":true},
        {"key":"web-custom-options","value":true}]})";
    w = prepare(q, custom);
    ASSERT_NE(w, nullptr);
    ASSERT_EQ(ow_web_runs(w), 1);
    EXPECT_EQ(arguments(w)["__ow_method"], "options");
    finish(w, 0, R"({"headers":{"Allow":"GET"},"statusCode":200})");
    r = response(w);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.hdr("Allow"), "GET");
    EXPECT_EQ(r.hdr("Access-Control-Allow-Origin"), "<none>");
    ow_web_fail(w, 502, "upstream gone");
    r = response(w);
    EXPECT_EQ(r.status, 502);
    EXPECT_EQ(r.hdr("Access-Control-Allow-Origin"), "<none>");
    ow_web_free(w);
}

TEST(OwWeb, RequireWhiskAuth) {
    const char user[] = R"({"annotations":[{"key":"web-export","value":true},
        {"key":"require-whisk-auth","value":true}]})";
    const char secret[] = R"({"annotations":[{"key":"web-export","value":true},
        {"key":"require-whisk-auth","value":"s3cret"}]})";
    const char *msg = "Authentication is possible but has failed or not yet been provided.";
    Req q = get("/api/v1/web/guest/default/s.json");
    ow_web_t *w = prepare(q, user);
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(ow_web_runs(w), 0);
    Resp r = response(w);
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.error(), json({{"error", msg}, {"code", "tid1"}}));
    EXPECT_EQ(r.hdr("Access-Control-Allow-Origin"), "*");
    ow_web_free(w);

    q.user = "guest";
    w = prepare(q, user);
    EXPECT_EQ(ow_web_runs(w), 1);
    ow_web_free(w);

    q.user.clear();
    q.headers = {{"X-Require-Whisk-Auth", "wrong"}};
    w = prepare(q, secret);
    EXPECT_EQ(ow_web_runs(w), 0);
    EXPECT_EQ(response(w).status, 401);
    ow_web_free(w);
    q.headers = {{"X-Require-Whisk-Auth", "s3cret"}};
    w = prepare(q, secret);
    EXPECT_EQ(ow_web_runs(w), 1);
    ow_web_free(w);
}

TEST(OwWeb, FinalAndReservedOverride) {
    const char fin[] = R"({"annotations":[{"key":"web-export","value":true},
        {"key":"final","value":true}],"parameters":[{"key":"p","value":1}]})";
    const char *msg = "Request defines parameters that are not allowed (e.g., reserved properties).";
    ow_web_t *w = prepare(get("/api/v1/web/guest/default/s.json?p=2"), fin);
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(ow_web_runs(w), 0);
    Resp r = response(w);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.error()["error"], msg);
    ow_web_free(w);

    // not final: the query overrides the parameter (where it runs)
    w = prepare(get("/api/v1/web/guest/default/s.json?p=2"),
                R"({"annotations":[{"key":"web-export","value":true}],
                    "parameters":[{"key":"p","value":1}]})");
    ASSERT_EQ(ow_web_runs(w), 1);
    EXPECT_EQ(arguments(w)["p"], "2");
    ow_web_free(w);
    // final, and the request does not touch it: runs, without it
    w = prepare(get("/api/v1/web/guest/default/s.json?q=2"), fin);
    ASSERT_EQ(ow_web_runs(w), 1);
    EXPECT_EQ(arguments(w), json({{"q", "2"}, {"__ow_method", "get"},
                                  {"__ow_headers", json::object()}, {"__ow_path", ""}}));
    ow_web_free(w);

    w = prepare(get("/api/v1/web/guest/default/s.json?__ow_user=x"), kExported);
    EXPECT_EQ(ow_web_runs(w), 0);
    EXPECT_EQ(response(w).error()["error"], msg);
    ow_web_free(w);

    Req q = get("/api/v1/web/guest/default/s.json");
    q.method = "POST";
    q.headers = {{"Content-Type", "application/json"}};
    q.body = "{oops";
    w = prepare(q, kExported);
    EXPECT_EQ(ow_web_runs(w), 0);
    EXPECT_EQ(response(w).status, 400);
    ow_web_free(w);
}

TEST(OwWeb, FailAndBridgeErrors) {
    ow_web_t *w = prepare(get("/api/v1/web/guest/default/s.json"), kExported);
    ASSERT_NE(w, nullptr);
    // nothing answered yet: the bridge's 500
    Resp r = response(w);
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(r.error(), json({{"error", "There was an error processing your request."},
                               {"code", "tid1"}}));

    ow_web_fail(w, 202, "Response not yet ready.");
    r = response(w);
    EXPECT_EQ(r.status, 202);
    EXPECT_EQ(r.error(), json({{"error", "Response not yet ready."}, {"code", "tid1"}}));
    EXPECT_EQ(r.hdr("Access-Control-Allow-Origin"), "*");
    EXPECT_EQ(r.hdr("Content-Type"), "application/json");

    // a result that is not JSON, a status nginx cannot send: the 500
    finish(w, 0, "{truncated");
    r = response(w);
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(r.error()["code"], "tid1");
    EXPECT_EQ(r.hdr("Access-Control-Allow-Origin"), "*");
    ow_web_fail(w, 42, "x");
    EXPECT_EQ(response(w).status, 500);
    ow_web_finish(w, 0, nullptr, 0);
    EXPECT_EQ(response(w).status, 500);

    ow_web_fail(w, 503, nullptr);
    r = response(w);
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.error()["error"], "There was an error processing your request.");
    ow_web_free(w);

    // NULL handles are harmless
    ow_web_finish(nullptr, 0, "{}", 2);
    ow_web_fail(nullptr, 500, "x");
    ow_web_free(nullptr);
    EXPECT_EQ(ow_web_runs(nullptr), 0);
    ow_web_response_t out;
    ow_web_response(nullptr, &out);
    EXPECT_EQ(out.status, 500);
}

TEST(OwWeb, RequestMemoryIsCopied) {
    ow_web_t *w;
    {
        Req q = get("/api/v1/web/guest/default/s.text?m=hi");
        w = prepare(q, kExported);
    }   // the request's strings are gone
    ASSERT_EQ(ow_web_runs(w), 1);
    EXPECT_EQ(arguments(w)["m"], "hi");
    finish(w, 0, R"({"text":"hello"})");
    Resp r = response(w);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "hello");
    EXPECT_EQ(r.hdr("Content-Type"), "text/plain; charset=UTF-8");
    ow_web_free(w);
}
