// gate.cc: see gate.h.
#include "sidecar/gate.h"

#include <algorithm>

namespace ow::sidecar {

size_t default_buffer(int concurrency, long overflow_cap) {
    long want = std::max(2, concurrency);
    if (overflow_cap < 0) overflow_cap = 0;
    return (size_t)std::min(want, overflow_cap);
}

Gate::Gate(int concurrency, size_t buffer)
    : concurrency_(concurrency < 1 ? 1 : concurrency), buffer_(buffer) {}

Gate::Admit Gate::enter(Start start) {
    if (inflight_ < concurrency_ && queue_.empty()) {
        inflight_++;
        return Admit::run;
    }
    if (queue_.size() >= buffer_) return Admit::full;
    queue_.push_back(std::move(start));
    return Admit::queued;
}

Gate::Start Gate::leave() {
    if (inflight_ > 0) inflight_--;
    if (queue_.empty() || inflight_ >= concurrency_) return Start();
    Start next = std::move(queue_.front());
    queue_.pop_front();
    inflight_++;
    return next;
}

std::vector<Gate::Start> Gate::take_queued() {
    std::vector<Start> out(std::make_move_iterator(queue_.begin()),
                           std::make_move_iterator(queue_.end()));
    queue_.clear();
    return out;
}

}  // namespace ow::sidecar
