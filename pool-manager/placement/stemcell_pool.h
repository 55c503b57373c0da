// stemcell_pool.h: prewarmed ("stemcell") containers per runtime kind and
// memory size.
//
// A stemcell is a sidecar + runtime started with no action
// (`ow-sidecar --stemcell <lifetime>`, sidecar/stemcell.h). A cold start
// whose kind and memory match one takes it and specializes it (POST
// /specialize: the sidecar reads the action and runs /init), so the start
// costs /init, not a process start; the pool is refilled in the background.
// Pools are per kind *and* memory because the memory limit is fixed when
// the process starts (RLIMIT_DATA, Node's --max-old-space-size, cgroup).
//
// - Stemcells are not containers of any action: never in the pool (pool.h)
//   nor in the warm table, and not counted against a namespace's cap. But
//   each is a process (a pod) on a node: with set_placement, the allocator
//   places it and the pool holds its room (Pool::hold), so nothing else is
//   placed in it; a stemcell that finds no room is not started (tried
//   again after the backoff). Taken by a cold start, its room becomes the
//   action container's, on the same node.
// - Stemcells are the first to go when room is needed for a real action
//   (make_room): the cold start waits for the stemcell's exit, when its
//   room is released (on_room_freed), as for an evicted container.
// - A stemcell unused for `ttl_ms` is stopped and replaced (a runtime that
//   sat idle for long is not the freshest process to hand an action to,
//   and a changed runtimes-exec.json is picked up).
// - A stemcell that exits is replaced; starts that fail back off (retry_ms
//   doubling to 30 s) so a broken runtime does not fork in a loop.
// - It decorates the backend for exit events: exits of stemcells stop here,
//   all others go on to the manager (backend.h: one exit callback).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pool-manager/backends/backend.h"
#include "pool-manager/clock.h"
#include "pool-manager/nodes.h"
#include "pool-manager/runtimes.h"

namespace ow::pm {

struct StemcellSpec {
    std::string kind;                  // resolved ("nodejs:20")
    std::string family;
    std::vector<std::string> command;
    int64_t memory = 256;              // MB
    int64_t count = 1;
};

// "nodejs:20:256=2,python:3.11:256=1" (kind:memory=count; "<family>:default"
// resolves through runtimes). "" = no stemcells. False with *err on a
// malformed entry or a kind not in runtimes.
bool parse_stemcells(const std::string &text, const Runtimes &runtimes,
                     std::vector<StemcellSpec> *out, std::string *err);

// The /specialize call (an interface: unit tests answer it by hand).
struct Specialized {
    enum Kind { ready, init_failed, failed };
    Kind kind = failed;
    int status = 0;            // the sidecar's HTTP status, 0 when none came
    std::string body;          // its answer
    std::string error;         // failed: what happened
};

class Specializer {
public:
    using Done = std::function<void(const Specialized &)>;
    virtual ~Specializer() = default;
    // POST addr/specialize {"action": action}; done runs once, later.
    virtual void specialize(const std::string &addr, const std::string &action,
                            int64_t timeout_ms, Done done) = 0;
};

struct StemcellOptions {
    int64_t ttl_ms = 600000;               // unused this long → replaced
    int64_t specialize_timeout_ms = 65000;  // /init may take the action's 60 s
    int64_t retry_ms = 1000;               // after a failed start, doubling
    int64_t stop_grace_ms = 2000;          // a stemcell has no work to drain
};

class Pool;
class ResourceAllocator;

class StemcellPool : public Backend {
public:
    StemcellPool(Backend &inner, Specializer &specializer, Clock &clock,
                 std::vector<StemcellSpec> specs, StemcellOptions opts);
    ~StemcellPool() override;

    // Starts filling every pool (after the startup reconcile).
    void run();
    // Stops every stemcell (pool-manager shutdown: they serve nothing, and
    // unlike containers no successor adopts them).
    void stop_all();
    // Stemcells are placed by allocator and hold their room in pool (both
    // outlive this). Without it (unit tests) they are placed nowhere.
    void set_placement(Pool *pool, ResourceAllocator *allocator) {
        pool_ = pool;
        allocator_ = allocator;
    }
    // Called when a stemcell stopped by make_room has exited and its room
    // is free.
    void set_on_room_freed(std::function<void()> f) { on_room_freed_ = std::move(f); }
    // A real action needs room: stops the ready stemcell that frees the
    // most memory (the oldest of those), not replaced until room is left
    // over. False when none is ready (or none holds room).
    bool make_room();

    struct Taken {
        std::string id;
        std::string addr;
        int64_t pid = 0;
        int64_t started_ms = 0;
        std::string node;   // where it runs ("" without set_placement)
    };
    // Takes the oldest ready stemcell of kind + memory (the replacement
    // starts in the background). False when none is ready. With command,
    // a pool matches when it runs that command (runtimes-exec.json may
    // list one runtime under two names: nodejs:20 and nodejs:default).
    bool take(const std::string &kind, int64_t memory, Taken *out,
              const std::vector<std::string> *command = nullptr);
    // Stops a taken stemcell that will not be specialized.
    void discard(const Taken &cell);
    // Specializes a taken stemcell for action; done gets what a backend
    // start would give: ok (addr, pid), init_failed (the action's /init
    // failed; the sidecar exits 3 by itself) or failed (the stemcell did not
    // answer: it is stopped, and the caller starts from nothing).
    void specialize(const Taken &cell, const std::string &action, StartCallback done);

    // Counts (all pools when kind is empty).
    size_t ready(const std::string &kind = "", int64_t memory = 0) const;
    size_t starting(const std::string &kind = "", int64_t memory = 0) const;
    nlohmann::json list() const;
    void set_id_source(std::function<std::string()> f) { new_id_ = std::move(f); }

    // Backend: pass-through, except that exits of stemcells stop here.
    void start(const ContainerSpec &spec, StartCallback done) override {
        inner_.start(spec, std::move(done));
    }
    void stop(const std::string &id, int64_t grace_ms) override { inner_.stop(id, grace_ms); }
    bool adopt(const std::string &id, int64_t pid) override { return inner_.adopt(id, pid); }
    void on_exit(ExitCallback cb) override { downstream_ = std::move(cb); }

private:
    // The room a stemcell holds: on node, req (nothing when node is "").
    struct Held {
        std::string node;
        Resources req;
    };
    struct Cell {
        size_t pool = 0;
        bool ready = false;
        std::string addr;
        int64_t pid = 0;
        int64_t started_ms = 0;
        Clock::TimerId ttl = 0;
        Held held;
    };

    void fill(size_t pool);
    // false: no node has room for it (nothing started)
    bool start_cell(size_t pool);
    void on_cell_started(const std::string &id, const StartResult &res);
    void on_inner_exit(const std::string &id, int status);
    void retire(const std::string &id, const char *why);
    void release(const Held &h);
    void retry_later(size_t pool);
    size_t count(size_t pool, bool ready) const;
    bool matches(size_t pool, const std::string &kind, int64_t memory) const;

    Backend &inner_;
    Specializer &specializer_;
    Clock &clock_;
    std::vector<StemcellSpec> specs_;
    StemcellOptions opts_;
    std::function<std::string()> new_id_;
    std::map<std::string, Cell> cells_;     // starting or ready
    // stopped by us: their exits end here, releasing the room they held
    std::map<std::string, Held> stopping_;
    Pool *pool_ = nullptr;
    ResourceAllocator *allocator_ = nullptr;
    std::function<void()> on_room_freed_;
    std::vector<int64_t> backoff_ms_;       // per pool: 0 = no failure
    std::vector<Clock::TimerId> retry_;     // per pool: 0 = none pending
    bool running_ = false;
    ExitCallback downstream_;
};

}  // namespace ow::pm
