// write_now.h: an HTTP message written at once when the socket takes it.
//
// An answer or a /run request is a few hundred bytes: the socket's buffer
// nearly always takes it whole. Beast's async_write would still complete
// through the io loop (a queued handler, and epoll polled again before it
// runs); written here, the caller goes on inline, as nginx does, and only
// what the socket did not take goes the async way. The socket must be in
// non-blocking mode (non_blocking(true)).
#pragma once

#include <boost/asio/error.hpp>
#include <boost/beast/http/write.hpp>

namespace ow::sidecar {

// Writes through sr (a serializer of the message) as far as the socket
// takes it without blocking. True when it is all written, or ec holds an
// error other than would_block; false: the rest is for async_write(s, sr).
template <class Socket, class Serializer>
bool write_now(Socket &s, Serializer &sr, boost::system::error_code &ec) {
    ec = {};
    while (!sr.is_done()) {
        boost::beast::http::write_some(s, sr, ec);
        if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
            ec = {};
            return false;
        }
        if (ec) return true;
    }
    return true;
}

}  // namespace ow::sidecar
