// chunk_scanner.cc: see chunk_scanner.h.
#include "sidecar/chunk_scanner.h"

#include <algorithm>

namespace ow::sidecar {

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// a byte that may stand in an extension or a trailer line: visible, space
// or tab (obs-text included); never CR, LF, NUL or another control
static bool line_byte(char c) {
    unsigned char u = (unsigned char)c;
    return u == '\t' || (u >= ' ' && u != 127);
}

void ChunkScanner::take(char c) {
    switch (state_) {
    case State::size: {
        int v = hex_value(c);
        if (v >= 0) {
            // 15 digits: 2^60 - 1 at most, no overflow
            if (++digits_ > 15) break;
            size_ = size_ * 16 + (uint64_t)v;
            ++line_;
            return;
        }
        if (digits_ == 0) break;
        if (c == '\r') {
            state_ = State::size_lf;
            return;
        }
        if (c == ';' || c == ' ' || c == '\t') {
            state_ = State::extension;
            ++line_;
            return;
        }
        break;
    }
    case State::extension:
        if (c == '\r') {
            state_ = State::size_lf;
            return;
        }
        if (!line_byte(c) || ++line_ > kLineBytes) break;
        return;
    case State::size_lf:
        if (c != '\n') break;
        line_ = 0;
        if (size_ == 0) {
            state_ = State::trailer;
            return;
        }
        left_ = size_;
        state_ = State::data;
        return;
    case State::data_cr:
        if (c != '\r') break;
        state_ = State::data_lf;
        return;
    case State::data_lf:
        if (c != '\n') break;
        state_ = State::size;
        size_ = 0;
        digits_ = 0;
        return;
    case State::trailer:
        if (c == '\r') {
            state_ = State::trailer_lf;
            return;
        }
        if (!line_byte(c) || ++line_ > kLineBytes || ++trailers_ > kTrailerBytes) break;
        return;
    case State::trailer_lf:
        if (c != '\n') break;
        if (line_ == 0) {
            state_ = State::done;
            return;
        }
        line_ = 0;
        state_ = State::trailer;
        return;
    case State::data:
    case State::done:
    case State::malformed:
        return;
    }
    state_ = State::malformed;
}

size_t ChunkScanner::frame(const char *p, size_t n) {
    size_t i = 0;
    while (i < n && state_ != State::data && state_ != State::done &&
           state_ != State::malformed) {
        take(p[i++]);
    }
    return i;
}

size_t ChunkScanner::scan(const char *p, size_t n) {
    size_t i = 0;
    while (i < n && !done() && !malformed()) {
        i += frame(p + i, n - i);
        if (state_ != State::data) continue;
        // the data: skipped over
        uint64_t d = std::min<uint64_t>(left_, n - i);
        left_ -= d;
        payload_ += d;
        i += (size_t)d;
        if (left_ == 0) state_ = State::data_cr;
    }
    return i;
}

}  // namespace ow::sidecar
