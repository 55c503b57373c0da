// asio_clock.cc: see asio_clock.h.
#include "pool-manager/asio_clock.h"

#include "libow/clock.h"

namespace ow::pm {

int64_t AsioClock::now_ms() const { return ow::now_ms(); }

Clock::TimerId AsioClock::after(int64_t ms, std::function<void()> fn) {
    TimerId id = next_++;
    auto t = std::make_unique<boost::asio::steady_timer>(
        io_, std::chrono::milliseconds(ms < 0 ? 0 : ms));
    t->async_wait([this, id, fn = std::move(fn)](
                      const boost::system::error_code &ec) {
        if (ec) return;  // cancelled: the timer object is already gone
        timers_.erase(id);
        fn();
    });
    timers_.emplace(id, std::move(t));
    return id;
}

void AsioClock::cancel(TimerId id) {
    // Erasing cancels the wait; its handler sees operation_aborted and
    // touches nothing.
    timers_.erase(id);
}

}  // namespace ow::pm
