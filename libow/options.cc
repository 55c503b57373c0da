// options.cc: the options table parser (see options.h).
#include "libow/options.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <sstream>

namespace ow {

Options::Options(const OptionSpec *table, size_t n, std::string env_prefix)
    : table_(table), n_(n), prefix_(std::move(env_prefix)) {}

std::string Options::env_name(const char *name) const {
    std::string e = prefix_;
    for (const char *p = name; *p; p++)
        e += *p == '-' ? '_' : (char)std::toupper((unsigned char)*p);
    return e;
}

bool Options::parse(int argc, const char *const *argv, std::string *err) {
    std::map<std::string, std::string> flags;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--") {
            for (i++; i < argc; i++) rest_.push_back(argv[i]);
            break;
        }
        if (a == "--help" || a == "-h") { help_ = true; continue; }
        if (a.size() < 3 || a.compare(0, 2, "--") != 0) {
            *err = "unexpected argument: " + a;
            return false;
        }
        std::string name = a.substr(2), value;
        bool have_value = false;
        size_t eq = name.find('=');
        if (eq != std::string::npos) {
            value = name.substr(eq + 1);
            name.resize(eq);
            have_value = true;
        }
        bool known = false;
        for (size_t k = 0; k < n_; k++)
            if (name == table_[k].name) known = true;
        if (!known) { *err = "unknown option: --" + name; return false; }
        if (!have_value) {
            if (i + 1 >= argc) { *err = "--" + name + " needs a value"; return false; }
            value = argv[++i];
        }
        flags[name] = value;
    }
    for (size_t k = 0; k < n_; k++) {
        const char *name = table_[k].name;
        auto f = flags.find(name);
        if (f != flags.end()) { values_[name] = f->second; continue; }
        const char *env = std::getenv(env_name(name).c_str());
        values_[name] = env ? env : table_[k].def;
        if (env) from_env_.insert(name);
    }
    return true;
}

const std::string &Options::get(const std::string &name) const {
    static const std::string empty;
    auto it = values_.find(name);
    return it == values_.end() ? empty : it->second;
}

std::string Options::describe(const std::string &name) const {
    std::string d = "--" + name + " \"" + get(name) + "\"";
    if (from_env_.count(name)) d += " (from " + env_name(name.c_str()) + ")";
    return d;
}

static bool parse_int(const std::string &s, int64_t *out, size_t *used) {
    if (s.empty()) return false;
    char *end = nullptr;
    errno = 0;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (errno || end == s.c_str()) return false;
    *used = (size_t)(end - s.c_str());
    *out = v;
    return true;
}

bool Options::get_int(const std::string &name, int64_t *out) const {
    size_t used;
    const std::string &s = get(name);
    return parse_int(s, out, &used) && used == s.size();
}

bool Options::get_duration_ms(const std::string &name, int64_t *out) const {
    size_t used;
    int64_t v;
    const std::string &s = get(name);
    if (!parse_int(s, &v, &used) || v < 0) return false;
    std::string unit = s.substr(used);
    int64_t mul;
    if (unit.empty() || unit == "s") mul = 1000;
    else if (unit == "ms") mul = 1;
    else if (unit == "m") mul = 60000;
    else if (unit == "h") mul = 3600000;
    else return false;
    *out = v * mul;
    return true;
}

std::string Options::usage(const std::string &synopsis) const {
    std::ostringstream o;
    o << "usage: " << synopsis << "\n";
    for (size_t k = 0; k < n_; k++) {
        o << "  --" << table_[k].name << " VALUE\n      " << table_[k].help
          << " (default: " << (*table_[k].def ? table_[k].def : "none")
          << "; env " << env_name(table_[k].name) << ")\n";
    }
    return o.str();
}

bool OptionCheck::expect(const char *name, bool good, const std::string &expected) {
    if (!good) errors_.push_back(opts_.describe(name) + ": expected " + expected);
    return good;
}

bool OptionCheck::integer(const char *name, int64_t *out, int64_t min, int64_t max) {
    int64_t v = 0;
    bool good = opts_.get_int(name, &v) && v >= min && v <= max;
    std::string expected = "a whole number";
    bool has_min = min != std::numeric_limits<int64_t>::min();
    bool has_max = max != std::numeric_limits<int64_t>::max();
    if (has_min && has_max)
        expected += " from " + std::to_string(min) + " to " + std::to_string(max);
    else if (has_min)
        expected += " of at least " + std::to_string(min);
    else if (has_max)
        expected += " of at most " + std::to_string(max);
    if (expect(name, good, expected)) *out = v;
    return good;
}

static std::string ms_text(int64_t ms) {
    return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
}

bool OptionCheck::duration_ms(const char *name, int64_t *out, int64_t min_ms) {
    int64_t v = 0;
    bool good = opts_.get_duration_ms(name, &v) && v >= min_ms;
    std::string expected = "a duration";
    if (min_ms == 1) expected += " above 0";
    else if (min_ms > 1) expected += " of at least " + ms_text(min_ms);
    expected += " (600 = 600s, 250ms, 10m, 1h)";
    if (expect(name, good, expected)) *out = v;
    return good;
}

bool OptionCheck::host_port(const char *name, std::string *host, uint16_t *port) {
    std::string h;
    uint16_t p = 0;
    bool good = split_host_port(opts_.get(name), &h, &p);
    if (expect(name, good, "host:port (port 0 to 65535)")) {
        *host = h;
        *port = p;
    }
    return good;
}

bool OptionCheck::one_of(const char *name, std::initializer_list<const char *> values) {
    std::string expected;
    bool good = false;
    size_t i = 0;
    for (const char *v : values) {
        if (opts_.get(name) == v) good = true;
        expected += i == 0 ? "" : i + 1 == values.size() ? " or " : ", ";
        expected += v;
        i++;
    }
    return expect(name, good, expected);
}

std::string OptionCheck::errors(const std::string &prog) const {
    std::string s;
    for (const std::string &e : errors_) s += prog + ": " + e + "\n";
    return s;
}

bool split_host_port(const std::string &s, std::string *host, uint16_t *port) {
    size_t colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 >= s.size())
        return false;
    std::string h = s.substr(0, colon), p = s.substr(colon + 1);
    if (h.size() > 2 && h.front() == '[' && h.back() == ']')
        h = h.substr(1, h.size() - 2);
    int64_t v;
    size_t used;
    if (!parse_int(p, &v, &used) || used != p.size() || v < 0 || v > 65535)
        return false;
    *host = h;
    *port = (uint16_t)v;
    return true;
}

}  // namespace ow
