// log_collector.h: the runtime's stdout/stderr → activation logs.
//
// The runtime prints the sentinel XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX as the
// last line on both streams after each /run. LineSplitter turns pipe chunks
// into lines (bounded: an over-long line is cut); LogCollector attributes
// lines to activations and notices the sentinels; ActivationLogs formats and
// caps one activation's lines ("%-30s %s: %s", limits.logs).
//
// Attribution. With concurrency 1 exactly one activation is open at a time,
// so every line between its /run and its sentinels is its own. With
// concurrency > 1 the runtime's output is interleaved and carries no
// activation id: a line is attributed when exactly one activation is open on
// that stream; when several are, it belongs to none of their records (it is
// still emitted as a structured record with "activationId":null and the open
// ids in "candidates", so a log shipper keeps it), and sentinels close open
// activations in the order their /run started. Lines while nothing is open
// (runtime start-up, init) are emitted structured only.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ow::sidecar {

extern const char kSentinel[];
extern const char kTruncatedFmt[];   // "... limit of %lld bytes."
extern const char kCollectIssue[];

enum Stream { kStdout = 0, kStderr = 1 };
const char *stream_name(int s);

// "%-30s %s: %s": RFC 3339 stamp with nanoseconds padded to 30, stream, text.
std::string format_log_line(int64_t epoch_ns, int stream, const std::string &text);

// One activation's log lines, capped at limit_bytes (sum of the text bytes,
// as OpenWhisk counts them). Past the cap: one stderr truncation line, then
// nothing more.
class ActivationLogs {
public:
    explicit ActivationLogs(int64_t limit_bytes) : limit_(limit_bytes) {}
    void add(int64_t epoch_ns, int stream, const std::string &text);
    // Appends the "issue while collecting" line (sentinel deadline, EOF).
    void mark_incomplete(int64_t epoch_ns);
    const std::vector<std::string> &lines() const { return lines_; }
    bool truncated() const { return truncated_; }
    // text bytes kept (what limits.logs counts)
    int64_t bytes() const { return bytes_; }

private:
    int64_t limit_;
    int64_t bytes_ = 0;
    bool truncated_ = false;
    bool incomplete_ = false;
    std::vector<std::string> lines_;
};

// Splits a byte stream into lines; lines longer than max_line are cut into
// pieces (bounded memory whatever the runtime prints).
class LineSplitter {
public:
    explicit LineSplitter(size_t max_line) : max_(max_line) {}
    void feed(const char *data, size_t n, const std::function<void(std::string)> &out);
    // End of stream: the unterminated rest, if any, as a last line.
    void finish(const std::function<void(std::string)> &out);

private:
    size_t max_;
    std::string partial_;
};

// An activation whose logs are being collected.
struct LogSink {
    std::string activation_id;
    std::string ns;       // caller's namespace (structured records)
    std::string action;   // ns/pkg/name (structured records)
    ActivationLogs logs;
    bool closed[2] = {false, false};
    bool complete = false;
    std::function<void()> on_complete;   // called once, when both closed
    LogSink(int64_t limit) : logs(limit) {}
};

class LogCollector {
public:
    // emit: one structured JSON record per line (the sidecar prints it).
    explicit LogCollector(std::function<void(const nlohmann::json &)> emit)
        : emit_(std::move(emit)) {}

    // /run is about to be sent for this activation.
    void open(const std::shared_ptr<LogSink> &sink);
    // A line from the runtime (sentinels included).
    void line(int stream, int64_t epoch_ns, const std::string &text);
    // Stop waiting for this sink: incomplete adds the collection-issue line
    // (deadline passed, stream ended); complete otherwise (runtime refused the
    // run and will print no sentinel).
    void close(const std::shared_ptr<LogSink> &sink, bool incomplete, int64_t epoch_ns);
    // The runtime's streams ended: close every open sink as incomplete.
    void close_all(int64_t epoch_ns);
    size_t open_count() const { return open_.size(); }
    // namespace/action of structured records for lines no activation owns.
    std::string default_ns, default_action;
    // the container id every structured record carries ("" = omitted)
    std::string container;

private:
    // by value: callers pass elements of open_, which finish() erases
    void finish(std::shared_ptr<LogSink> sink);
    std::function<void(const nlohmann::json &)> emit_;
    std::list<std::shared_ptr<LogSink>> open_;
};

}  // namespace ow::sidecar
