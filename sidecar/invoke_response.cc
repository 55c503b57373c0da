// invoke_response.cc: see invoke_response.h.
#include "sidecar/invoke_response.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>

namespace owsc {

const char kTimeoutError[] = "Timeout must be number of milliseconds up to 60000.";

static std::string url_decode(const std::string &s) {
    std::string out;
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] == '+') { out += ' '; continue; }
        if (s[i] == '%' && i + 2 < s.size() &&
            isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            out += (char)strtol(s.substr(i + 1, 2).c_str(), nullptr, 16);
            i += 2;
            continue;
        }
        out += s[i];
    }
    return out;
}

bool parse_invoke_query(const std::string &query, InvokeQuery *q, std::string *err) {
    size_t pos = 0;
    while (pos <= query.size()) {
        size_t amp = query.find('&', pos);
        if (amp == std::string::npos) amp = query.size();
        std::string kv = query.substr(pos, amp - pos);
        pos = amp + 1;
        if (kv.empty()) continue;
        size_t eq = kv.find('=');
        std::string k = url_decode(kv.substr(0, eq));
        std::string v = eq == std::string::npos ? "" : url_decode(kv.substr(eq + 1));
        if (k == "blocking") {
            q->blocking = v == "true";
        } else if (k == "result") {
            q->result = v == "true";
        } else if (k == "timeout") {
            char *end = nullptr;
            errno = 0;
            long long t = v.empty() ? -1 : strtoll(v.c_str(), &end, 10);
            if (v.empty() || errno || *end || t < 1 || t > kMaxBlockingWaitMs) {
                *err = kTimeoutError;
                return false;
            }
            q->timeout_ms = t;
        }
    }
    return true;
}

int blocking_http_status(int status_code) {
    return status_code == 0 ? 200 : status_code == 3 ? 500 : 502;
}

ShapedResponse shape_blocking(const nlohmann::json &activation, int status_code,
                              bool result_only) {
    ShapedResponse r;
    r.http_status = blocking_http_status(status_code);
    const nlohmann::json *result = nullptr;
    auto resp = activation.find("response");
    if (resp != activation.end() && resp->is_object()) {
        auto it = resp->find("result");
        if (it != resp->end()) result = &*it;
    }
    if (result && result->is_array())
        r.body = *result;
    else if (result_only)
        r.body = result ? *result : nlohmann::json::object();
    else
        r.body = activation;
    return r;
}

}  // namespace owsc
