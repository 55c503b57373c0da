// log.cc: see log.h.
#include "libow/log.h"

#include <cerrno>
#include <climits>
#include <unistd.h>

#include "libow/clock.h"

namespace ow {

static int g_fd = 2;
static LogLevel g_min = LogLevel::info;
static nlohmann::json g_context = nlohmann::json::object();

void log_setup(int fd, LogLevel min_level) {
    g_fd = fd;
    g_min = min_level;
}

void log_context(const std::string &key, const nlohmann::json &value) {
    g_context[key] = value;
}

static void write_all(int fd, const char *p, size_t left) {
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;  // nowhere to report a failing log stream
        }
        p += n;
        left -= (size_t)n;
    }
}

void write_line(int fd, const std::string &line) {
    std::string buf = line;
    buf += '\n';
    write_all(fd, buf.data(), buf.size());
}

// The line of an event, '\n' included; "" below the minimum level.
static std::string event_line(LogLevel level, const char *event,
                              const nlohmann::json &fields) {
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (level < g_min) return "";
    nlohmann::json line = nlohmann::json::object();
    line["ts"] = now_ms();
    line["level"] = names[(int)level];
    line["event"] = event;
    for (auto it = g_context.begin(); it != g_context.end(); ++it)
        line[it.key()] = it.value();
    if (fields.is_object())
        for (auto it = fields.begin(); it != fields.end(); ++it)
            line[it.key()] = it.value();
    std::string out = json_dump(line);
    out += '\n';
    return out;
}

void log_event(LogLevel level, const char *event, const nlohmann::json &fields) {
    std::string line = event_line(level, event, fields);
    if (!line.empty()) write_all(g_fd, line.data(), line.size());
}

void LogBatch::add(LogLevel level, const char *event, const nlohmann::json &fields) {
    std::string line = event_line(level, event, fields);
    if (buf_.size() + line.size() > PIPE_BUF) flush();
    buf_ += line;
}

void LogBatch::flush() {
    if (buf_.empty()) return;
    write_all(g_fd, buf_.data(), buf_.size());
    buf_.clear();
}

}  // namespace ow
