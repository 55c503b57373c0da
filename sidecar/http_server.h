// http_server.h: the sidecar's HTTP/1.1 server (Beast, one io_context).
//
// Keep-alive sessions (the gateway pools connections); one request at a
// time per connection; request bodies over 1 MB are refused with 413 before
// they are read; an idle connection is closed after idle_ms, a reply not
// written in 30 s ends its connection (both checked once a second). The handler
// answers through Reply, possibly later (blocking invokes); a reply whose
// connection is gone is dropped.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace ow::sidecar {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;
using Reply = std::function<void(Response)>;
using Handler = std::function<void(Request &&, Reply)>;

// A request taken over once its header is read, before its body (a
// streaming web action, stream_relay.h): the connection, the bytes read
// ahead of the body, the header, and the parser that reads the body on.
using BodyParser = boost::beast::http::request_parser<boost::beast::http::buffer_body>;
struct StreamConn {
    boost::asio::ip::tcp::socket socket;
    boost::beast::flat_buffer buffer;
    Request header;
    std::unique_ptr<BodyParser> parser;
};
struct Takeover {
    std::function<bool(const Request &header)> wants;
    std::function<void(StreamConn)> take;
};

// A JSON response with Content-Type set.
Response json_response(int status, const std::string &body, bool keep_alive = true);

class HttpServer {
public:
    HttpServer(boost::asio::io_context &io, Handler handler, int64_t idle_ms);
    ~HttpServer();
    bool listen(const std::string &host, uint16_t port, std::string *err);
    boost::asio::ip::tcp::endpoint local() const;
    // Requests that t.wants go to t.take after their header (none by default).
    void set_takeover(Takeover t) { shared_->takeover = std::move(t); }
    void close();

private:
    class Session;
    // what sessions share with the server (held by both: a session whose
    // reply comes late may outlive the server)
    struct Shared {
        Handler handler;
        int64_t idle_ms;
        Takeover takeover;
        std::unordered_set<Session *> sessions;   // open ones, for the sweep
    };
    static constexpr int64_t kSweepMs = 1000;
    void accept();
    void sweep();
    boost::asio::io_context &io_;
    boost::asio::ip::tcp::acceptor acceptor_;
    boost::asio::steady_timer sweep_timer_;
    std::shared_ptr<Shared> shared_;
};

}  // namespace ow::sidecar
