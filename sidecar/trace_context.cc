// trace_context.cc: see trace_context.h.
#include "sidecar/trace_context.h"

namespace ow::sidecar {

static bool lower_hex(const std::string &s, size_t from, size_t n, bool nonzero) {
    bool any = false;
    for (size_t i = from; i < from + n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
        if (c != '0') any = true;
    }
    return !nonzero || any;
}

bool parse_traceparent(const std::string &v, std::string *trace_id, std::string *parent_id,
                       std::string *flags) {
    if (v.size() < 55 || !lower_hex(v, 0, 2, false) || v.compare(0, 2, "ff") == 0) return false;
    bool v00 = v.compare(0, 2, "00") == 0;
    if (v00 && v.size() != 55) return false;
    if (!v00 && v.size() > 55 && v[55] != '-') return false;
    if (v[2] != '-' || v[35] != '-' || v[52] != '-') return false;
    if (!lower_hex(v, 3, 32, true) || !lower_hex(v, 36, 16, true) || !lower_hex(v, 53, 2, false))
        return false;
    *trace_id = v.substr(3, 32);
    *parent_id = v.substr(36, 16);
    *flags = v.substr(53, 2);
    return true;
}

std::string TraceContext::header() const {
    return "00-" + trace_id + "-" + span_id + "-" + flags;
}

TraceContext make_trace(const std::string &incoming, const std::string &activation_id,
                        uint64_t span_random) {
    static const char hex[] = "0123456789abcdef";
    TraceContext t;
    if (span_random == 0) span_random = 1;   // an all-zero id is invalid
    t.span_id.assign(16, '0');
    for (int i = 0; i < 16; i++) t.span_id[(size_t)i] = hex[(span_random >> (60 - 4 * i)) & 15];
    std::string flags;
    if (!incoming.empty() && parse_traceparent(incoming, &t.trace_id, &t.parent_id, &flags)) {
        // only the sampled bit is defined; other bits are not passed on
        int f = (flags[1] >= 'a' ? flags[1] - 'a' + 10 : flags[1] - '0') & 1;
        t.flags = f ? "01" : "00";
        t.continued = true;
        return t;
    }
    t.trace_id = activation_id;
    if (t.trace_id.size() != 32 || !lower_hex(t.trace_id, 0, 32, true))
        t.trace_id = t.span_id + t.span_id;   // never happens: ids are 32 hex
    return t;
}

}  // namespace ow::sidecar
