// chunk_scanner.h: follows HTTP/1.1 chunked framing (RFC 9112 7.1) over
// bytes that are passed on as they are, not decoded.
//
// The stream relay hands a runtime's chunked answer to the client verbatim,
// not decoded and framed again, so it must know where the body ends and
// that its framing (size lines, the CRLF after each chunk's data, the
// trailer section) is well formed before it leaves: the runtime runs the
// action's code, which may write anything on its socket. The data between
// is skipped over, not looked at byte by byte.
// Bounded: a size line or a trailer line of at most kLineBytes, a trailer
// section of at most kTrailerBytes, a chunk of at most 2^60 - 1 bytes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ow::sidecar {

class ChunkScanner {
public:
    static constexpr size_t kLineBytes = 1024;
    static constexpr size_t kTrailerBytes = 8192;

    // The next n bytes of the body at p; returns how many belong to it (n,
    // unless it ended or turned out malformed before).
    size_t scan(const char *p, size_t n);

    bool done() const { return state_ == State::done; }
    bool malformed() const { return state_ == State::malformed; }
    // data bytes passed so far: the body's length when done
    uint64_t payload() const { return payload_; }

private:
    enum class State {
        size,         // hex digits of a chunk's size
        extension,    // ";name=value" after them, up to CR
        size_lf,      // the LF ending the size line
        data,         // left_ bytes of data
        data_cr,      // the CRLF after the data
        data_lf,
        trailer,      // a trailer field's line, or the empty line ending all
        trailer_lf,
        done,
        malformed
    };
    State state_ = State::size;
    uint64_t size_ = 0;      // the size line's value so far
    unsigned digits_ = 0;
    uint64_t left_ = 0;
    size_t line_ = 0;        // bytes of the current size or trailer line
    size_t trailers_ = 0;    // bytes of the trailer section
    uint64_t payload_ = 0;

    // framing bytes up to the next chunk's data or the body's end
    size_t frame(const char *p, size_t n);
    void take(char c);
};

}  // namespace ow::sidecar
