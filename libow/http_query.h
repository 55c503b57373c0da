// http_query.h: what both daemons read from an invoke request the same way:
// the query string's pairs (URL-decoded), a blocking wait's timeout, an
// activation id. The sidecar answers the invoke; the pool-manager queues a
// non-blocking one and must refuse exactly what the sidecar would refuse.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace ow {

// "+" is a space, "%hh" a byte; a "%" without two hex digits stays as is.
std::string url_decode(std::string_view s);

// Calls fn(key, value) for each "key=value" of query (no "?"), both
// URL-decoded, in order; a pair with no "=" has the value "", an empty pair
// is skipped. Stops and returns false as soon as fn returns false.
bool for_each_query_param(
    std::string_view query,
    const std::function<bool(std::string_view key, std::string_view value)> &fn);

// The longest a blocking caller waits (OpenWhisk's controller: 60 s), and
// the 400 for a timeout out of 1..that.
constexpr int64_t kMaxBlockingWaitMs = 60000;
extern const char kTimeoutError[];

// A "timeout" query value: decimal milliseconds, 1 to kMaxBlockingWaitMs
// (strtoll's syntax: leading blanks and a sign are taken).
bool parse_wait_timeout(std::string_view value, int64_t *ms);

// 32 lowercase hex digits: the form of an activation id (X-OW-Activation-Id,
// X-OW-Cause), as the gateway makes them.
bool valid_activation_id(std::string_view s);

}  // namespace ow
