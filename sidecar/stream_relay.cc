// stream_relay.cc: see stream_relay.h.
#include "sidecar/stream_relay.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <limits>

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace ow::sidecar {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

const char kStreamErrorHeader[] = "X-OW-Stream-Error";

// a refusal's write and the lingering read after it
constexpr int64_t kRefusalMs = 2000;
// what is kept of a failed action's {"error": ...}
constexpr size_t kFailureBytes = 65536;

const char *stream_kind_text(StreamResult::Kind k) {
    switch (k) {
    case StreamResult::done: return "done";
    case StreamResult::client_gone: return "client gone";
    case StreamResult::too_large: return "too large";
    case StreamResult::timed_out: return "timed out";
    case StreamResult::runtime_failed: return "runtime failed";
    case StreamResult::action_failed: return "action failed";
    }
    return "?";
}

static std::string lower(std::string s) {
    for (char &c : s) c = (char)std::tolower((unsigned char)c);
    return s;
}

static bool token(const std::string &s) {
    if (s.empty()) return false;
    for (unsigned char c : s) {
        if (c <= ' ' || c >= 127 || std::strchr("()<>@,;:\\\"/[]?={}", c)) return false;
    }
    return true;
}

ow::HeaderList relayable_headers(const ow::HeaderList &in) {
    static const char *hop[] = {"connection", "keep-alive", "proxy-connection",
                                "transfer-encoding", "content-length", "te", "trailer",
                                "upgrade", "x-ow-stream-error"};
    ow::HeaderList out;
    for (const auto &h : in) {
        std::string name = lower(h.first);
        bool drop = !token(h.first) ||
                    h.second.find_first_of(std::string("\r\n\0", 3)) != std::string::npos;
        for (const char *n : hop) drop = drop || name == n;
        if (!drop) out.push_back(h);
    }
    return out;
}

static bool bodiless(int status) { return status == 204 || status == 304; }

std::string stream_head_text(int status, const ow::HeaderList &headers) {
    http::status st = http::int_to_status((unsigned)status);
    std::string reason = st == http::status::unknown ? "Unknown"
                                                     : std::string(http::obsolete_reason(st));
    std::string s = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
    for (const auto &h : headers) s += h.first + ": " + h.second + "\r\n";
    if (!bodiless(status)) s += "Transfer-Encoding: chunked\r\n";
    s += "Connection: close\r\n\r\n";
    return s;
}

static std::string chunk_size_line(size_t n) {
    char b[24];
    int len = std::snprintf(b, sizeof b, "%zx\r\n", n);
    return std::string(b, (size_t)len);
}

// n bytes of piece as one chunk (its size line in *frame, which must live
// until written), then the last chunk when last: the buffers of one write
static std::array<asio::const_buffer, 4> chunk_buffers(std::string *frame, const char *piece,
                                                       size_t n, bool last) {
    static const char crlf[] = "\r\n", end_chunk[] = "0\r\n\r\n";
    std::array<asio::const_buffer, 4> bufs;
    size_t k = 0;
    if (n > 0) {
        *frame = chunk_size_line(n);
        bufs[k++] = asio::buffer(*frame);
        bufs[k++] = asio::buffer(piece, n);
        bufs[k++] = asio::buffer(crlf, 2);
    }
    if (last) bufs[k++] = asio::buffer(end_chunk, 5);
    return bufs;   // the rest are empty buffers
}

// Writes bufs as far as the socket takes them now (it is non-blocking),
// then the rest through the io loop; done(ec) follows either way. A piece
// usually goes in one system call and the relay reads on at once: asio's
// async_write would cut it into 64 KiB writes, each completed through the
// io loop with epoll polled in between.
template <class Socket, class Buffers, class Done>
static void write_piece(Socket &s, const Buffers &bufs, Done done) {
    beast::buffers_suffix<Buffers> rest(bufs);
    while (beast::buffer_bytes(rest) > 0) {
        error_code ec;
        size_t n = s.write_some(rest, ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) break;
        if (ec) return done(ec);
        rest.consume(n);
    }
    if (beast::buffer_bytes(rest) == 0) return done(error_code{});
    asio::async_write(s, rest, [](error_code ec, size_t total) -> size_t {
        return ec ? 0 : std::numeric_limits<size_t>::max();
    }, [done](error_code ec, size_t) { done(ec); });
}

// After a read of got bytes into piece: what else the socket holds now,
// into the same piece, up to want bytes (a failure is for the next read
// to see). One write then takes what several of the peer's writes gave.
template <class Socket>
static size_t read_more(Socket &s, char *piece, size_t got, size_t want) {
    while (got < want) {
        error_code more;
        size_t m = s.read_some(asio::buffer(piece + got, want - got), more);
        if (more) break;
        got += m;
    }
    return got;
}

StreamRelay::StreamRelay(asio::io_context &io, StreamConn conn)
    : client_(std::move(conn.socket)), client_buf_(std::move(conn.buffer)),
      up_(std::move(conn.parser)), runtime_(io), deadline_(io),
      up_piece_(new char[kStreamPieceBytes]), down_piece_(new char[kStreamPieceBytes]) {
    // the size is the namespace's maximum's business (up_read), not Beast's.
    // Not boost::none: Boost 1.74 compares a Content-Length with an empty
    // optional as larger, and refuses every sized body
    up_->body_limit(std::numeric_limits<uint64_t>::max());
    down_.body_limit(std::numeric_limits<uint64_t>::max());
    // Beast reads as much as the buffer has room for (512 bytes at least):
    // room for a whole piece, or a 2 GiB body costs millions of reads
    client_buf_.reserve(kStreamPieceBytes);
    runtime_buf_.reserve(kStreamPieceBytes);
}

StreamRelay::~StreamRelay() { close_pipe(); }

void StreamRelay::close_pipe() {
    if (pipe_r_ >= 0) ::close(pipe_r_);
    if (pipe_w_ >= 0) ::close(pipe_w_);
    pipe_r_ = pipe_w_ = -1;
}

void StreamRelay::start(const Endpoint &ep, std::string meta, Options opt, Hooks hooks) {
    opt_ = opt;
    hooks_ = std::move(hooks);
    auto self = shared_from_this();
    deadline_.expires_after(std::chrono::milliseconds(opt_.timeout_ms));
    deadline_.async_wait([self](error_code ec) {
        if (!ec && !self->ended_) self->end(StreamResult::timed_out);
    });
    meta += '\n';
    // A sized body is passed on as it came: no parser copy here and no
    // chunk framing to parse in the runtime (a third of the CPU both spent
    // per byte of a large upload)
    auto length = up_->content_length();
    up_sized_ = length && !up_->chunked();
    head_ = "POST /stream HTTP/1.1\r\nHost: runtime\r\n"
            "Content-Type: application/octet-stream\r\nConnection: close\r\n";
    if (up_sized_) {
        up_left_ = *length;
        head_ += "Content-Length: " + std::to_string(meta.size() + up_left_) + "\r\n\r\n" +
                 meta;
    } else {
        head_ += "Transfer-Encoding: chunked\r\n\r\n" + chunk_size_line(meta.size()) + meta +
                 "\r\n";
    }
    runtime_.async_connect(ep, [self](error_code ec) {
        if (self->ended_) return;
        if (ec) return self->end(StreamResult::runtime_failed);
        // room for a whole piece in flight: with the default a Unix socket
        // takes a piece in four writes (the kernel caps it at wmem_max)
        error_code ignored;
        self->runtime_.set_option(asio::socket_base::send_buffer_size((int)kStreamPieceBytes * 2),
                                  ignored);
        self->runtime_.non_blocking(true, ignored);
        self->client_.non_blocking(true, ignored);
        asio::async_write(self->runtime_, asio::buffer(self->head_),
                          [self](error_code ec, size_t) {
            if (self->ended_) return;
            if (ec) return self->end(StreamResult::runtime_failed);
            self->up_sized_ ? self->up_read_sized() : self->up_read();
        });
        self->down_header();
    });
}

// ---- up: the client's body to the runtime

void StreamRelay::up_read() {
    if (up_->is_done()) return up_write(0, true);
    auto &b = up_->get().body();
    b.data = up_piece_.get();
    b.size = kStreamPieceBytes;
    auto self = shared_from_this();
    http::async_read_some(client_, client_buf_, *up_, [self](error_code ec, size_t) {
        if (self->ended_) return;
        if (ec == http::error::need_buffer) ec = {};
        // the end of the connection before the end of the body included
        if (ec) return self->end(StreamResult::client_gone);
        size_t got = kStreamPieceBytes - self->up_->get().body().size;
        self->result_.bytes_in += got;
        if (self->opt_.max_in_bytes && self->result_.bytes_in > self->opt_.max_in_bytes)
            return self->end(StreamResult::too_large);
        if (got == 0 && !self->up_->is_done()) return self->up_read();
        self->up_write(got, self->up_->is_done());
    });
}

// A sized body: what came with the header first, then the socket's bytes
// straight into the piece, never past the length.
void StreamRelay::up_read_sized() {
    if (up_left_ == 0) return up_write(0, true);
    size_t want = (size_t)std::min<uint64_t>(up_left_, kStreamPieceBytes);
    if (client_buf_.size() == 0 && !splice_off_) {
        int fds[2];
        if (pipe_r_ >= 0 || ::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
            if (pipe_r_ < 0) {
                pipe_r_ = fds[0];
                pipe_w_ = fds[1];
                ::fcntl(pipe_w_, F_SETPIPE_SZ, (int)kStreamPieceBytes);   // at best
            }
            return up_splice();
        }
        splice_off_ = true;
    }
    if (client_buf_.size() > 0) {
        size_t n = std::min(want, client_buf_.size());
        std::memcpy(up_piece_.get(), client_buf_.data().data(), n);
        client_buf_.consume(n);
        up_left_ -= n;
        result_.bytes_in += n;
        return up_write(n, up_left_ == 0);
    }
    auto self = shared_from_this();
    client_.async_read_some(asio::buffer(up_piece_.get(), want), [self, want](error_code ec,
                                                                              size_t n) {
        if (self->ended_) return;
        // the end of the connection before the end of the body included
        if (ec) return self->end(StreamResult::client_gone);
        n = read_more(self->client_, self->up_piece_.get(), n, want);
        self->up_left_ -= n;
        self->result_.bytes_in += n;
        if (self->opt_.max_in_bytes && self->result_.bytes_in > self->opt_.max_in_bytes)
            return self->end(StreamResult::too_large);
        self->up_write(n, self->up_left_ == 0);
    });
}

// The sized body's rest: what the pipe holds goes to the runtime first,
// then the client's socket fills the pipe again, a piece at most. Each
// side that cannot go on waits for its socket; until the body's end.
void StreamRelay::up_splice() {
    const unsigned flags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
    auto self = shared_from_this();
    for (;;) {
        while (in_pipe_ > 0) {
            ssize_t m = ::splice(pipe_r_, nullptr, runtime_.native_handle(), nullptr, in_pipe_,
                                 flags);
            if (m > 0) {
                in_pipe_ -= (size_t)m;
                continue;
            }
            if (m < 0 && errno == EAGAIN) {
                runtime_.async_wait(asio::socket_base::wait_write, [self](error_code ec) {
                    if (self->ended_) return;
                    if (ec) return self->end(StreamResult::runtime_failed);
                    self->up_splice();
                });
                return;
            }
            // the runtime closed its side: fine once it answered in full
            // (an action that does not read its whole input)
            if (down_done_) return;
            return end(StreamResult::runtime_failed);
        }
        if (up_left_ == 0) {
            up_done_ = true;
            return;
        }
        size_t want = (size_t)std::min<uint64_t>(up_left_, kStreamPieceBytes);
        ssize_t n = ::splice(client_.native_handle(), nullptr, pipe_w_, nullptr, want, flags);
        if (n > 0) {
            up_left_ -= (size_t)n;
            in_pipe_ = (size_t)n;
            result_.bytes_in += (uint64_t)n;
            if (opt_.max_in_bytes && result_.bytes_in > opt_.max_in_bytes)
                return end(StreamResult::too_large);
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            client_.async_wait(asio::socket_base::wait_read, [self](error_code ec) {
                if (self->ended_) return;
                if (ec) return self->end(StreamResult::client_gone);
                self->up_splice();
            });
            return;
        }
        if (n < 0 && errno == EINVAL && result_.bytes_in == 0) {
            // a socket the kernel cannot splice from: read it instead
            splice_off_ = true;
            return up_read_sized();
        }
        // the end of the connection before the end of the body included
        return end(StreamResult::client_gone);
    }
}

void StreamRelay::up_write(size_t n, bool last) {
    std::array<asio::const_buffer, 4> bufs;
    if (up_sized_) bufs[0] = asio::buffer(up_piece_.get(), n);
    else bufs = chunk_buffers(&frame_, up_piece_.get(), n, last);
    auto self = shared_from_this();
    write_piece(runtime_, bufs, [self, last](error_code ec) {
        if (self->ended_) return;
        if (ec) {
            // the runtime closed its side: fine once it answered in full
            // (an action that does not read its whole input)
            if (self->down_done_) return;
            return self->end(StreamResult::runtime_failed);
        }
        if (last) {
            self->up_done_ = true;
            return;
        }
        self->up_sized_ ? self->up_read_sized() : self->up_read();
    });
}

// ---- down: the runtime's answer to the client

void StreamRelay::down_header() {
    auto self = shared_from_this();
    http::async_read_header(runtime_, runtime_buf_, down_, [self](error_code ec, size_t) {
        if (self->ended_) return;
        if (ec) return self->end(StreamResult::runtime_failed);
        auto &h = self->down_.get();
        self->result_.status = (int)h.result_int();
        if (h.find(kStreamErrorHeader) != h.end()) return self->collect_failure();
        if (self->result_.status < 200 || self->result_.status > 999)
            return self->end(StreamResult::runtime_failed);
        ow::HeaderList hs;
        for (const auto &f : h) hs.emplace_back(std::string(f.name_string()), std::string(f.value()));
        hs = relayable_headers(hs);
        self->result_.headers = hs;
        if (self->hooks_.head) self->hooks_.head(self->result_.status, hs);
        self->head_ = stream_head_text(self->result_.status, hs);
        self->result_.head_sent = true;
        asio::async_write(self->client_, asio::buffer(self->head_), [self](error_code ec, size_t) {
            if (self->ended_) return;
            if (ec) return self->end(StreamResult::client_gone);
            bool verbatim = self->down_.chunked() && !bodiless(self->result_.status);
            verbatim ? self->down_copy() : self->down_read();
        });
    });
}

// A chunked answer goes on as it came: its framing is already what the
// client's answer needs (stream_head_text says chunked), so re-framing it
// would only copy every byte once more. A piece at a time: what came with
// the header first, then what the socket holds (up to a piece). Not
// spliced like a sized upload: the framing must be read, and a peek plus
// two splices per chunk cost more CPU (measured) than a read and a write
// per piece.
void StreamRelay::down_copy() {
    if (runtime_buf_.size() > 0) {
        size_t got = std::min(runtime_buf_.size(), kStreamPieceBytes);
        std::memcpy(down_piece_.get(), runtime_buf_.data().data(), got);
        runtime_buf_.consume(got);
        return down_pass(got);
    }
    auto self = shared_from_this();
    runtime_.async_read_some(asio::buffer(down_piece_.get(), kStreamPieceBytes),
                             [self](error_code ec, size_t got) {
        if (self->ended_) return;
        // closed before the last chunk: the action's answer is cut
        if (ec) return self->end(StreamResult::runtime_failed);
        self->down_pass(read_more(self->runtime_, self->down_piece_.get(), got,
                                  kStreamPieceBytes));
    });
}

// got bytes of the piece: their framing checked, then written as they are
// (nothing after the body's end).
void StreamRelay::down_pass(size_t got) {
    size_t n = down_chunks_.scan(down_piece_.get(), got);
    if (down_chunks_.malformed()) return end(StreamResult::runtime_failed);
    auto self = shared_from_this();
    write_piece(client_, std::array<asio::const_buffer, 1>{asio::buffer(down_piece_.get(), n)},
                [self](error_code ec) {
        if (self->ended_) return;
        if (ec) return self->end(StreamResult::client_gone);
        self->result_.bytes_out = self->down_chunks_.payload();
        if (!self->down_chunks_.done()) return self->down_copy();
        self->down_done_ = true;
        self->end(StreamResult::done);
    });
}

// An answer of known or unbounded length (not chunked): through the
// parser, re-framed as chunks.
void StreamRelay::down_read() {
    if (down_.is_done()) return down_write(0, true);
    auto &b = down_.get().body();
    b.data = down_piece_.get();
    b.size = kStreamPieceBytes;
    auto self = shared_from_this();
    http::async_read_some(runtime_, runtime_buf_, down_, [self](error_code ec, size_t) {
        if (self->ended_) return;
        if (ec == http::error::need_buffer) ec = {};
        // a connection closed before the last chunk: the action's answer is cut
        if (ec) return self->end(StreamResult::runtime_failed);
        // and what else the socket holds now, into the same piece: one
        // write for several of the runtime's chunks, or for a chunk that
        // came in two reads (a failure is for the next read to see)
        for (int i = 0; i < 64 && !self->down_.is_done() && self->down_.get().body().size > 0;
             i++) {
            error_code more;
            http::read_some(self->runtime_, self->runtime_buf_, self->down_, more);
            if (more) break;
        }
        size_t got = kStreamPieceBytes - self->down_.get().body().size;
        if (bodiless(self->result_.status)) got = 0;   // HTTP: none may follow
        if (got == 0 && !self->down_.is_done()) return self->down_read();
        self->down_write(got, self->down_.is_done());
    });
}

void StreamRelay::down_write(size_t n, bool last) {
    if (bodiless(result_.status)) {
        if (last) {
            down_done_ = true;
            end(StreamResult::done);
        }
        return;
    }
    auto bufs = chunk_buffers(&down_frame_, down_piece_.get(), n, last);
    auto self = shared_from_this();
    write_piece(client_, bufs, [self, n, last](error_code ec) {
        if (self->ended_) return;
        if (ec) return self->end(StreamResult::client_gone);
        self->result_.bytes_out += n;
        if (last) {
            self->down_done_ = true;
            return self->end(StreamResult::done);
        }
        self->down_read();
    });
}

// The runtime's error answer: its body is read (bounded) for the refusal.
void StreamRelay::collect_failure() {
    if (down_.is_done()) return end(StreamResult::action_failed);
    auto &b = down_.get().body();
    b.data = down_piece_.get();
    b.size = kStreamPieceBytes;
    auto self = shared_from_this();
    http::async_read_some(runtime_, runtime_buf_, down_, [self](error_code ec, size_t) {
        if (self->ended_) return;
        if (ec == http::error::need_buffer) ec = {};
        if (ec) return self->end(StreamResult::action_failed);
        size_t got = kStreamPieceBytes - self->down_.get().body().size;
        size_t room = kFailureBytes - std::min(kFailureBytes, self->result_.failure.size());
        self->result_.failure.append(self->down_piece_.get(), std::min(got, room));
        self->collect_failure();
    });
}

// ---- the end

void StreamRelay::end(StreamResult::Kind k) {
    if (ended_) return;
    ended_ = true;
    result_.kind = k;
    deadline_.cancel();
    error_code ec;
    runtime_.close(ec);
    if (!result_.head_sent && k != StreamResult::client_gone && hooks_.refusal) {
        // the client is told why, in OpenWhisk's format; its read stops
        client_.cancel(ec);
        refusal_ = std::make_shared<Response>(hooks_.refusal(result_));
        return write_refusal();
    }
    if (k == StreamResult::done) client_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    finish();
}

void StreamRelay::refuse(Response r, std::function<void()> done) {
    ended_ = true;
    refusal_ = std::make_shared<Response>(std::move(r));
    hooks_.done = [done](const StreamResult &) { done(); };
    write_refusal();
}

// The refusal, then a lingering read of what the client still sends (its
// body, which nobody reads), so that closing with unread bytes does not
// reset the connection before the client read the refusal. Both within
// kRefusalMs.
void StreamRelay::write_refusal() {
    auto self = shared_from_this();
    refusal_->keep_alive(false);
    refusal_->prepare_payload();
    deadline_.expires_after(std::chrono::milliseconds(kRefusalMs));
    deadline_.async_wait([self](error_code ec) {
        if (ec) return;
        error_code ignored;
        self->client_.close(ignored);
    });
    http::async_write(client_, *refusal_, [self](error_code ec, size_t) {
        if (ec) return self->finish();
        error_code ignored;
        self->client_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
        self->linger();
    });
}

void StreamRelay::linger() {
    auto self = shared_from_this();
    client_.async_read_some(asio::buffer(down_piece_.get(), kStreamPieceBytes),
                            [self](error_code ec, size_t) {
        if (ec) return self->finish();
        self->linger();
    });
}

void StreamRelay::finish() {
    if (finished_) return;
    finished_ = true;
    close_pipe();
    error_code ec;
    deadline_.cancel();
    client_.close(ec);
    runtime_.close(ec);
    if (hooks_.done) {
        auto done = std::move(hooks_.done);
        done(result_);
    }
}

}  // namespace ow::sidecar
