// json_limits.cc: see json_limits.h.
#include "libow/json_limits.h"

namespace ow {

JsonError json_check_limits(std::string_view text, const JsonLimits &lim) {
    if (text.size() > lim.max_bytes) return JsonError::too_large;
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0, n = text.size(); i < n; i++) {
        char c = text[i];
        if (in_string) {
            // a backslash escapes the next byte, whatever it is ("\"" does
            // not end the string, "\\" does not escape the quote after it)
            if (c == '\\') i++;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > lim.max_depth) return JsonError::too_deep;
        } else if ((c == ']' || c == '}') && depth > 0) {
            // an unbalanced closer is the parser's to refuse
            depth--;
        }
    }
    return JsonError::none;
}

nlohmann::json json_parse_bounded(std::string_view text, JsonError *why,
                                  const JsonLimits &lim) {
    JsonError e = json_check_limits(text, lim);
    nlohmann::json j;
    if (e == JsonError::none) {
        // no callback, no exceptions: a syntax error is a discarded value
        j = nlohmann::json::parse(text.data(), text.data() + text.size(), nullptr, false);
        if (j.is_discarded()) e = JsonError::malformed;
    } else {
        j = nlohmann::json(nlohmann::json::value_t::discarded);
    }
    if (why) *why = e;
    return j;
}

std::string json_error_text(JsonError e, const JsonLimits &lim) {
    switch (e) {
    case JsonError::none: return "";
    case JsonError::malformed: return "malformed JSON.";
    case JsonError::too_deep:
        return "JSON nested deeper than " + std::to_string(lim.max_depth) + " levels.";
    case JsonError::too_large:
        return "JSON larger than " + std::to_string(lim.max_bytes) + " bytes.";
    }
    return "malformed JSON.";
}

}  // namespace ow
