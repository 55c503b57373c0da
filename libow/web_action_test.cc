#include "libow/web_action.h"
#include "libow/params.h"

#include <gtest/gtest.h>

using namespace ow;
using nlohmann::json;

namespace {

std::string hdr(const HeaderList &h, const std::string &name) {
    for (const auto &kv : h)
        if (kv.first == name) return kv.second;
    return "<none>";
}

// what web_arguments takes of an action
struct Action {
    json run_params = json::object();
    json init_params = json::object();
    bool final_params = false;
};

Action action(const json &params = json::array(), bool final_params = false) {
    Action a;
    add_params(params, &a.run_params, &a.init_params);
    a.final_params = final_params;
    return a;
}

bool args_of(const Action &a, const WebAnnotations &w, const WebRequest &r, const WebTarget &t,
             json *args, WebResponse *err) {
    return web_arguments(a.run_params, a.init_params, a.final_params, w, r, t, "tid", args, err);
}

WebTarget target(const std::string &uri) {
    WebTarget t;
    EXPECT_TRUE(parse_web_uri(uri, &t)) << uri;
    return t;
}

}  // namespace

TEST(WebAction, Annotations) {
    struct {
        json ann;
        bool exported, raw;
        WebAnnotations::Auth auth;
        std::string secret;
    } cases[] = {
        {json::array(), false, false, WebAnnotations::Auth::none, ""},
        {{{{"key", "web-export"}, {"value", true}}}, true, false, WebAnnotations::Auth::none, ""},
        {{{{"key", "web-export"}, {"value", "yes"}}}, false, false, WebAnnotations::Auth::none, ""},
        {{{{"key", "raw-http"}, {"value", true}}}, false, true, WebAnnotations::Auth::none, ""},
        {{{{"key", "require-whisk-auth"}, {"value", true}}}, false, false, WebAnnotations::Auth::user, ""},
        {{{{"key", "require-whisk-auth"}, {"value", false}}}, false, false, WebAnnotations::Auth::none, ""},
        {{{{"key", "require-whisk-auth"}, {"value", "s3cr3t"}}}, false, false, WebAnnotations::Auth::secret, "s3cr3t"},
        {{{{"key", "require-whisk-auth"}, {"value", 7215}}}, false, false, WebAnnotations::Auth::secret, "7215"},
        {{{{"key", "require-whisk-auth"}, {"value", {{"a", 1}}}}}, false, false, WebAnnotations::Auth::deny, ""},
    };
    for (const auto &c : cases) {
        WebAnnotations w = web_annotations(c.ann);
        EXPECT_EQ(w.exported, c.exported) << c.ann;
        EXPECT_EQ(w.raw_http, c.raw) << c.ann;
        EXPECT_EQ(w.auth, c.auth) << c.ann;
        EXPECT_EQ(w.secret, c.secret) << c.ann;
    }
}

TEST(WebAction, Uri) {
    struct {
        const char *uri;
        WebExt ext;
        const char *path, *query;
    } cases[] = {
        {"/api/v1/web/guest/default/hello", WebExt::http, "", ""},
        {"/api/v1/web/guest/default/hello.json", WebExt::json, "", ""},
        {"/api/v1/web/guest/pkg/hello.html/a/b?x=1", WebExt::html, "/a/b", "x=1"},
        {"/api/v1/web/guest/default/hello.svg", WebExt::svg, "", ""},
        {"/api/v1/web/guest/default/hello.text/", WebExt::text, "/", ""},
        {"/api/v1/web/guest/default/hello.http?a=b&c", WebExt::http, "", "a=b&c"},
        {"/api/v1/web/guest/default/my%20act.json/x%2Fy", WebExt::json, "/x%2Fy", ""},
        {"/api/v1/web/guest/default/a.b", WebExt::http, "", ""},
    };
    for (const auto &c : cases) {
        WebTarget t = target(c.uri);
        EXPECT_EQ(t.ext, c.ext) << c.uri;
        EXPECT_EQ(t.path, c.path) << c.uri;
        EXPECT_EQ(t.query, c.query) << c.uri;
    }
    WebTarget t;
    EXPECT_FALSE(parse_web_uri("/api/v1/web/guest/default", &t));
    EXPECT_FALSE(parse_web_uri("/api/v1/web/guest/default/", &t));
    EXPECT_FALSE(parse_web_uri("/api/v1/namespaces/guest/actions/x", &t));
}

TEST(WebAction, Precheck) {
    auto ann = [](json extra) {
        json a = json::array({{{"key", "web-export"}, {"value", true}}});
        for (auto &e : extra) a.push_back(e);
        return web_annotations(a);
    };
    struct {
        WebAnnotations w;
        const char *method;
        HeaderList headers;
        const char *user;
        int status;   // 0 = run
    } cases[] = {
        {web_annotations(json::array()), "GET", {}, "", 404},
        {ann(json::array()), "GET", {}, "", 0},
        {ann(json::array()), "OPTIONS", {}, "", 200},
        {ann({{{"key", "web-custom-options"}, {"value", true}}}), "OPTIONS", {}, "", 0},
        {ann({{{"key", "require-whisk-auth"}, {"value", true}}}), "GET", {}, "", 401},
        {ann({{{"key", "require-whisk-auth"}, {"value", true}}}), "GET", {}, "guest", 0},
        {ann({{{"key", "require-whisk-auth"}, {"value", "abc"}}}), "GET", {}, "guest", 401},
        {ann({{{"key", "require-whisk-auth"}, {"value", "abc"}}}), "GET",
         {{"X-Require-Whisk-Auth", "abc"}}, "", 0},
        {ann({{{"key", "require-whisk-auth"}, {"value", "abc"}}}), "GET",
         {{"x-require-whisk-auth", "abd"}}, "", 401},
        {ann({{{"key", "require-whisk-auth"}, {"value", 42}}}), "POST",
         {{"X-Require-Whisk-Auth", "42"}}, "", 0},
        {ann({{{"key", "require-whisk-auth"}, {"value", "abc"}},
              {{"key", "web-custom-options"}, {"value", true}}}), "OPTIONS", {}, "", 0},
    };
    for (const auto &c : cases) {
        WebRequest r;
        r.method = c.method;
        r.headers = c.headers;
        r.user = c.user;
        WebResponse early;
        bool answered = web_precheck(c.w, r, "tid", &early);
        EXPECT_EQ(answered ? early.status : 0, c.status) << c.method << " " << c.user;
        if (c.status == 404) {
            EXPECT_EQ(json::parse(early.body),
                      json({{"error", "The requested resource does not exist."}, {"code", "tid"}}));
        }
    }
}

TEST(WebAction, SecretEqual) {
    EXPECT_TRUE(secret_equal("abc", "abc"));
    EXPECT_FALSE(secret_equal("abc", "abd"));
    EXPECT_FALSE(secret_equal("abc", "ab"));
    EXPECT_FALSE(secret_equal("", "a"));
    EXPECT_TRUE(secret_equal("", ""));
}

TEST(WebAction, Arguments) {
    struct {
        const char *name;
        bool raw;
        const char *method, *uri, *ctype, *body, *user;
        json expect;   // the keys to check (null = must be absent)
    } cases[] = {
        {"query", false, "GET", "/api/v1/web/guest/default/web.json?a=1&b=x+y&a=2", nullptr, "", "",
         {{"a", "2"}, {"b", "x y"}, {"__ow_method", "get"}, {"__ow_path", ""},
          {"__ow_body", nullptr}, {"__ow_user", nullptr}, {"p", "param"}}},
        {"json body wins over query", false, "POST", "/api/v1/web/guest/default/web/x/y?a=1",
         "application/json", R"({"a":{"n":2},"p":"body"})", "guest",
         {{"a", {{"n", 2}}}, {"p", "body"}, {"__ow_method", "post"}, {"__ow_path", "/x/y"},
          {"__ow_user", "guest"}}},
        {"json array", false, "PUT", "/api/v1/web/guest/default/web", "application/json", "[1,2]", "",
         {{"__ow_body", {1, 2}}}},
        {"vendor json", false, "PUT", "/api/v1/web/guest/default/web", "application/vnd.x+json",
         R"({"v":true})", "", {{"v", true}}},
        {"form", false, "POST", "/api/v1/web/guest/default/web", "application/x-www-form-urlencoded",
         "name=J%C3%BCrgen+X&e=", "", {{"name", "J\xc3\xbcrgen X"}, {"e", ""}, {"__ow_body", nullptr}}},
        {"text", false, "POST", "/api/v1/web/guest/default/web", "text/plain", "hello", "",
         {{"__ow_body", "hello"}}},
        {"binary", false, "POST", "/api/v1/web/guest/default/web", "application/octet-stream",
         "", "", {{"__ow_body", "AAH/"}}},
        {"image", false, "POST", "/api/v1/web/guest/default/web", "image/png", "PNG", "",
         {{"__ow_body", "UE5H"}}},
        {"no type", false, "POST", "/api/v1/web/guest/default/web", nullptr, "abc", "",
         {{"__ow_body", "YWJj"}}},
        {"raw json", true, "POST", "/api/v1/web/guest/default/web?a=1&b=2", "application/json",
         R"({"a":1})", "", {{"__ow_query", "a=1&b=2"}, {"__ow_body", "eyJhIjoxfQ=="}, {"a", nullptr}}},
        {"raw empty", true, "GET", "/api/v1/web/guest/default/web", nullptr, "", "",
         {{"__ow_query", ""}, {"__ow_body", ""}}},
        {"raw form", true, "POST", "/api/v1/web/guest/default/web", "application/x-www-form-urlencoded",
         "a=1", "", {{"__ow_body", "a=1"}, {"a", nullptr}}},
    };
    Action a = action(json::array({{{"key", "p"}, {"value", "param"}}}));
    for (const auto &c : cases) {
        WebAnnotations w;
        w.exported = true;
        w.raw_http = c.raw;
        WebRequest r;
        r.method = c.method;
        r.uri = c.uri;
        r.user = c.user;
        r.body = std::string(c.body);
        if (std::string(c.name) == "binary") r.body = std::string("\x00\x01\xff", 3);
        if (c.ctype) r.headers.emplace_back("Content-Type", c.ctype);
        r.headers.emplace_back("X-OW-Web-Uri", c.uri);
        r.headers.emplace_back("Accept", "*/*");
        json args;
        WebResponse err;
        ASSERT_TRUE(args_of(a, w, r, target(c.uri), &args, &err)) << c.name << err.body;
        for (auto it = c.expect.begin(); it != c.expect.end(); ++it) {
            if (it.value().is_null()) {
                EXPECT_FALSE(args.contains(it.key())) << c.name << " " << it.key() << " " << args;
            } else {
                EXPECT_EQ(args[it.key()], it.value()) << c.name << " " << it.key();
            }
        }
        EXPECT_EQ(args["__ow_headers"]["accept"], "*/*") << c.name;
        EXPECT_FALSE(args["__ow_headers"].contains("x-ow-web-uri")) << c.name;
        if (std::string(c.name) == "no type") {
            EXPECT_EQ(args["__ow_headers"]["content-type"], "application/octet-stream");
        }
    }
}

TEST(WebAction, ArgumentsRefused) {
    Action plain = action(json::array({{{"key", "p"}, {"value", 1}}}));
    Action fin = action(json::array({{{"key", "p"}, {"value", 1}}}), true);
    struct {
        const Action *a;
        bool raw;
        const char *uri, *ctype, *body;
        int status;   // 0 = accepted
    } cases[] = {
        {&plain, false, "/api/v1/web/guest/default/web?__ow_method=x", nullptr, "", 400},
        {&plain, false, "/api/v1/web/guest/default/web", "application/json", R"({"__ow_headers":1})", 400},
        {&plain, false, "/api/v1/web/guest/default/web?p=2", nullptr, "", 0},
        {&fin, false, "/api/v1/web/guest/default/web?p=2", nullptr, "", 400},
        {&fin, false, "/api/v1/web/guest/default/web", "application/json", R"({"p":2})", 400},
        {&fin, false, "/api/v1/web/guest/default/web?q=2", nullptr, "", 0},
        {&fin, true, "/api/v1/web/guest/default/web?p=2", nullptr, "", 0},
        {&plain, false, "/api/v1/web/guest/default/web", "application/json", "{oops", 400},
    };
    for (const auto &c : cases) {
        WebAnnotations w;
        w.exported = true;
        w.raw_http = c.raw;
        WebRequest r;
        r.method = "POST";
        r.uri = c.uri;
        r.body = c.body;
        if (c.ctype) r.headers.emplace_back("Content-Type", c.ctype);
        json args;
        WebResponse err;
        bool ok = args_of(*c.a, w, r, target(c.uri), &args, &err);
        EXPECT_EQ(ok ? 0 : err.status, c.status) << c.uri << " " << c.body;
    }
    WebAnnotations w;
    WebRequest r;
    r.method = "GET";
    r.uri = "/api/v1/web/guest/default/web?__ow_user=x";
    json args;
    WebResponse err;
    ASSERT_FALSE(args_of(fin, w, r, target(r.uri), &args, &err));
    EXPECT_EQ(json::parse(err.body)["error"],
              "Request defines parameters that are not allowed (e.g., reserved properties).");
}

// an anonymous body nested 100,000 deep: a 400 that says why, not a stack
// overflow where the arguments are merged
TEST(WebAction, ArgumentsTooDeep) {
    WebAnnotations w;
    w.exported = true;
    WebRequest r;
    r.method = "POST";
    r.uri = "/api/v1/web/guest/default/web";
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = "{\"a\":" + std::string(100000, '[');
    json args;
    WebResponse err;
    ASSERT_FALSE(args_of(action(), w, r, target(r.uri), &args, &err));
    EXPECT_EQ(err.status, 400);
    json e = json::parse(err.body);
    EXPECT_EQ(e["error"],
              "The request content was malformed:\nJSON nested deeper than 2048 levels.");
    EXPECT_EQ(e["code"], "tid");
}

TEST(WebAction, Response) {
    struct {
        const char *name, *uri;
        int status_code;
        json result;
        int status;
        const char *ctype, *body;
    } cases[] = {
        {"json", "/api/v1/web/g/default/a.json", 0, {{"a", 1}}, 200, "application/json", R"({"a":1})"},
        {"json array", "/api/v1/web/g/default/a.json", 0, {1, 2}, 200, "application/json", "[1,2]"},
        {"json projected", "/api/v1/web/g/default/a.json/x", 0, {{"x", {{"y", 1}}}}, 200,
         "application/json", R"({"y":1})"},
        {"json projected string", "/api/v1/web/g/default/a.json/x", 0, {{"x", "s"}}, 400,
         "application/json", nullptr},
        {"missing property", "/api/v1/web/g/default/a.json/x/z", 0, {{"x", {{"y", 1}}}}, 404,
         "application/json", nullptr},
        {"html", "/api/v1/web/g/default/a.html", 0, {{"html", "<b>hi</b>"}}, 200,
         "text/html; charset=UTF-8", "<b>hi</b>"},
        {"html body first", "/api/v1/web/g/default/a.html", 0, {{"body", "B"}, {"html", "H"}}, 200,
         "text/html; charset=UTF-8", "B"},
        {"html projected", "/api/v1/web/g/default/a.html/page", 0, {{"page", "<p/>"}}, 200,
         "text/html; charset=UTF-8", "<p/>"},
        {"html invalid", "/api/v1/web/g/default/a.html", 0, {{"x", 1}}, 400, "application/json", nullptr},
        {"svg", "/api/v1/web/g/default/a.svg", 0, {{"svg", "<svg/>"}}, 200, "image/svg+xml", "<svg/>"},
        {"text", "/api/v1/web/g/default/a.text", 0, {{"text", "plain"}}, 200,
         "text/plain; charset=UTF-8", "plain"},
        {"text number", "/api/v1/web/g/default/a.text/n", 0, {{"n", 5}}, 200,
         "text/plain; charset=UTF-8", "5"},
        {"text missing", "/api/v1/web/g/default/a.text", 0, {{"x", 1}}, 404, "application/json", nullptr},
        {"app error", "/api/v1/web/g/default/a.json", 1, {{"error", {{"why", "no"}}}}, 200,
         "application/json", R"({"why":"no"})"},
        {"app error http", "/api/v1/web/g/default/a", 1,
         {{"error", {{"statusCode", 418}, {"body", "teapot"}}}}, 418, "text/html; charset=UTF-8", "teapot"},
        {"developer error", "/api/v1/web/g/default/a.json", 2, {{"error", "x"}}, 400,
         "application/json", nullptr},
        {"http empty", "/api/v1/web/g/default/a", 0, json::object(), 204, "<none>", ""},
        {"http code only", "/api/v1/web/g/default/a.http", 0, {{"statusCode", "302"},
         {"headers", {{"location", "/x"}}}}, 302, "<none>", ""},
        {"http string", "/api/v1/web/g/default/a", 0, {{"body", "<h1>x</h1>"}}, 200,
         "text/html; charset=UTF-8", "<h1>x</h1>"},
        {"http json", "/api/v1/web/g/default/a", 0, {{"statusCode", 201}, {"body", {{"k", "v"}}}}, 201,
         "application/json", R"({"k":"v"})"},
        {"http vendor json", "/api/v1/web/g/default/a", 0,
         {{"headers", {{"Content-Type", "application/problem+json"}}}, {"body", {{"k", 1}}}}, 200,
         "application/problem+json", R"({"k":1})"},
        {"http json body not json type", "/api/v1/web/g/default/a", 0,
         {{"headers", {{"Content-Type", "text/plain"}}}, {"body", {{"k", 1}}}}, 400,
         "application/json", nullptr},
        {"http binary", "/api/v1/web/g/default/a", 0,
         {{"headers", {{"Content-Type", "image/png"}}}, {"body", "AAH/"}}, 200, "image/png",
         nullptr},
        {"http binary not base64", "/api/v1/web/g/default/a", 0,
         {{"headers", {{"Content-Type", "image/png"}}}, {"body", "@@@@"}}, 400, "application/json", nullptr},
        {"http json base64 legacy", "/api/v1/web/g/default/a", 0,
         {{"headers", {{"content-type", "application/json"}}}, {"body", "eyJhIjoxfQ=="}}, 200,
         "application/json", R"({"a":1})"},
        {"http text type", "/api/v1/web/g/default/a", 0,
         {{"headers", {{"Content-Type", "text/plain"}}}, {"body", "hi"}}, 200,
         "text/plain; charset=UTF-8", "hi"},
        {"http bad type", "/api/v1/web/g/default/a", 0,
         {{"headers", {{"Content-Type", "nonsense"}}}, {"body", "hi"}}, 400, "application/json", nullptr},
        {"http bad code", "/api/v1/web/g/default/a", 0, {{"statusCode", "abc"}}, 400,
         "application/json", nullptr},
        {"http bad headers", "/api/v1/web/g/default/a", 0, {{"headers", {{"x", {{"o", 1}}}}}}, 400,
         "application/json", nullptr},
        {"http not object", "/api/v1/web/g/default/a", 0, "str", 400, "application/json", nullptr},
        {"http no projection", "/api/v1/web/g/default/a.http/body", 0, {{"body", "whole"}}, 200,
         "text/html; charset=UTF-8", "whole"},
    };
    for (const auto &c : cases) {
        WebResponse r = web_response(target(c.uri), c.status_code, c.result, "tid");
        EXPECT_EQ(r.status, c.status) << c.name;
        EXPECT_EQ(hdr(r.headers, "Content-Type"), c.ctype) << c.name;
        if (c.body) {
            EXPECT_EQ(r.body, c.body) << c.name;
        }
        // the platform's own errors (not an action's 4xx) are OpenWhisk error bodies
        if (c.status >= 400 && std::string(c.ctype) == "application/json") {
            EXPECT_TRUE(json::parse(r.body).contains("error")) << c.name;
        }
    }
    // binary bytes with a NUL survive
    WebResponse b = web_response(target("/api/v1/web/g/default/a"), 0,
                                 {{"headers", {{"Content-Type", "application/octet-stream"}}},
                                  {"body", "AAH/"}}, "tid");
    EXPECT_EQ(b.body, std::string("\x00\x01\xff", 3));
    // headers: arrays repeat, numbers and booleans are text
    WebResponse h = web_response(target("/api/v1/web/g/default/a"), 0,
                                 {{"headers", {{"Set-Cookie", {"a=1", "b=2"}}, {"X-N", 3}, {"X-B", true}}},
                                  {"body", "x"}}, "tid");
    int cookies = 0;
    for (const auto &kv : h.headers) cookies += kv.first == "Set-Cookie";
    EXPECT_EQ(cookies, 2);
    EXPECT_EQ(hdr(h.headers, "X-N"), "3");
    EXPECT_EQ(hdr(h.headers, "X-B"), "true");
    // error texts
    EXPECT_EQ(json::parse(web_response(target("/api/v1/web/g/default/a.json"), 3, {}, "t").body),
              json({{"error", "There was an error processing your request."}, {"code", "t"}}));
    EXPECT_EQ(json::parse(web_response(target("/api/v1/web/g/default/a.text"), 0, {{"x", 1}}, "t").body)["error"],
              "Response does not include requested property.");
}

// fuzz/web_action_fuzz.cc: an action's header name or value was written
// as given, so "\r\n" in it ended the line where the action chose: headers
// of its own choosing after it (a second Content-Length, a whole response)
// in the sidecar's answer to nginx, or nginx's to the client (response
// splitting). Such a result is no valid 'message/http', like a header of a
// type that is not one.
TEST(WebAction, ResponseHeadersCannotSplitTheResponse) {
    const json bad[] = {
        {{"X-A", "a\r\nContent-Length: 0"}},
        {{"X-A", "a\nb"}},
        {{"X-A", {"ok", std::string("a\0b", 3)}}},
        {{"X-A\r\nX-B", "v"}},
        {{"Bad Name", "v"}},
        {{"", "v"}},
        {{"X:Y", 1}},
    };
    for (const auto &headers : bad) {
        WebResponse r = web_response(target("/api/v1/web/g/default/a"), 0,
                                     {{"headers", headers}, {"body", "x"}}, "tid");
        EXPECT_EQ(r.status, 400) << headers.dump();
        EXPECT_EQ(json::parse(r.body)["error"], "Response is not valid 'message/http'.")
            << headers.dump();
    }
    // what HTTP allows goes through: token names, any other bytes in values
    WebResponse ok = web_response(target("/api/v1/web/g/default/a"), 0,
                                  {{"headers", {{"X-Odd_Name.1!", "tab\there, \u00e9"}}},
                                   {"body", "x"}}, "tid");
    EXPECT_EQ(ok.status, 200);
    EXPECT_EQ(hdr(ok.headers, "X-Odd_Name.1!"), "tab\there, \u00e9");
}

// fuzz/web_action_fuzz.cc (UBSan): a statusCode like 1e300 was converted
// to long before its range was known, undefined behaviour (on x86 it gave
// LONG_MIN, so the answer was right by luck). The range comes first now;
// whole floats in it are codes.
TEST(WebAction, HugeFloatStatusCodeIsInvalid) {
    for (double d : {1e300, -1e300, 1e19, 99.0, 600.0, 200.5}) {
        WebResponse r = web_response(target("/api/v1/web/g/default/a"), 0,
                                     {{"statusCode", d}, {"body", "x"}}, "tid");
        EXPECT_EQ(r.status, 400) << d;
    }
    WebResponse ok = web_response(target("/api/v1/web/g/default/a"), 0,
                                  {{"statusCode", 201.0}, {"body", "x"}}, "tid");
    EXPECT_EQ(ok.status, 201);
}

TEST(WebAction, Cors) {
    HeaderList d = web_cors_headers({});
    EXPECT_EQ(hdr(d, "Access-Control-Allow-Origin"), "*");
    EXPECT_EQ(hdr(d, "Access-Control-Allow-Methods"), "OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH");
    EXPECT_EQ(hdr(d, "Access-Control-Allow-Headers"),
              "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent");
    HeaderList e = web_cors_headers({{"Access-Control-Request-Headers", "X-Custom"}});
    EXPECT_EQ(hdr(e, "Access-Control-Allow-Headers"), "X-Custom");
}

TEST(WebExchange, ChecksInOrder) {
    json exported = json::array({{{"key", "web-export"}, {"value", true}}});
    json custom = json::array({{{"key", "web-export"}, {"value", true}},
                               {{"key", "web-custom-options"}, {"value", true}}});
    WebRequest r;
    r.method = "GET";
    r.uri = "/api/v1/web/guest";   // no action
    WebExchange bad(r, exported, json::object(), json::object(), false, "t1");
    EXPECT_FALSE(bad.runs());
    EXPECT_EQ(bad.response().status, 404);
    EXPECT_EQ(hdr(bad.response().headers, "Access-Control-Allow-Origin"), "<none>");
    EXPECT_EQ(json::parse(bad.response().body),
              json({{"error", "The requested resource does not exist."}, {"code", "t1"}}));

    r.uri = "/api/v1/web/guest/default/web.json/a?q=1";
    WebExchange hidden(r, json::array(), json::object(), json::object(), false, "t");
    EXPECT_FALSE(hidden.runs());
    EXPECT_EQ(hidden.response().status, 404);
    EXPECT_TRUE(hidden.cors().empty());

    WebExchange ok(r, exported, json({{"p", 1}}), json::object(), false, "t");
    ASSERT_TRUE(ok.runs());
    EXPECT_EQ(ok.arguments()["q"], "1");
    EXPECT_EQ(ok.arguments()["p"], 1);
    EXPECT_EQ(ok.target().ext, WebExt::json);
    ok.finish(0, json({{"a", {{"b", 2}}}}));
    EXPECT_EQ(ok.response().status, 200);
    EXPECT_EQ(json::parse(ok.response().body), json({{"b", 2}}));
    // the CORS headers come first
    ASSERT_EQ(ok.response().headers.size(), 4u);
    EXPECT_EQ(ok.response().headers[0].first, "Access-Control-Allow-Origin");
    EXPECT_EQ(ok.response().headers[3].first, "Content-Type");
    ok.fail(202, "Response not yet ready.");
    EXPECT_EQ(ok.response().status, 202);
    EXPECT_EQ(ok.response().headers.size(), 4u);

    WebExchange fin(r, exported, json({{"q", 0}}), json::object(), true, "t");
    EXPECT_FALSE(fin.runs());
    EXPECT_EQ(fin.response().status, 400);
    EXPECT_EQ(hdr(fin.response().headers, "Access-Control-Allow-Origin"), "*");

    r.method = "OPTIONS";
    WebExchange opt(r, exported, json::object(), json::object(), false, "t");
    EXPECT_FALSE(opt.runs());
    EXPECT_EQ(opt.response().status, 200);
    EXPECT_EQ(opt.response().headers.size(), 3u);
    WebExchange copt(r, custom, json::object(), json::object(), false, "t");
    EXPECT_TRUE(copt.runs());   // the action answers OPTIONS itself
    EXPECT_TRUE(copt.cors().empty());
    EXPECT_EQ(copt.take_arguments()["__ow_method"], "options");
}
