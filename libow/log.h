// log.h: structured logging, one JSON object per line.
//
// Every line carries "ts" (epoch ms), "level", "event" and the process-wide
// context fields set with log_context() (e.g. "container"), then the event's
// own fields. Lines are written with one write(2) each, so concurrent threads
// and processes sharing the fd do not interleave within a line.
//
//   ow::log_context("container", id);
//   ow::log_info("ready", {{"addr", addr}});
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "libow/json_dump.h"   // json_dump(), declared there

namespace ow {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

// Where event lines go (default 2 = stderr) and the minimum level.
void log_setup(int fd, LogLevel min_level);
// Adds a field to every later line (not thread-safe: call at startup).
void log_context(const std::string &key, const nlohmann::json &value);

void log_event(LogLevel level, const char *event,
               const nlohmann::json &fields = nlohmann::json::object());
inline void log_info(const char *e, const nlohmann::json &f = nlohmann::json::object()) {
    log_event(LogLevel::info, e, f);
}
inline void log_warn(const char *e, const nlohmann::json &f = nlohmann::json::object()) {
    log_event(LogLevel::warn, e, f);
}
inline void log_error(const char *e, const nlohmann::json &f = nlohmann::json::object()) {
    log_event(LogLevel::error, e, f);
}

// Event lines gathered and written together, in as few write(2)s as the
// atomic size of a pipe allows (PIPE_BUF: a batch never splits a line, and
// does not interleave with another writer's lines on a pipe either). For a
// thread that logs a line per item of a batch (the sidecar's record writer,
// a line per activation): one write a batch, not a line. Written by flush()
// or the destructor.
class LogBatch {
public:
    LogBatch() = default;
    LogBatch(const LogBatch &) = delete;
    LogBatch &operator=(const LogBatch &) = delete;
    ~LogBatch() { flush(); }
    void add(LogLevel level, const char *event,
             const nlohmann::json &fields = nlohmann::json::object());
    void flush();

private:
    std::string buf_;
};

// Writes one line (a '\n' is appended) to fd in a single write, retrying on
// EINTR/short writes. For other structured streams (e.g. user log records).
void write_line(int fd, const std::string &line);

}  // namespace ow
