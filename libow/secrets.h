// secrets.h: the per-installation credentials of the C++ daemons, read from
// files and never from a command line or the environment (a runtime can read
// neither its sidecar's files nor /proc/<sidecar>/environ, but anyone can
// read /proc/<pid>/cmdline).
//
// Two kinds of file, each one line (a trailing newline is ignored):
//   - Redis credentials: "USER PASSWORD" (an ACL user of Redis 6+);
//   - the internal token: 32 to 256 printable characters, sent by the
//     gateway and the pool-manager as X-OW-Token on every call to a sidecar
//     or the pool-manager's control API, and compared in constant time;
//   - the metrics token, the same format: what a scraper of GET /metrics
//     sends as "Authorization: Bearer <token>" (Prometheus' own scheme).
// Error messages name the file, never its content.
#pragma once

#include <string>
#include <string_view>

namespace ow {

struct RedisCredentials {
    std::string user;
    std::string password;
    bool empty() const { return user.empty(); }
};

// path "" → empty credentials (no AUTH), true.
bool read_redis_credentials(const std::string &path, RedisCredentials *out, std::string *err);

// path "" → empty token (no check), true.
bool read_token_file(const std::string &path, std::string *out, std::string *err);

// given == expected, in time that depends only on their lengths. An empty
// expected token accepts nothing (callers skip the check when none is set).
bool token_equal(std::string_view given, std::string_view expected);

// The name of the header that carries the token.
extern const char kTokenHeader[];

// An Authorization header's value "Bearer <token>" (RFC 6750 2.1: the
// scheme in any case, one or more spaces, the token and nothing after it)
// whose token is expected, compared as token_equal does. An empty expected
// token accepts nothing.
bool bearer_equal(std::string_view authorization, std::string_view expected);

}  // namespace ow
