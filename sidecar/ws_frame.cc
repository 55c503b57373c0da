// ws_frame.cc: see ws_frame.h.
#include "sidecar/ws_frame.h"

#include <algorithm>

namespace ow::sidecar {

std::string ws_frame_header(WsFrameType type, uint32_t len) {
    std::string h(kWsFrameHeaderBytes, '\0');
    h[0] = static_cast<char>(type);
    h[1] = static_cast<char>((len >> 24) & 0xff);
    h[2] = static_cast<char>((len >> 16) & 0xff);
    h[3] = static_cast<char>((len >> 8) & 0xff);
    h[4] = static_cast<char>(len & 0xff);
    return h;
}

std::string ws_close_payload(uint16_t code) {
    std::string p(2, '\0');
    p[0] = static_cast<char>(code >> 8);
    p[1] = static_cast<char>(code & 0xff);
    return p;
}

uint16_t ws_close_code(const std::string &payload) {
    if (payload.size() < 2) return 1005;
    return static_cast<uint16_t>((static_cast<uint8_t>(payload[0]) << 8) |
                                 static_cast<uint8_t>(payload[1]));
}

WsFrameReader::Status WsFrameReader::feed(const char *data, size_t n, size_t *used) {
    *used = 0;
    if (done_) {
        // the last frame was handed out: start the next
        done_ = false;
        in_payload_ = false;
        head_len_ = 0;
        payload_.clear();
    }
    while (*used < n) {
        if (!in_payload_) {
            size_t take = std::min(kWsFrameHeaderBytes - head_len_, n - *used);
            std::copy(data + *used, data + *used + take, head_ + head_len_);
            head_len_ += take;
            *used += take;
            if (head_len_ < kWsFrameHeaderBytes) return Status::more;
            uint8_t t = static_cast<uint8_t>(head_[0]);
            if (t != 1 && t != 2 && t != 8) return Status::bad_type;
            type_ = static_cast<WsFrameType>(t);
            want_ = (uint32_t(uint8_t(head_[1])) << 24) | (uint32_t(uint8_t(head_[2])) << 16) |
                    (uint32_t(uint8_t(head_[3])) << 8) | uint32_t(uint8_t(head_[4]));
            if (want_ > max_) return Status::too_big;
            in_payload_ = true;
            payload_.reserve(want_);
        }
        size_t take = std::min<size_t>(want_ - payload_.size(), n - *used);
        payload_.append(data + *used, take);
        *used += take;
        if (payload_.size() == want_) {
            done_ = true;
            return Status::frame;
        }
    }
    return Status::more;
}

}  // namespace ow::sidecar
