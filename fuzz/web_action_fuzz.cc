// web_action_fuzz.cc: a web action request from receipt to answer, both
// ways owx serves one (libow/web_action.h):
//   - the sidecar's (Sidecar::handle_web): WebExchange over the action's
//     annotations and parameters, the runtime's reply mapped
//     (map_run_reply), then finish() → the HTTP response it writes;
//   - the gateway's bridge for web sequences and conductor actions
//     (libow/ow_web.h, C): ow_web_prepare with the facts as JSON text,
//     ow_web_finish with the result as text.
// Besides "no crash, no leak, no exception": the response is one that can
// be sent (a status nginx accepts; header names that are tokens, values
// without CR, LF or NUL, or the action writes the sidecar's header block).
//
// Input (fuzz/fuzz_input.h):
//   GET /api/v1/web/guest/default/a.json/x?q=1      method and raw URI
//   Content-Type: application/json                   the client's headers
//   X-OW-Web-User: guest                             (the gateway's: __ow_user)
//                                                    blank line
//   {"body":1}                                       body
//   ----
//   {"annotations":[...],"parameters":[...]}         the action's facts
//   ----
//   ok 200                                           the runtime's reply,
//   {"statusCode":200,"headers":{...},"body":"..."}   as runtime_reply_fuzz
// No facts: exported, no parameters. No reply: the action echoes its
// arguments.
#include <cctype>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "fuzz/runtime_reply_input.h"
#include "libow/json_dump.h"
#include "libow/json_limits.h"
#include "libow/ow_web.h"
#include "libow/params.h"
#include "libow/web_action.h"
#include "sidecar/run_result.h"

namespace {

const char kDefaultFacts[] = R"({"annotations":[{"key":"web-export","value":true}]})";

std::string lower(std::string s) {
    for (auto &c : s) c = (char)std::tolower((unsigned char)c);
    return s;
}

bool tchar(unsigned char c) {
    return std::isalnum(c) || (c && std::strchr("!#$%&'*+-.^_`|~", c));
}

bool token(const std::string &s) {
    if (s.empty()) return false;
    for (unsigned char c : s)
        if (!tchar(c)) return false;
    return true;
}

// What nginx lets through to the sidecar: header names of token
// characters (ignore_invalid_headers drops the others), values without CR
// or NUL (the request is refused). Such a request is no request.
bool request_of(std::string_view in, ow::WebRequest *req) {
    std::string_view line = fuzz::take_line(&in);
    req->method = std::string(fuzz::take_word(&line));
    req->uri = std::string(line);
    if (req->uri.find_first_of(std::string("\0 \r", 3)) != std::string::npos) return false;
    for (;;) {
        if (in.empty()) break;
        line = fuzz::take_line(&in);
        if (line.empty()) break;
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string name(line.substr(0, colon));
        std::string value(line.substr(colon + 1));
        size_t b = value.find_first_not_of(' ');
        value = b == std::string::npos ? "" : value.substr(b);
        if (!token(name)) continue;
        if (value.find_first_of(std::string("\0\r", 2)) != std::string::npos) return false;
        if (lower(name) == "x-ow-web-user") req->user = value;
        req->headers.emplace_back(std::move(name), std::move(value));
    }
    req->body = std::string(in);
    return true;
}

void check_response(const ow::WebResponse &r) {
    FUZZ_CHECK(r.status >= 100 && r.status <= 599);
    for (const auto &h : r.headers) {
        if (!token(h.first)) fprintf(stderr, "header name not a token: [%s]\n", h.first.c_str());
        FUZZ_CHECK(token(h.first));
        if (h.second.find_first_of(std::string("\r\n\0", 3)) != std::string::npos)
            fprintf(stderr, "header value with CR, LF or NUL: %s: [%s]\n", h.first.c_str(), h.second.c_str());
        FUZZ_CHECK(h.second.find_first_of(std::string("\r\n\0", 3)) == std::string::npos);
    }
}

void check_c_response(const ow_web_t *w) {
    ow_web_response_t out;
    ow_web_response(w, &out);
    ow::WebResponse r;
    r.status = out.status;
    for (size_t i = 0; i < out.nheaders; i++)
        r.headers.emplace_back(std::string(out.headers[i].name, out.headers[i].name_len),
                               std::string(out.headers[i].value, out.headers[i].value_len));
    check_response(r);
}

ow::sidecar::RuntimeReply reply_of(std::string_view in) {
    std::string_view head = fuzz::take_line(&in);
    return fuzz::runtime_reply(head, in, (long long)in.size() + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    auto parts = fuzz::sections(std::string_view(reinterpret_cast<const char *>(data), size));
    ow::WebRequest req;
    if (!request_of(fuzz::section(parts, 0), &req)) return 0;
    std::string facts_text(fuzz::section(parts, 1));
    if (facts_text.empty()) facts_text = kDefaultFacts;
    std::string_view reply_text = fuzz::section(parts, 2);

    // the action as the sidecar reads it (sidecar/action.cc parse_action)
    nlohmann::json facts = ow::json_parse_bounded(facts_text);
    nlohmann::json annotations = nlohmann::json::array();
    nlohmann::json run = nlohmann::json::object(), init = nlohmann::json::object();
    if (facts.is_object()) {
        auto a = facts.find("annotations");
        if (a != facts.end() && a->is_array()) annotations = *a;
        auto p = facts.find("parameters");
        if (p != facts.end()) ow::add_params(*p, &run, &init);
    }
    bool final_params = ow::truthy(ow::annotation(annotations, "final"));

    // the sidecar
    ow::WebExchange ex(req, annotations, run, init, final_params, "tid");
    check_response(ex.response());
    nlohmann::json echo;
    if (ex.runs()) {
        FUZZ_CHECK(ex.arguments().is_object());
        echo = ex.arguments();
        std::string args = ow::json_dump(echo);
        FUZZ_CHECK(!args.empty());
        ow::sidecar::RunOutcome o;
        if (reply_text.empty()) {
            o.result = echo;   // an action returning its arguments
        } else {
            o = ow::sidecar::map_run_reply(reply_of(reply_text), 1000);
        }
        ex.finish(o.status_code, o.result);
        check_response(ex.response());
    }

    // the gateway's bridge, same request
    std::vector<ow_web_header_t> hs;
    for (const auto &h : req.headers)
        hs.push_back({h.first.data(), h.first.size(), h.second.data(), h.second.size()});
    ow_web_request_t creq{};
    creq.method = req.method.data();
    creq.method_len = req.method.size();
    creq.uri = req.uri.data();
    creq.uri_len = req.uri.size();
    creq.headers = hs.data();
    creq.nheaders = hs.size();
    creq.body = req.body.data();
    creq.body_len = req.body.size();
    creq.user = req.user.data();
    creq.user_len = req.user.size();
    creq.tid = "tid";
    creq.tid_len = 3;
    ow_web_t *w = ow_web_prepare(&creq, facts_text.data(), facts_text.size());
    FUZZ_CHECK(w != nullptr);
    FUZZ_CHECK(ow_web_runs(w) == (ex.runs() ? 1 : 0));
    check_c_response(w);
    if (ow_web_runs(w)) {
        size_t n = 0;
        const char *args = ow_web_arguments(w, &n);
        FUZZ_CHECK(args != nullptr && n > 0);
        // a composition's result arrives as JSON text (its record's, as
        // jansson wrote it); the reply's body stands for it, or the echo
        std::string_view body = reply_text;
        fuzz::take_line(&body);
        std::string result = reply_text.empty() ? std::string(args, n) : std::string(body);
        ow_web_finish(w, (int)(size % 4), result.data(), result.size());
        check_c_response(w);
        ow_web_fail(w, 502, "component failed");
        check_c_response(w);
    }
    ow_web_free(w);
    return 0;
}
