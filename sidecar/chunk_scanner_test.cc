// chunk_scanner_test.cc: chunked framing followed over bytes that pass on.
#include "sidecar/chunk_scanner.h"

#include <gtest/gtest.h>

#include <string>

namespace ow::sidecar {
namespace {

// How the relay uses it: the input handed over in pieces of `step` bytes;
// the bytes that belong to the body.
size_t relayed(ChunkScanner &s, const std::string &in, size_t step) {
    size_t at = 0;
    while (at < in.size() && !s.done() && !s.malformed()) {
        size_t n = std::min(step, in.size() - at);
        size_t k = s.scan(in.data() + at, n);
        at += k;
        if (k < n) break;
    }
    return at;
}

TEST(ChunkScanner, FollowsChunksToTheLastWhateverThePieces) {
    const std::string body = "5\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n";
    for (size_t step = 1; step <= body.size(); step++) {
        ChunkScanner s;
        EXPECT_EQ(relayed(s, body + "NEXT", step), body.size()) << step;
        EXPECT_TRUE(s.done()) << step;
        EXPECT_EQ(s.payload(), 31u);
    }
}

TEST(ChunkScanner, LargeChunksAreCountedNotRead) {
    ChunkScanner s;
    const std::string head = "10000\r\n";
    EXPECT_EQ(s.scan(head.data(), head.size()), head.size());
    std::string data(65000, '\r');   // framing bytes in data are data
    EXPECT_EQ(s.scan(data.data(), data.size()), data.size());
    std::string rest = std::string(536, '\n') + "\r\n0\r\n\r\n";
    EXPECT_EQ(s.scan(rest.data(), rest.size()), rest.size());
    EXPECT_TRUE(s.done());
    EXPECT_EQ(s.payload(), 65536u);
}

TEST(ChunkScanner, ExtensionsAndTrailersAreFraming) {
    const std::string body = "3;name=\"v\"\r\nabc\r\n0 ; last\r\nX-Sum: 1\r\nX-B: 2\r\n\r\n";
    ChunkScanner s;
    EXPECT_EQ(s.scan(body.data(), body.size()), body.size());
    EXPECT_TRUE(s.done());
    EXPECT_EQ(s.payload(), 3u);
}

TEST(ChunkScanner, MalformedFramingIsSeen) {
    const char *bad[] = {
        "\r\n",                         // no digits
        "g\r\n",                        // not hex
        "3\nabc\r\n0\r\n\r\n",          // bare LF after the size
        "3\r\nabcX\r\n",                // no CRLF after the data
        "3\r\nabc\r\r",                 // CR CR
        "1000000000000000\r\n",         // 16 digits
        "3;a\0b\r\n",                   // NUL in an extension
        "0\r\nX-A: 1\n\r\n",            // bare LF in a trailer
        "-1\r\n",
    };
    for (const char *b : bad) {
        std::string in(b, b == bad[6] ? 8 : std::char_traits<char>::length(b));
        ChunkScanner s;
        s.scan(in.data(), in.size());
        EXPECT_TRUE(s.malformed()) << in;
        EXPECT_FALSE(s.done()) << in;
    }
}

TEST(ChunkScanner, LinesAndTrailerSectionAreBounded) {
    ChunkScanner ext;
    std::string long_ext = "1;" + std::string(ChunkScanner::kLineBytes + 1, 'e') + "\r\n";
    ext.scan(long_ext.data(), long_ext.size());
    EXPECT_TRUE(ext.malformed());

    ChunkScanner trailers;
    std::string t = "0\r\n";
    std::string line = "X-T: " + std::string(100, 'v') + "\r\n";
    while (t.size() < ChunkScanner::kTrailerBytes + 200) t += line;
    t += "\r\n";
    trailers.scan(t.data(), t.size());
    EXPECT_TRUE(trailers.malformed());

    // fifteen digits are the most, and fine
    ChunkScanner big;
    const std::string max = "fffffffffffffff\r\nabc";
    EXPECT_EQ(big.scan(max.data(), max.size()), max.size());
    EXPECT_FALSE(big.malformed());
    EXPECT_EQ(big.payload(), 3u);
}

TEST(ChunkScanner, CutShortIsNeitherDoneNorMalformed) {
    const std::string in = "5\r\nhel";
    ChunkScanner s;
    EXPECT_EQ(s.scan(in.data(), in.size()), in.size());
    EXPECT_FALSE(s.done());
    EXPECT_FALSE(s.malformed());
    EXPECT_EQ(s.payload(), 3u);
}

}  // namespace
}  // namespace ow::sidecar
