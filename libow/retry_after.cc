// retry_after.cc: see retry_after.h.
#include "libow/retry_after.h"

#include <cmath>

namespace ow {

void RunTimeEstimator::observe(int64_t duration_ms) {
    double d = duration_ms < 0 ? 0 : (double)duration_ms;
    ewma_ = n_ == 0 ? d : alpha_ * d + (1 - alpha_) * ewma_;
    n_++;
}

int64_t retry_after_seconds(double mean_ms, size_t queued, int concurrency,
                            int64_t max_s) {
    if (concurrency < 1) concurrency = 1;
    if (max_s < 1) max_s = 1;
    if (!(mean_ms > 0)) return 1;
    double wait_ms = mean_ms * (double)(queued + 1) / concurrency;
    double s = std::ceil(wait_ms / 1000.0);
    if (s < 1) return 1;
    if (s > (double)max_s) return max_s;
    return (int64_t)s;
}

}  // namespace ow
