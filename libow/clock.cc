// clock.cc: see clock.h.
#include "libow/clock.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace ow {

int64_t now_ms() { return now_ns() / 1000000; }

int64_t now_ns() {
    using namespace std::chrono;
    return duration_cast<nanoseconds>(
        system_clock::now().time_since_epoch()).count();
}

int64_t mono_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(
        steady_clock::now().time_since_epoch()).count();
}

std::string rfc3339_nanos(int64_t epoch_ns) {
    time_t secs = (time_t)(epoch_ns / 1000000000);
    long nanos = (long)(epoch_ns % 1000000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char buf[48];
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, nanos);
    return buf;
}

}  // namespace ow
