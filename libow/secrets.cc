// secrets.cc: see secrets.h.
#include "libow/secrets.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace ow {

const char kTokenHeader[] = "X-OW-Token";

// One line of at most 4 KiB; the trailing newline (and a CR) cut off.
static bool read_line(const std::string &path, std::string *out, std::string *err) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *err = path + ": " + std::strerror(errno);
        return false;
    }
    char buf[4097];
    size_t n = 0;
    for (;;) {
        ssize_t r = ::read(fd, buf + n, sizeof buf - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            *err = path + ": " + std::strerror(errno);
            ::close(fd);
            return false;
        }
        if (r == 0 || (n += (size_t)r) == sizeof buf - 1) break;
    }
    ::close(fd);
    if (n == sizeof buf - 1) {
        *err = path + ": longer than 4096 bytes";
        return false;
    }
    std::string s(buf, n);
    std::memset(buf, 0, sizeof buf);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    if (s.find('\n') != std::string::npos) {
        *err = path + ": more than one line";
        return false;
    }
    *out = std::move(s);
    return true;
}

static bool printable(const std::string &s) {
    for (unsigned char ch : s)
        if (ch <= 0x20 || ch >= 0x7f) return false;
    return true;
}

bool read_redis_credentials(const std::string &path, RedisCredentials *out, std::string *err) {
    *out = RedisCredentials();
    if (path.empty()) return true;
    std::string line;
    if (!read_line(path, &line, err)) return false;
    size_t sp = line.find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 == line.size()) {
        *err = path + ": expected one line \"USER PASSWORD\"";
        return false;
    }
    out->user = line.substr(0, sp);
    out->password = line.substr(sp + 1);
    if (!printable(out->user) || !printable(out->password)) {
        *out = RedisCredentials();
        *err = path + ": expected one line \"USER PASSWORD\" (no blanks or control "
                      "characters in either)";
        return false;
    }
    return true;
}

bool read_token_file(const std::string &path, std::string *out, std::string *err) {
    out->clear();
    if (path.empty()) return true;
    std::string line;
    if (!read_line(path, &line, err)) return false;
    if (line.size() < 32 || line.size() > 256 || !printable(line)) {
        *err = path + ": a token is one line of 32 to 256 printable characters";
        return false;
    }
    *out = std::move(line);
    return true;
}

bool token_equal(std::string_view given, std::string_view expected) {
    if (expected.empty() || given.size() != expected.size()) return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < expected.size(); i++)
        diff |= (unsigned char)(given[i] ^ expected[i]);
    return diff == 0;
}

bool bearer_equal(std::string_view authorization, std::string_view expected) {
    static const char scheme[] = "bearer";
    const size_t n = sizeof scheme - 1;
    if (authorization.size() <= n) return false;
    for (size_t i = 0; i < n; i++)
        if ((authorization[i] | 0x20) != scheme[i]) return false;
    if (authorization[n] != ' ') return false;
    size_t start = authorization.find_first_not_of(' ', n);
    if (start == std::string_view::npos) return false;
    return token_equal(authorization.substr(start), expected);
}

}  // namespace ow
