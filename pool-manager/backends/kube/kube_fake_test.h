// kube_fake_test.h: a scripted KubeTransport for the Kubernetes unit tests
// (no network): records every request, answers calls from a handler and
// streams from a queue of scripted watch bodies.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pool-manager/backends/kube/kube_client.h"

namespace ow::pm::test {

class FakeKube : public KubeTransport {
public:
    struct Stream {
        int status = 200;
        std::vector<std::string> chunks;  // sent in order, then the stream ends
        std::string body;                  // non-2xx body
    };

    KubeResponse call(const KubeRequest &req) override {
        std::function<KubeResponse(const KubeRequest &)> h;
        {
            std::lock_guard<std::mutex> g(mu_);
            requests_.push_back(req);
            h = handler;
        }
        cv_.notify_all();
        if (h) return h(req);
        KubeResponse r;
        r.status = 404;
        r.body = R"({"kind":"Status","code":404})";
        return r;
    }

    KubeResponse stream(const KubeRequest &req,
                        const std::function<bool(const char *, size_t)> &on_data,
                        const std::atomic<bool> &stop) override {
        Stream s;
        {
            std::unique_lock<std::mutex> lk(mu_);
            requests_.push_back(req);
            cv_.notify_all();
            // no script left: an idle watch, open until stopped
            while (streams_.empty()) {
                if (stop.load()) return KubeResponse{200, "", "", -1};
                cv_.wait_for(lk, std::chrono::milliseconds(20));
            }
            s = streams_.front();
            streams_.pop_front();
        }
        KubeResponse r;
        r.status = s.status;
        if (s.status != 200) {
            r.body = s.body;
            return r;
        }
        for (const auto &c : s.chunks) {
            if (!on_data(c.data(), c.size())) break;
        }
        return r;
    }

    void push_stream(Stream s) {
        std::lock_guard<std::mutex> g(mu_);
        streams_.push_back(std::move(s));
        cv_.notify_all();
    }
    std::vector<KubeRequest> requests() {
        std::lock_guard<std::mutex> g(mu_);
        return requests_;
    }
    void set_handler(std::function<KubeResponse(const KubeRequest &)> h) {
        std::lock_guard<std::mutex> g(mu_);
        handler = std::move(h);
    }
    // Waits (bounded) until pred holds over the recorded requests.
    bool wait_requests(const std::function<bool(const std::vector<KubeRequest> &)> &pred,
                       int64_t ms = 5000) {
        std::unique_lock<std::mutex> lk(mu_);
        return cv_.wait_for(lk, std::chrono::milliseconds(ms), [&] { return pred(requests_); });
    }

    std::function<KubeResponse(const KubeRequest &)> handler;

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<KubeRequest> requests_;
    std::deque<Stream> streams_;
};

inline KubeResponse answer(int status, const std::string &body) {
    KubeResponse r;
    r.status = status;
    r.body = body;
    return r;
}

// Runs the io_context until pred holds or 5 s pass.
inline bool run_until(boost::asio::io_context &io, const std::function<bool()> &pred,
                      int64_t ms = 5000) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!pred()) {
        if (std::chrono::steady_clock::now() > end) return false;
        io.restart();
        io.run_for(std::chrono::milliseconds(10));
    }
    return true;
}

inline KubeClient::Post io_post(boost::asio::io_context &io) {
    return [&io](std::function<void()> fn) { boost::asio::post(io, std::move(fn)); };
}

}  // namespace ow::pm::test
