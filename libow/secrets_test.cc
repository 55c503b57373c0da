// secrets_test.cc: credential and token files, the constant-time compare,
// a scraper's Bearer token.
#include "libow/secrets.h"

#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace {

std::string write_temp(const std::string &content) {
    char path[] = "/tmp/ow_secrets_test_XXXXXX";
    int fd = mkstemp(path);
    EXPECT_GE(fd, 0);
    FILE *f = fdopen(fd, "w");
    fwrite(content.data(), 1, content.size(), f);
    fclose(f);
    return path;
}

TEST(RedisCredentials, OneLineUserAndPassword) {
    std::string p = write_temp("sidecar s3cr3t-Pa55\n"), err;
    ow::RedisCredentials c;
    ASSERT_TRUE(ow::read_redis_credentials(p, &c, &err)) << err;
    EXPECT_EQ(c.user, "sidecar");
    EXPECT_EQ(c.password, "s3cr3t-Pa55");
    std::remove(p.c_str());
}

TEST(RedisCredentials, NoPathMeansNoAuth) {
    ow::RedisCredentials c;
    std::string err;
    EXPECT_TRUE(ow::read_redis_credentials("", &c, &err));
    EXPECT_TRUE(c.empty());
}

TEST(RedisCredentials, MalformedFilesAreRefusedWithoutEchoingThem) {
    for (const char *bad : {"", "onlyuser\n", "user \n", " pass\n", "user pass\nmore\n",
                            "user pa ss\n", "us\ter pass\n"}) {
        std::string p = write_temp(bad), err;
        ow::RedisCredentials c;
        EXPECT_FALSE(ow::read_redis_credentials(p, &c, &err)) << bad;
        EXPECT_TRUE(c.empty());
        EXPECT_EQ(err.find("pass"), std::string::npos) << err;
        std::remove(p.c_str());
    }
}

TEST(RedisCredentials, MissingFileNamesThePath) {
    ow::RedisCredentials c;
    std::string err;
    EXPECT_FALSE(ow::read_redis_credentials("/nonexistent/owx-cred", &c, &err));
    EXPECT_NE(err.find("/nonexistent/owx-cred"), std::string::npos);
}

TEST(TokenFile, ReadsOneLine) {
    std::string tok(64, 'a');
    std::string p = write_temp(tok + "\n"), err, out;
    ASSERT_TRUE(ow::read_token_file(p, &out, &err)) << err;
    EXPECT_EQ(out, tok);
    std::remove(p.c_str());
}

TEST(TokenFile, TooShortOrBlankIsRefused) {
    for (std::string bad : {std::string("short\n"), std::string(40, 'a') + " b\n",
                            std::string(300, 'a')}) {
        std::string p = write_temp(bad), err, out;
        EXPECT_FALSE(ow::read_token_file(p, &out, &err));
        EXPECT_TRUE(out.empty());
        std::remove(p.c_str());
    }
}

TEST(TokenEqual, ExactMatchOnly) {
    std::string t(64, 'x');
    EXPECT_TRUE(ow::token_equal(t, t));
    EXPECT_FALSE(ow::token_equal(t.substr(0, 63), t));
    EXPECT_FALSE(ow::token_equal(t + "x", t));
    std::string other = t;
    other[63] = 'y';
    EXPECT_FALSE(ow::token_equal(other, t));
    EXPECT_FALSE(ow::token_equal("", ""));  // no token set accepts nothing
}

TEST(BearerEqual, TheSchemeInAnyCaseThenTheToken) {
    std::string t = "m3tr1cs-t0ken-0123456789abcdef0123";
    EXPECT_TRUE(ow::bearer_equal("Bearer " + t, t));
    EXPECT_TRUE(ow::bearer_equal("bearer " + t, t));
    EXPECT_TRUE(ow::bearer_equal("BEARER   " + t, t));
}

TEST(BearerEqual, AnythingElseIsRefused) {
    std::string t = "m3tr1cs-t0ken-0123456789abcdef0123";
    for (std::string bad : {std::string(), t, std::string("Bearer"), std::string("Bearer "),
                            std::string("Bearer   "), "Bearer" + t, "Bearer\t" + t,
                            "Basic " + t, "Bearerx " + t, "Bearer " + t + " ",
                            "Bearer " + t + "x", "Bearer " + t.substr(1)})
        EXPECT_FALSE(ow::bearer_equal(bad, t)) << bad;
    EXPECT_FALSE(ow::bearer_equal("Bearer x", ""));  // no token set accepts nothing
}

}  // namespace
