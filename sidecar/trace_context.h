// trace_context.h: W3C Trace Context (https://www.w3.org/TR/trace-context/)
// `traceparent` for one activation.
//
//   traceparent: 00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>
//
// The sidecar continues a valid incoming trace (same trace id, its own span
// id as the new parent id, the caller's flags) or, when the header is absent
// or invalid, starts one whose trace id is the activation id (so a trace is
// found from an activation and back) with flags 00 (not sampled: we record,
// we do not decide sampling). The runtime gets the outgoing header as
// __OW_TRACEPARENT, the record the trace id (annotation traceId), the caller
// the header on the response.
#pragma once

#include <cstdint>
#include <string>

namespace ow::sidecar {

struct TraceContext {
    std::string trace_id;    // 32 lowercase hex
    std::string parent_id;   // 16 lowercase hex: the caller's span (or "")
    std::string span_id;     // 16 lowercase hex: this activation's span
    std::string flags = "00";
    bool continued = false;  // true: from a valid incoming traceparent
    std::string header() const;   // 00-trace-span-flags
};

// Parses a traceparent value. Version 00 must be exactly 55 characters;
// a higher version (not ff) is accepted by its first 55 characters when the
// next one is '-' or the end (the spec's forward compatibility). Lowercase
// hex only; all-zero trace or parent ids are invalid.
bool parse_traceparent(const std::string &v, std::string *trace_id, std::string *parent_id,
                       std::string *flags);

// The activation's context: continues `incoming` when valid, else a new
// trace with trace id = activation_id. span_id: 16 hex, not all zero.
TraceContext make_trace(const std::string &incoming, const std::string &activation_id,
                        uint64_t span_random);

}  // namespace ow::sidecar
