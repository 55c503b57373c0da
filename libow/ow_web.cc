// ow_web.cc: the C API of ow_web.h over ow::WebExchange (web_action.h).
//
// Linked into the nginx module: no exception may leave a function here (a
// throw into nginx's C frames aborts the worker), so every body is wrapped
// in try/catch. When shaping fails (out of memory, a result that is not
// JSON) the answer is a 500 prepared in ow_web_prepare, whose memory is
// already there: falling back allocates nothing. No globals with
// constructors (they would run at dlopen, in the master).
#include "libow/ow_web.h"

#include <memory>
#include <new>
#include <string>
#include <vector>

#include "libow/json_dump.h"
#include "libow/json_limits.h"
#include "libow/params.h"
#include "libow/web_action.h"

namespace {

const char kBridgeError[] = "There was an error processing your request.";

}  // namespace

struct ow_web_s {
    std::unique_ptr<ow::WebExchange> ex;
    std::string args;                        // ow_web_arguments
    std::vector<ow_web_header_t> headers;    // point into ex->response()
    // the 500 of a failed finish/fail: its own strings, built up front
    ow::HeaderList fallback_strings;
    std::vector<ow_web_header_t> fallback_headers;
    std::string fallback_body;
    ow_web_response_t out{};
};

namespace {

std::string str(const char *p, size_t len) {
    return p && len ? std::string(p, len) : std::string();
}

void point(const ow::HeaderList &from, std::vector<ow_web_header_t> *to) {
    to->clear();
    to->reserve(from.size());
    for (const auto &kv : from)
        to->push_back({kv.first.data(), kv.first.size(), kv.second.data(), kv.second.size()});
}

// out ← the fallback 500 (noexcept: only pointers are copied)
void fall_back(ow_web_t *w) noexcept {
    w->out.status = 500;
    w->out.headers = w->fallback_headers.data();
    w->out.nheaders = w->fallback_headers.size();
    w->out.body = w->fallback_body.data();
    w->out.body_len = w->fallback_body.size();
}

// out ← the exchange's response
void publish(ow_web_t *w) {
    const ow::WebResponse &r = w->ex->response();
    point(r.headers, &w->headers);
    w->out.status = r.status;
    w->out.headers = w->headers.data();
    w->out.nheaders = w->headers.size();
    w->out.body = r.body.data();
    w->out.body_len = r.body.size();
}

}  // namespace

extern "C" {

ow_web_t *ow_web_prepare(const ow_web_request_t *req, const char *facts, size_t facts_len) {
    try {
        if (!req) return nullptr;
        auto w = std::make_unique<ow_web_t>();
        ow::WebRequest r;
        r.method = str(req->method, req->method_len);
        r.uri = str(req->uri, req->uri_len);
        r.body = str(req->body, req->body_len);
        r.user = str(req->user, req->user_len);
        if (req->headers)
            for (size_t i = 0; i < req->nheaders; i++)
                r.headers.emplace_back(str(req->headers[i].name, req->headers[i].name_len),
                                       str(req->headers[i].value, req->headers[i].value_len));
        std::string tid = str(req->tid, req->tid_len);

        // malformed facts: an action with no annotations, i.e. not exported
        nlohmann::json annotations = nlohmann::json::array();
        nlohmann::json run = nlohmann::json::object(), init = nlohmann::json::object();
        // bounded (json_limits.h) like every document: a stack overflow
        // here is the nginx worker's
        nlohmann::json f = ow::json_parse_bounded(str(facts, facts_len));
        if (f.is_object()) {
            auto a = f.find("annotations");
            if (a != f.end() && a->is_array()) annotations = std::move(*a);
            auto p = f.find("parameters");
            if (p != f.end()) ow::add_params(*p, &run, &init);
        }
        bool final_params = ow::truthy(ow::annotation(annotations, "final"));
        // The arguments are what the request contributes, without the
        // parameters: they are merged where the action runs (a conductor's
        // own container; a sequence has none), whose `final` check would
        // refuse them sent again. They still count for this `final` check:
        // web_arguments checks a key against run and init parameters alike
        // and starts the arguments from run ones only, so all go in init.
        init.update(run);

        w->ex = std::make_unique<ow::WebExchange>(r, annotations, nlohmann::json::object(),
                                                  init, final_params, std::move(tid));
        w->fallback_strings = w->ex->cors();
        w->fallback_strings.emplace_back("Content-Type", "application/json");
        point(w->fallback_strings, &w->fallback_headers);
        w->fallback_body = ow::json_dump(ow::error_body(kBridgeError, w->ex->tid()));
        if (w->ex->runs()) {
            w->args = ow::json_dump(w->ex->arguments());
            fall_back(w.get());   // no answer until finish or fail
        } else {
            w->args = "{}";
            publish(w.get());
        }
        return w.release();
    } catch (...) {
        return nullptr;
    }
}

int ow_web_runs(const ow_web_t *w) {
    return w && w->ex && w->ex->runs() ? 1 : 0;
}

const char *ow_web_arguments(const ow_web_t *w, size_t *len) {
    static const char empty[] = "{}";
    if (!w) {
        if (len) *len = sizeof(empty) - 1;
        return empty;
    }
    if (len) *len = w->args.size();
    return w->args.c_str();
}

void ow_web_finish(ow_web_t *w, int status_code, const char *result, size_t len) {
    if (!w) return;
    try {
        nlohmann::json r = ow::json_parse_bounded(str(result, len));
        if (r.is_discarded()) {
            fall_back(w);
            return;
        }
        w->ex->finish(status_code, r);
        publish(w);
    } catch (...) {
        fall_back(w);
    }
}

void ow_web_fail(ow_web_t *w, int status, const char *msg) {
    if (!w) return;
    try {
        // an HTTP status nginx can send; anything else is the bridge's 500
        if (status < 100 || status > 599) {
            fall_back(w);
            return;
        }
        w->ex->fail(status, msg ? msg : kBridgeError);
        publish(w);
    } catch (...) {
        fall_back(w);
    }
}

void ow_web_response(const ow_web_t *w, ow_web_response_t *out) {
    if (!out) return;
    if (!w) {
        *out = ow_web_response_t{};
        out->status = 500;
        return;
    }
    *out = w->out;
}

void ow_web_free(ow_web_t *w) {
    delete w;   // destructors do not throw
}

}  // extern "C"
