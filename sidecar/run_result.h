// run_result.h: a runtime's /run (or /init) reply → the activation response.
//
// §9 "/run response mapping" and §5: success (0), application error (1),
// action developer error (2), whisk internal error (3). Pure function.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace ow::sidecar {

constexpr uint64_t kMaxResultBytes = 1048576;

// What came back from the runtime (filled by RuntimeClient).
struct RuntimeReply {
    enum Kind { ok, dropped, timed_out, too_large } kind = dropped;
    int status = 0;           // HTTP status when kind == ok / too_large
    std::string body;         // the body (too_large: its first bytes)
    uint64_t length = 0;      // the full body length (too_large)
};

struct RunOutcome {
    int status_code = 0;                     // 0..3
    nlohmann::json result = nlohmann::json::object();
    bool timeout = false;                    // annotation timeout
    bool recycle = false;                    // container must be replaced
    uint64_t size = 0;                       // bytes of the result JSON
};

extern const char kAbnormalRun[];
extern const char kAbnormalInit[];

const char *status_text(int status_code);   // "success", ...

// Maps a /run reply. timeout_ms is limits.timeout (for the message).
RunOutcome map_run_reply(const RuntimeReply &r, int64_t timeout_ms);

// Maps an /init reply: success (status_code 0) or a developer error.
RunOutcome map_init_reply(const RuntimeReply &r, int64_t timeout_ms);

}  // namespace ow::sidecar
