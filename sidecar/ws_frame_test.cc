// ws_frame_test.cc: the streaming handler's framing (ws_frame.h).
#include "sidecar/ws_frame.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace ow::sidecar {
namespace {

using Frames = std::vector<std::pair<WsFrameType, std::string>>;

// Feeds s in pieces of `piece` bytes; the frames read, and the last status.
WsFrameReader::Status read_all(WsFrameReader &r, const std::string &s, size_t piece,
                               Frames *out) {
    WsFrameReader::Status st = WsFrameReader::Status::more;
    for (size_t off = 0; off < s.size();) {
        size_t n = std::min(piece, s.size() - off), used = 0;
        st = r.feed(s.data() + off, n, &used);
        off += used;
        if (st == WsFrameReader::Status::frame) out->emplace_back(r.type(), r.payload());
        else if (st != WsFrameReader::Status::more) return st;
    }
    return st;
}

TEST(WsFrame, HeaderIsTypeThenBigEndianLength) {
    EXPECT_EQ(ws_frame_header(WsFrameType::binary, 0x01020304),
              std::string("\x02\x01\x02\x03\x04", 5));
    EXPECT_EQ(ws_frame_header(WsFrameType::text, 0), std::string("\x01\0\0\0\0", 5));
}

TEST(WsFrame, ClosePayloadRoundTrips) {
    EXPECT_EQ(ws_close_code(ws_close_payload(1009)), 1009);
    EXPECT_EQ(ws_close_code(""), 1005);
}

TEST(WsFrame, FramesAcrossAnyPieceBoundaries) {
    std::string s = ws_frame_header(WsFrameType::text, 5) + "hello" +
                    ws_frame_header(WsFrameType::binary, 0) +
                    ws_frame_header(WsFrameType::binary, 3) + std::string("\0\xff\x01", 3) +
                    ws_frame_header(WsFrameType::close, 2) + ws_close_payload(1000);
    for (size_t piece : {1, 2, 3, 5, 7, 64}) {
        WsFrameReader r(1024);
        Frames got;
        read_all(r, s, piece, &got);
        ASSERT_EQ(got.size(), 4u) << piece;
        EXPECT_EQ(got[0], std::make_pair(WsFrameType::text, std::string("hello")));
        EXPECT_EQ(got[1], std::make_pair(WsFrameType::binary, std::string()));
        EXPECT_EQ(got[2], std::make_pair(WsFrameType::binary, std::string("\0\xff\x01", 3)));
        EXPECT_EQ(got[3].first, WsFrameType::close);
        EXPECT_EQ(ws_close_code(got[3].second), 1000);
    }
}

TEST(WsFrame, LongerThanTheMaximumIsRefusedBeforeItsPayload) {
    WsFrameReader r(4);
    Frames got;
    std::string s = ws_frame_header(WsFrameType::text, 4) + "four" +
                    ws_frame_header(WsFrameType::text, 5);
    EXPECT_EQ(read_all(r, s, 100, &got), WsFrameReader::Status::too_big);
    ASSERT_EQ(got.size(), 1u);
}

TEST(WsFrame, UnknownTypeIsAnError) {
    WsFrameReader r(100);
    Frames got;
    EXPECT_EQ(read_all(r, std::string("\x09\0\0\0\0", 5), 100, &got),
              WsFrameReader::Status::bad_type);
}

}  // namespace
}  // namespace ow::sidecar
