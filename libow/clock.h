// clock.h: wall-clock helpers shared by the daemons.
#pragma once

#include <cstdint>
#include <string>

namespace ow {

// Epoch milliseconds (wall clock: activation records, X-OW-Accept-Time).
int64_t now_ms();
// Epoch nanoseconds (wall clock: log line stamps).
int64_t now_ns();
// Monotonic milliseconds (durations, deadlines that must not jump).
int64_t mono_ms();
// RFC 3339 UTC with nanoseconds, "2024-01-01T12:00:00.123456789Z", as the
// OpenWhisk invoker stamps activation log lines.
std::string rfc3339_nanos(int64_t epoch_ns);

}  // namespace ow
