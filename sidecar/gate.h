// gate.h: the concurrency gate and its bounded overflow buffer.
//
// The sidecar is the authority on how many /run requests its runtime gets at
// once: at most `concurrency` run, at most `buffer` wait (FIFO), anything
// beyond is refused (the caller answers 429 + Retry-After so the gateway
// tries another container). Pure logic, single-threaded, no I/O: the caller
// owns the event loop and calls the returned start functions itself.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <vector>

namespace ow::sidecar {

// Buffer size when the operator gives no explicit figure: max(2, concurrency),
// capped by `overflow_cap` (--overflow). Why: one round of concurrency keeps
// the runtime busy while the gateway learns that slots freed up (requests
// arrive back to back instead of after a round trip), and at least 2 lets a
// serial (concurrency 1) runtime be fed without a gap. A deeper buffer only
// hides load from the gateway, which would do better trying another
// container or scaling out (Knative's 10x-concurrency queues cost OOMs).
size_t default_buffer(int concurrency, long overflow_cap);

class Gate {
public:
    using Start = std::function<void()>;
    enum class Admit { run, queued, full };

    Gate(int concurrency, size_t buffer);

    // Admits one request. run: a slot is taken, start it now (start is not
    // called). queued: start will be returned by a later leave(). full:
    // nothing changed.
    Admit enter(Start start);
    // A running request finished. Returns the next queued start function
    // (its slot is already taken) or an empty function.
    Start leave();
    // Removes every queued request (container recycling / shutdown) and
    // returns their start functions so the caller can answer them.
    std::vector<Start> take_queued();

    int inflight() const { return inflight_; }
    size_t queued() const { return queue_.size(); }
    int concurrency() const { return concurrency_; }
    size_t buffer() const { return buffer_; }

private:
    int concurrency_;
    size_t buffer_;
    int inflight_ = 0;
    std::deque<Start> queue_;
};

}  // namespace ow::sidecar
