// retry_after.h: run-time estimate (EWMA) and the Retry-After arithmetic:
// a sidecar's 429 (its gate is full) and the pool-manager's (every
// container of a namespace at its cap is busy) say the same thing.
//
// A refused request is told when a retry is likely to be admitted: the time
// until a request queued now behind `queued` others would start, given
// `concurrency` runs in parallel and the recent mean run time. No wall clock
// here: durations are fed in by the caller.
#pragma once

#include <cstdint>
#include <cstddef>

namespace ow {

class RunTimeEstimator {
public:
    // alpha: weight of the newest observation (0.2 ≈ the last ~5 runs).
    explicit RunTimeEstimator(double alpha = 0.2) : alpha_(alpha) {}
    void observe(int64_t duration_ms);
    bool has_value() const { return n_ > 0; }
    double mean_ms() const { return ewma_; }

private:
    double alpha_;
    double ewma_ = 0;
    uint64_t n_ = 0;
};

// Seconds to wait: ceil(mean_ms * (queued + 1) / concurrency / 1000),
// at least 1 (the header is an integer >= 1), at most max_s.
// Before any run was observed the caller passes mean_ms = 0 → 1 s.
int64_t retry_after_seconds(double mean_ms, size_t queued, int concurrency,
                            int64_t max_s);

}  // namespace ow
