// fakes_test.h: a fake clock, backend, action source and warm table for the
// unit tests (no processes, no Redis, no wall clock).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "pool-manager/action_source.h"
#include "pool-manager/backends/backend.h"
#include "pool-manager/clock.h"
#include "pool-manager/warm_table.h"

namespace ow::pm::test {

class FakeClock : public Clock {
public:
    int64_t now = 1000000;
    int64_t now_ms() const override { return now; }
    TimerId after(int64_t ms, std::function<void()> fn) override {
        TimerId id = next_++;
        timers_[id] = {now + ms, std::move(fn)};
        return id;
    }
    void cancel(TimerId id) override { timers_.erase(id); }
    // Moves time forward, firing due timers in order.
    void advance(int64_t ms) {
        int64_t end = now + ms;
        for (;;) {
            auto due = timers_.end();
            for (auto it = timers_.begin(); it != timers_.end(); ++it) {
                if (it->second.first <= end &&
                    (due == timers_.end() || it->second.first < due->second.first)) {
                    due = it;
                }
            }
            if (due == timers_.end()) break;
            now = due->second.first;
            auto fn = std::move(due->second.second);
            timers_.erase(due);
            fn();
        }
        now = end;
    }
    size_t pending() const { return timers_.size(); }

private:
    TimerId next_ = 1;
    std::map<TimerId, std::pair<int64_t, std::function<void()>>> timers_;
};

class FakeBackend : public Backend {
public:
    std::vector<ContainerSpec> started;
    std::map<std::string, StartCallback> pending;
    std::vector<std::pair<std::string, int64_t>> stopped;
    std::map<std::string, int64_t> adopted;
    bool adopt_ok = true;
    ExitCallback exit_cb;

    void start(const ContainerSpec &spec, StartCallback done) override {
        started.push_back(spec);
        pending[spec.id] = std::move(done);
    }
    void stop(const std::string &id, int64_t grace_ms) override {
        stopped.emplace_back(id, grace_ms);
    }
    bool adopt(const std::string &id, int64_t pid) override {
        if (!adopt_ok) return false;
        adopted[id] = pid;
        return true;
    }
    void on_exit(ExitCallback cb) override { exit_cb = std::move(cb); }

    void ready(const std::string &id, const std::string &addr) {
        StartResult r;
        r.status = StartResult::ok;
        r.addr = addr;
        r.pid = 4242;
        finish(id, r);
    }
    void finish(const std::string &id, const StartResult &r) {
        auto cb = std::move(pending.at(id));
        pending.erase(id);
        cb(r);
    }
    void exit(const std::string &id, int status) { exit_cb(id, status); }
};

class FakeActions : public ActionSource {
public:
    std::map<std::string, ActionLookup> docs;  // "ns/path" → lookup
    int lookups = 0;
    void put(const std::string &action, const std::string &kind, int64_t concurrency = 1,
             int64_t memory = 256, int64_t instances = 0) {
        ActionLookup l;
        l.status = ActionLookup::ok;
        l.info.kind = kind;
        l.info.concurrency = concurrency;
        l.info.memory = memory;
        if (instances > 0) l.info.limits = {{"instances", instances}};
        docs[action] = l;
    }
    ActionLookup lookup(const std::string &ns, const std::string &path) override {
        lookups++;
        auto it = docs.find(ns + "/" + path);
        if (it == docs.end()) {
            ActionLookup l;
            l.status = ActionLookup::not_found;
            return l;
        }
        return it->second;
    }
};

class FakeWarm : public WarmSink {
public:
    std::vector<std::pair<std::string, std::string>> ops;  // (op, id)
    std::map<std::string, Container> table;
    void add(const Container &c) override {
        ops.emplace_back("add", c.id);
        table[c.id] = c;
    }
    void del(const Container &c) override {
        ops.emplace_back("del", c.id);
        table.erase(c.id);
    }
};

}  // namespace ow::pm::test
