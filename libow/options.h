// options.h: command-line options declared once, in a table that serves the
// flags, the environment and the help text (nghttpx style).
//
// A daemon declares `static const ow::OptionSpec kOptions[] = {...}`: each row
// is a long flag name ("listen" → --listen VALUE or --listen=VALUE), its
// default (as text) and a help line. The environment variable of a row is
// <prefix><NAME> with the name upper-cased and '-' → '_' (prefix
// "OW_SIDECAR_" + "ready-fd" → OW_SIDECAR_READY_FD). Precedence: flag, then
// environment, then default. Everything after "--" is kept as rest().
// Parsing never throws; errors come back as text for the caller to print.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ow {

struct OptionSpec {
    const char *name;   // long flag without "--"
    const char *def;    // default value as text ("" = empty)
    const char *help;   // one line for --help
};

class Options {
public:
    // table must outlive the Options object (it is normally static).
    Options(const OptionSpec *table, size_t n, std::string env_prefix);

    // Parses argv (argv[0] skipped) and the environment. Returns false and
    // sets *err on an unknown flag or a missing value. "--help"/"-h" sets
    // help_requested() and returns true.
    bool parse(int argc, const char *const *argv, std::string *err);

    // The value of a declared option (flag > env > default). Asking for an
    // undeclared name is a programming error and returns "".
    const std::string &get(const std::string &name) const;
    // Integer value; false when the text is not a whole number in range.
    bool get_int(const std::string &name, int64_t *out) const;
    // Duration in ms: "600" (seconds), "600s", "250ms", "10m", "1h".
    bool get_duration_ms(const std::string &name, int64_t *out) const;

    const std::vector<std::string> &rest() const { return rest_; }
    bool help_requested() const { return help_; }
    // "  --name VALUE  help (default: x; env: PREFIX_NAME)" per row.
    std::string usage(const std::string &synopsis) const;
    std::string env_name(const char *name) const;

private:
    const OptionSpec *table_;
    size_t n_;
    std::string prefix_;
    std::map<std::string, std::string> values_;
    std::vector<std::string> rest_;
    bool help_ = false;
};

// Parses "host:port" (IPv4 or name; "[v6]:port" too). False on bad input.
bool split_host_port(const std::string &s, std::string *host, uint16_t *port);

}  // namespace ow
