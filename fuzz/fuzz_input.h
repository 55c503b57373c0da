// fuzz_input.h: how the fuzz targets cut one input into parts.
//
// The inputs are text a person can read and write (the seeds under
// fuzz/corpus/ are hand-made requests and documents): sections separated
// by a line "----", lines by '\n'. A mutated input that loses a separator
// is still an input: the missing parts are empty, and each target has a
// default for those. Header-only: the targets share nothing else.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

// A property the code promises (its header's contract) that failed: a
// finding like a crash, so libFuzzer keeps the input.
#define FUZZ_CHECK(cond)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed\n", __FILE__, \
                         __LINE__, #cond);                                 \
            std::abort();                                                  \
        }                                                                  \
    } while (0)

namespace fuzz {

// The input split at lines "----" (the separator's newlines are dropped).
inline std::vector<std::string_view> sections(std::string_view in) {
    std::vector<std::string_view> out;
    static constexpr std::string_view sep = "\n----\n";
    if (in.substr(0, 5) == "----\n") {
        out.emplace_back();
        in.remove_prefix(5);
    }
    for (;;) {
        size_t at = in.find(sep);
        if (at == std::string_view::npos) {
            out.push_back(in);
            return out;
        }
        out.push_back(in.substr(0, at));
        in.remove_prefix(at + sep.size());
    }
}

// The i-th section, or "" when there are fewer.
inline std::string_view section(const std::vector<std::string_view> &s, size_t i) {
    return i < s.size() ? s[i] : std::string_view();
}

// The first line of *in (without '\n'), removed from *in.
inline std::string_view take_line(std::string_view *in) {
    size_t nl = in->find('\n');
    std::string_view line = in->substr(0, nl);
    in->remove_prefix(nl == std::string_view::npos ? in->size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
}

// The first word of *in (up to a space), removed from *in with the space.
inline std::string_view take_word(std::string_view *in) {
    size_t sp = in->find(' ');
    std::string_view w = in->substr(0, sp);
    in->remove_prefix(sp == std::string_view::npos ? in->size() : sp + 1);
    return w;
}

// A decimal number from text, dflt when there is none; clamped to
// [lo, hi] so that a fuzzed "99999999999" stays a value the caller meant.
inline long long number(std::string_view s, long long dflt, long long lo, long long hi) {
    std::string t(s.substr(0, 20));
    char *end = nullptr;
    long long v = std::strtoll(t.c_str(), &end, 10);
    if (end == t.c_str()) return dflt;
    return v < lo ? lo : v > hi ? hi : v;
}

}  // namespace fuzz
