// http_query.cc: see http_query.h.
#include "libow/http_query.h"

#include <cerrno>
#include <cstdlib>

namespace ow {

const char kTimeoutError[] = "Timeout must be number of milliseconds up to 60000.";

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string url_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
                   hex_value(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

// s itself when there is nothing to decode (the usual "blocking=true"):
// no copy; else its decoded form, kept in *buf
static std::string_view decoded(std::string_view s, std::string *buf) {
    if (s.find_first_of("%+") == std::string_view::npos) return s;
    *buf = url_decode(s);
    return *buf;
}

bool for_each_query_param(
    std::string_view query,
    const std::function<bool(std::string_view key, std::string_view value)> &fn) {
    std::string kbuf, vbuf;
    size_t pos = 0;
    while (pos <= query.size()) {
        size_t amp = query.find('&', pos);
        if (amp == std::string_view::npos) amp = query.size();
        std::string_view kv = query.substr(pos, amp - pos);
        pos = amp + 1;
        if (kv.empty()) continue;
        size_t eq = kv.find('=');
        std::string_view k = decoded(kv.substr(0, eq), &kbuf);
        std::string_view v =
            eq == std::string_view::npos ? std::string_view() : decoded(kv.substr(eq + 1), &vbuf);
        if (!fn(k, v)) return false;
    }
    return true;
}

bool parse_wait_timeout(std::string_view value, int64_t *ms) {
    if (value.empty()) return false;
    // strtoll wants a terminated string; a decoded "%00" ends it early, as
    // it always has
    std::string v(value);
    char *end = nullptr;
    errno = 0;
    long long t = std::strtoll(v.c_str(), &end, 10);
    if (errno || *end || t < 1 || t > kMaxBlockingWaitMs) return false;
    *ms = t;
    return true;
}

bool valid_activation_id(std::string_view s) {
    if (s.size() != 32) return false;
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

}  // namespace ow
