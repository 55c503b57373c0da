// web_action.h: web actions (openwhisk-api.md §7): what the action's
// annotations allow, the HTTP request → the action's arguments, and the
// activation's result → the HTTP response, as OpenWhisk's controller
// (WebActions.scala) does it. Pure functions, and WebExchange, the sequence
// of checks from "request received" to "answer sent". Used by the sidecar
// (Sidecar::handle_web, invoke_handler.cc: plain actions) and, through the C
// API of ow_web.h, by the gateway's compose driver (web-exported sequences
// and conductor actions). Nothing here depends on Asio or the sidecar.
//
// The gateway (conf/web_proxy.conf) sends the sidecar POST /web?<client
// query> with the client's headers and body, plus X-OW-Web-Method (the
// client's method), X-OW-Web-Uri (the raw request URI) and X-OW-Web-User
// (the caller's namespace when its key was valid); it overwrites any
// client-sent X-OW-*.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace ow {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

enum class WebExt { http, json, html, svg, text };

// The web-* annotations of the action.
struct WebAnnotations {
    bool exported = false;         // web-export
    bool raw_http = false;         // raw-http
    bool custom_options = false;   // web-custom-options
    enum class Auth { none, user, secret, deny } auth = Auth::none;
    std::string secret;            // require-whisk-auth string or number
};
WebAnnotations web_annotations(const nlohmann::json &annotations);

struct WebRequest {
    std::string method;            // as on the wire, e.g. "GET"
    std::string uri;               // raw: /api/v1/web/ns/pkg/name.ext/rest?q
    HeaderList headers;            // the client's (gateway X-OW-* dropped)
    std::string body;
    std::string user;              // the caller's namespace, "" = anonymous
};

// Where the URI points past the action: the extension (none = .http), the
// rest of the path as sent (__ow_path, "" or "/a/b") and the raw query.
struct WebTarget {
    WebExt ext = WebExt::http;
    std::string path;
    std::string query;
};
// False when the URI is not /api/v1/web/{ns}/{pkg}/{name}...
bool parse_web_uri(const std::string &uri, WebTarget *t);

struct WebResponse {
    int status = 200;
    HeaderList headers;            // Content-Type included when there is one
    std::string body;
};

// {"error": msg, "code": tid} as application/json.
WebResponse web_error(int status, const std::string &msg, const std::string &tid);

// The CORS headers the platform adds to every answer of an action without
// web-custom-options: Allow-Headers echoes Access-Control-Request-Headers.
HeaderList web_cors_headers(const HeaderList &request_headers);

// The answer given without running the action, if any: 404 when it is not
// exported, 200 to OPTIONS (unless web-custom-options), 401 when
// require-whisk-auth is not met. False: run it.
bool web_precheck(const WebAnnotations &w, const WebRequest &req, const std::string &tid,
                  WebResponse *early);

// Constant-time string comparison (the require-whisk-auth secret).
bool secret_equal(const std::string &a, const std::string &b);

// The action's arguments: its parameters ← __ow_method, __ow_headers,
// __ow_path, __ow_user ← query ← body (JSON object or form fields; anything
// else in __ow_body, base64 when binary); raw-http: __ow_query and __ow_body.
// False with *err (400) when the request overrides a reserved or `final`
// parameter or has a malformed JSON body.
// run_params / init_params: the action's (add_params, params.h); with
// final_params (annotation "final") neither may be overridden.
bool web_arguments(const nlohmann::json &run_params, const nlohmann::json &init_params,
                   bool final_params, const WebAnnotations &w, const WebRequest &req,
                   const WebTarget &t, const std::string &tid, nlohmann::json *args,
                   WebResponse *err);

// The HTTP response for a finished activation (status_code 0..3, its
// result): projection by the rest of the path (not for .http), then the
// extension's rules.
WebResponse web_response(const WebTarget &t, int status_code, const nlohmann::json &result,
                         const std::string &tid);

// One web request from receipt to answer: the URI (404 "The requested
// resource does not exist." when it names no action), the CORS headers
// (exported and not web-custom-options), web_precheck, web_arguments. Then,
// when runs(), the caller runs the action with arguments() and calls
// finish() with its outcome; fail() answers an error of the platform
// instead. response() carries the CORS headers in front of its own.
// Throws only what allocation throws.
class WebExchange {
public:
    // annotations: the action's array; run_params / init_params /
    // final_params as for web_arguments.
    WebExchange(const WebRequest &req, const nlohmann::json &annotations,
                const nlohmann::json &run_params, const nlohmann::json &init_params,
                bool final_params, std::string tid);

    // True: run the action; false: answer response() as it is.
    bool runs() const { return runs_; }
    const nlohmann::json &arguments() const { return args_; }
    // The arguments, moved out (arguments() is then null).
    nlohmann::json take_arguments() { return std::move(args_); }
    const WebTarget &target() const { return target_; }
    const std::string &tid() const { return tid_; }
    // The CORS headers every answer starts with (none: not exported, a bad
    // URI, or web-custom-options).
    const HeaderList &cors() const { return cors_; }

    // The activation's status code (0..3) and result → response().
    void finish(int status_code, const nlohmann::json &result);
    // response() = {"error": msg, "code": tid} with status.
    void fail(int status, const std::string &msg);
    const WebResponse &response() const { return response_; }

private:
    void answer(WebResponse r);

    std::string tid_;
    WebTarget target_;
    HeaderList cors_;
    bool runs_ = false;
    nlohmann::json args_;
    WebResponse response_;
};

// Lower-case names of the request headers the action sees (__ow_headers):
// hop-by-hop and gateway headers are not the client's.
bool web_header_hidden(const std::string &lower_name);

}  // namespace ow
