// asio_clock.h: the production Clock: wall-clock now, steady timers on the
// daemon's single io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>

#include "pool-manager/clock.h"

namespace ow::pm {

class AsioClock : public Clock {
public:
    explicit AsioClock(boost::asio::io_context &io) : io_(io) {}
    int64_t now_ms() const override;
    TimerId after(int64_t ms, std::function<void()> fn) override;
    void cancel(TimerId id) override;

private:
    boost::asio::io_context &io_;
    TimerId next_ = 1;
    std::map<TimerId, std::unique_ptr<boost::asio::steady_timer>> timers_;
};

}  // namespace ow::pm
