// ws_frame.h: the framing of a WebSocket streaming handler's messages
// between the sidecar and the runtime (docs/websockets.md, "The streaming
// handler"): inside POST /stream's chunked bodies, after the first JSON
// line, each message is
//
//   1 byte type (1 text, 2 binary, 8 close) | 4 bytes length, big-endian |
//   payload (a close's: 2 bytes code, big-endian, then a reason)
//
// Chunk boundaries mean nothing: a frame may span chunks and a chunk hold
// several frames. A reader takes at most max_payload bytes of payload: a
// longer frame is an error (the sidecar closes with 1009), as is an
// unknown type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ow::sidecar {

enum class WsFrameType : uint8_t { text = 1, binary = 2, close = 8 };

constexpr size_t kWsFrameHeaderBytes = 5;

// The 5-byte header of a frame of len bytes.
std::string ws_frame_header(WsFrameType type, uint32_t len);

// A close frame's payload: the code, big-endian.
std::string ws_close_payload(uint16_t code);
// The code of a close payload; 1005 (none given) when shorter than 2 bytes.
uint16_t ws_close_code(const std::string &payload);

class WsFrameReader {
public:
    enum class Status { more, frame, too_big, bad_type };

    explicit WsFrameReader(uint64_t max_payload) : max_(max_payload) {}

    // Takes bytes from data (at most n); *used says how many. frame: a whole
    // frame is in type() and payload() (until the next feed); more: all of
    // data went into a frame not yet whole; too_big, bad_type: the stream is
    // malformed (nothing more may be fed).
    Status feed(const char *data, size_t n, size_t *used);

    WsFrameType type() const { return type_; }
    std::string &payload() { return payload_; }

private:
    uint64_t max_;
    char head_[kWsFrameHeaderBytes];
    size_t head_len_ = 0;
    uint32_t want_ = 0;
    bool in_payload_ = false, done_ = false;
    WsFrameType type_ = WsFrameType::text;
    std::string payload_;
};

}  // namespace ow::sidecar
