// json_limits.h: parsing JSON that someone else wrote (a client's body, a
// runtime's reply, a queued payload) without letting its shape crash us.
//
// nlohmann::json parses without recursion, but nearly everything done with
// the value afterwards recurses once per level: copying, comparing, dumping.
// A 200 KB body of "[[[[..." is 100,000 levels: enough to overflow the stack
// of whichever thread touches it next (a sidecar died of exactly that, on
// every container nginx retried). So the nesting is measured first, by a
// byte scan that does not recurse, and only a bounded text is parsed.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ow {

// 2048 levels of arrays/objects: what the gateway accepts (jansson 2.14's
// JSON_PARSER_MAX_DEPTH, on action PUT and trigger fire), so a document the
// gateway stored can always be read back here. Smaller (512) would refuse
// arguments the runtimes handle (a Node.js action takes far deeper ones)
// and parameters the gateway let in. What the bound costs: copying, comparing
// and dumping a 2048-deep value takes < 256 KB of stack optimised (< 2 MB at
// -O0), of the usual 8 MB (RLIMIT_STACK: no thread of ours asks for less).
constexpr int kJsonMaxDepth = 2048;
// The largest document any caller reads: an action document with its code
// (up to 48 MB, modules/engine/ow_exec.h) and some escaping. Callers with a smaller
// bound pass theirs.
constexpr size_t kJsonMaxBytes = 64u * 1024 * 1024;

struct JsonLimits {
    int max_depth = kJsonMaxDepth;       // arrays and objects: "[]" is 1
    size_t max_bytes = kJsonMaxBytes;
};

enum class JsonError { none, malformed, too_deep, too_large };

// The size and the nesting of text: none, too_large or too_deep. No syntax
// check (a malformed text passes here and fails to parse); brackets inside
// strings, escaped quotes included, do not count. Stops at the first level
// over the limit, so a hostile text costs no more than max_depth bytes of
// scanning beyond its prefix.
JsonError json_check_limits(std::string_view text, const JsonLimits &lim = JsonLimits());

// json_check_limits, then nlohmann's parse. Never throws on bad input: a
// failure is a discarded value (is_discarded()) and *why, when given, says
// which (none on success).
nlohmann::json json_parse_bounded(std::string_view text, JsonError *why = nullptr,
                                  const JsonLimits &lim = JsonLimits());

// A sentence for an error message: "JSON nested deeper than 2048 levels.",
// "JSON larger than N bytes.", "malformed JSON." ("" for none).
std::string json_error_text(JsonError e, const JsonLimits &lim = JsonLimits());

}  // namespace ow
