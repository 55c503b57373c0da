// clock.h: time and timers as an interface, so the capacity and collector
// logic run under a fake clock in unit tests (no wall clock in tests).
#pragma once

#include <cstdint>
#include <functional>

namespace ow::pm {

class Clock {
public:
    using TimerId = uint64_t;
    virtual ~Clock() = default;
    // Epoch ms: the sidecars report lastUsed as epoch ms, so idle ages are
    // computed on the same scale.
    virtual int64_t now_ms() const = 0;
    // Runs fn once after ms (on the io thread). Returns an id for cancel().
    virtual TimerId after(int64_t ms, std::function<void()> fn) = 0;
    // Cancels a timer that has not fired; unknown ids are ignored.
    virtual void cancel(TimerId id) = 0;
};

}  // namespace ow::pm
