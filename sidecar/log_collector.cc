// log_collector.cc: see log_collector.h.
#include "sidecar/log_collector.h"

#include <cstdio>

#include "libow/clock.h"

namespace ow::sidecar {

const char kSentinel[] = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX";
const char kTruncatedFmt[] =
    "Logs were truncated because the total bytes size exceeds the limit of "
    "%lld bytes.";
const char kCollectIssue[] =
    "There was an issue while collecting your logs. Data might be missing.";

const char *stream_name(int s) { return s == kStderr ? "stderr" : "stdout"; }

std::string format_log_line(int64_t epoch_ns, int stream, const std::string &text) {
    std::string ts = ow::rfc3339_nanos(epoch_ns);
    if (ts.size() < 30) ts.append(30 - ts.size(), ' ');
    std::string out;
    out.reserve(ts.size() + 10 + text.size());
    out += ts;
    out += ' ';
    out += stream_name(stream);
    out += ": ";
    out += text;
    return out;
}

void ActivationLogs::add(int64_t epoch_ns, int stream, const std::string &text) {
    if (truncated_) return;
    if (bytes_ + (int64_t)text.size() > limit_) {
        char msg[160];
        snprintf(msg, sizeof msg, kTruncatedFmt, (long long)limit_);
        lines_.push_back(format_log_line(epoch_ns, kStderr, msg));
        truncated_ = true;
        return;
    }
    bytes_ += (int64_t)text.size();
    lines_.push_back(format_log_line(epoch_ns, stream, text));
}

void ActivationLogs::mark_incomplete(int64_t epoch_ns) {
    if (incomplete_) return;
    incomplete_ = true;
    lines_.push_back(format_log_line(epoch_ns, kStderr, kCollectIssue));
}

void LineSplitter::feed(const char *data, size_t n,
                        const std::function<void(std::string)> &out) {
    for (size_t i = 0; i < n; i++) {
        char c = data[i];
        if (c == '\n') {
            out(std::move(partial_));
            partial_.clear();
            continue;
        }
        partial_ += c;
        if (partial_.size() >= max_) {
            out(std::move(partial_));
            partial_.clear();
        }
    }
}

void LineSplitter::finish(const std::function<void(std::string)> &out) {
    if (!partial_.empty()) out(std::move(partial_));
    partial_.clear();
}

void LogCollector::open(const std::shared_ptr<LogSink> &sink) {
    open_.push_back(sink);
}

void LogCollector::line(int stream, int64_t epoch_ns, const std::string &text) {
    if (text == kSentinel) {
        for (auto &s : open_) {
            if (!s->closed[stream]) {
                s->closed[stream] = true;
                if (s->closed[0] && s->closed[1]) finish(s);
                break;
            }
        }
        return;
    }
    std::shared_ptr<LogSink> owner;
    nlohmann::json candidates = nlohmann::json::array();
    for (auto &s : open_) {
        if (s->closed[stream]) continue;
        candidates.push_back(s->activation_id);
        owner = s;
    }
    if (candidates.size() != 1) owner.reset();
    if (owner) owner->logs.add(epoch_ns, stream, text);

    nlohmann::json rec = nlohmann::json::object();
    rec["activationId"] = owner ? nlohmann::json(owner->activation_id) : nlohmann::json();
    if (owner) {
        rec["namespace"] = owner->ns;
        rec["action"] = owner->action;
    } else {
        rec["namespace"] = default_ns;
        rec["action"] = default_action;
        if (candidates.size() > 1) rec["candidates"] = candidates;
    }
    if (!container.empty()) rec["container"] = container;
    rec["stream"] = stream_name(stream);
    rec["time"] = ow::rfc3339_nanos(epoch_ns);
    rec["message"] = text;
    emit_(rec);
}

void LogCollector::close(const std::shared_ptr<LogSink> &sink, bool incomplete,
                         int64_t epoch_ns) {
    if (sink->complete) return;
    if (incomplete) sink->logs.mark_incomplete(epoch_ns);
    finish(sink);
}

void LogCollector::close_all(int64_t epoch_ns) {
    auto copy = open_;
    for (auto &s : copy) close(s, true, epoch_ns);
}

void LogCollector::finish(std::shared_ptr<LogSink> sink) {
    if (sink->complete) return;
    sink->complete = true;
    sink->closed[0] = sink->closed[1] = true;
    open_.remove(sink);
    if (sink->on_complete) {
        auto cb = std::move(sink->on_complete);
        sink->on_complete = nullptr;
        cb();
    }
}

}  // namespace ow::sidecar
