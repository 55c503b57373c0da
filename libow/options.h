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
// OptionCheck reads the typed values and names every bad one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <set>
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
    // The option and its value as the user gave them, for an error:
    // `--name "value"`, plus ` (from ENV_NAME)` when the environment set it.
    std::string describe(const std::string &name) const;

private:
    const OptionSpec *table_;
    size_t n_;
    std::string prefix_;
    std::map<std::string, std::string> values_;
    std::set<std::string> from_env_;
    std::vector<std::string> rest_;
    bool help_ = false;
};

// Reads typed values out of parsed Options and keeps one error per bad
// option, naming it, its value and what it must be:
//   --gc-interval "0s": expected a duration above 0 (600 = 600s, 250ms, 10m, 1h)
// A daemon reads every option through one OptionCheck, then prints errors()
// and exits when !ok(), so one run names every mistake. Each reader returns
// whether the value was good; *out is written only then.
class OptionCheck {
public:
    explicit OptionCheck(const Options &opts) : opts_(opts) {}

    bool integer(const char *name, int64_t *out,
                 int64_t min = std::numeric_limits<int64_t>::min(),
                 int64_t max = std::numeric_limits<int64_t>::max());
    // Options::get_duration_ms's units; at least min_ms.
    bool duration_ms(const char *name, int64_t *out, int64_t min_ms = 0);
    bool host_port(const char *name, std::string *host, uint16_t *port);
    bool one_of(const char *name, std::initializer_list<const char *> values);
    // The caller's own test of the value (a parser of its own, a bound that
    // depends on another option): notes an error when !good.
    bool expect(const char *name, bool good, const std::string &expected);

    bool ok() const { return errors_.empty(); }
    // One "--name \"value\": expected ..." per bad option, in the order read.
    const std::vector<std::string> &messages() const { return errors_; }
    // "<prog>: <error>\n" per bad option, in the order they were read.
    std::string errors(const std::string &prog) const;

private:
    const Options &opts_;
    std::vector<std::string> errors_;
};

// Parses "host:port" (IPv4 or name; "[v6]:port" too). False on bad input.
bool split_host_port(const std::string &s, std::string *host, uint16_t *port);

}  // namespace ow
