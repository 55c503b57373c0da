// ow_secrets_test.cc: the secret files' formats (internal token, Redis
// credentials), the Basic credentials' rules, the constant-time compare
// and a scraper's Bearer token.

#include <gtest/gtest.h>
#include <string>

#include "ow_secrets.h"

static size_t Token(const std::string &s) {
  return ow_secret_token(s.data(), s.size());
}

TEST(Secrets, TokenIsOneLineTrailingNewlineOptional) {
  std::string hex(64, 'a');
  EXPECT_EQ(Token(hex + "\n"), 64u);
  EXPECT_EQ(Token(hex), 64u);
  EXPECT_EQ(Token(hex + "\r\n"), 64u);
}

TEST(Secrets, TokenRejectsMalformedFiles) {
  EXPECT_EQ(Token(""), 0u);
  EXPECT_EQ(Token("\n"), 0u);
  EXPECT_EQ(Token("abc\n\n"), 0u);        // two lines
  EXPECT_EQ(Token("abc\ndef\n"), 0u);
  EXPECT_EQ(Token("ab c\n"), 0u);
  EXPECT_EQ(Token(" abc\n"), 0u);
  EXPECT_EQ(Token(std::string("ab\0c", 4)), 0u);
  EXPECT_EQ(Token("ab\x7f" "c"), 0u);
  EXPECT_EQ(Token("\xc3\xa9t\xc3\xa9"), 0u);
  EXPECT_EQ(Token(std::string(OW_SECRET_FILE_MAX + 1, 'a')), 0u);
}

struct Creds {
  bool ok;
  std::string user, pass;
};

static Creds Parse(const std::string &s) {
  size_t ulen = 0, plen = 0;
  const char *pass = nullptr;
  Creds c{};
  c.ok = ow_secret_credentials(s.data(), s.size(), &ulen, &pass, &plen) == 0;
  if (c.ok) {
    c.user.assign(s.data(), ulen);
    c.pass.assign(pass, plen);
  }
  return c;
}

TEST(Secrets, CredentialsAreUserSpacePassword) {
  Creds c = Parse("gateway s3cr3t-P4ss\n");
  ASSERT_TRUE(c.ok);
  EXPECT_EQ(c.user, "gateway");
  EXPECT_EQ(c.pass, "s3cr3t-P4ss");

  c = Parse("pool-manager pw");
  ASSERT_TRUE(c.ok);
  EXPECT_EQ(c.user, "pool-manager");
  EXPECT_EQ(c.pass, "pw");

  c = Parse("admin pw\r\n");
  ASSERT_TRUE(c.ok);
  EXPECT_EQ(c.pass, "pw");
}

TEST(Secrets, CredentialsRejectMalformedFiles) {
  EXPECT_FALSE(Parse("").ok);
  EXPECT_FALSE(Parse("\n").ok);
  EXPECT_FALSE(Parse("gateway\n").ok);          // no password
  EXPECT_FALSE(Parse("gateway \n").ok);
  EXPECT_FALSE(Parse(" pw\n").ok);              // no user
  EXPECT_FALSE(Parse("gateway  pw\n").ok);      // two spaces
  EXPECT_FALSE(Parse("gateway pw extra\n").ok);
  EXPECT_FALSE(Parse("gateway\tpw\n").ok);
  EXPECT_FALSE(Parse("gateway pw\n\n").ok);     // a second line
  EXPECT_FALSE(Parse("gateway pw\nadmin pw2\n").ok);
  EXPECT_FALSE(Parse(std::string("gateway p\0w\n", 12)).ok);
  EXPECT_FALSE(Parse("gateway " + std::string(OW_SECRET_FILE_MAX, 'p')).ok);
}

static const std::string kUuid = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502";
static const std::string kKey(64, 'k');

static bool Split(const std::string &dec, std::string *uuid = nullptr,
                  std::string *key = nullptr) {
  size_t ulen = 0, klen = 0;
  const char *k = nullptr;
  if (ow_basic_split(dec.data(), dec.size(), &ulen, &k, &klen) != 0) {
    return false;
  }
  if (uuid) uuid->assign(dec.data(), ulen);
  if (key) key->assign(k, klen);
  return true;
}

TEST(Secrets, BasicSplitsUuidAndKey) {
  std::string uuid, key;
  ASSERT_TRUE(Split(kUuid + ":" + kKey, &uuid, &key));
  EXPECT_EQ(uuid, kUuid);
  EXPECT_EQ(key, kKey);
}

TEST(Secrets, BasicRejectsWrongShapes) {
  EXPECT_FALSE(Split(kUuid + kKey));                    // no colon
  EXPECT_FALSE(Split(":" + kKey));                      // no uuid
  EXPECT_FALSE(Split(kUuid + ":" + kKey + "x"));        // key too long
  EXPECT_FALSE(Split(kUuid + ":" + kKey.substr(1)));
  EXPECT_FALSE(Split(std::string(65, 'u') + ":" + kKey));
  EXPECT_TRUE(Split(std::string(64, 'u') + ":" + kKey));
}

TEST(Secrets, BasicRejectsControlCharacters) {
  // "uuid\0zz:key" used to pass as "uuid": the uuid was cut at the NUL
  EXPECT_FALSE(Split(kUuid + std::string("\0zz", 3) + ":" + kKey));
  EXPECT_FALSE(Split(kUuid + ":" + kKey.substr(1) + std::string("\0", 1)));
  EXPECT_FALSE(Split(kUuid + "\n:" + kKey));
  EXPECT_FALSE(Split(kUuid + "\x1f:" + kKey));
  EXPECT_FALSE(Split(kUuid + "\x7f:" + kKey));
  EXPECT_FALSE(Split(kUuid + ":" + kKey.substr(1) + "\r"));
}

static bool Equal(const std::string &given, const std::string &expected) {
  return ow_secret_equal(given.data(), given.size(), expected.data(),
                         expected.size()) == 1;
}

TEST(Secrets, EqualIsExactAndEmptyAcceptsNothing) {
  std::string t(64, 'x');
  EXPECT_TRUE(Equal(t, t));
  EXPECT_FALSE(Equal(t.substr(0, 63), t));
  EXPECT_FALSE(Equal(t + "x", t));
  std::string first = t, last = t;
  first[0] = 'y';
  last[63] = 'y';
  EXPECT_FALSE(Equal(first, t));
  EXPECT_FALSE(Equal(last, t));
  EXPECT_FALSE(Equal("", ""));
  EXPECT_FALSE(Equal("x", ""));
}

static bool Bearer(const std::string &value, const std::string &expected) {
  return ow_secret_bearer(value.data(), value.size(), expected.data(),
                          expected.size()) == 1;
}

TEST(Secrets, BearerTakesTheSchemeInAnyCase) {
  std::string t = "m3tr1cs-t0ken-0123456789abcdef0123";
  EXPECT_TRUE(Bearer("Bearer " + t, t));
  EXPECT_TRUE(Bearer("bearer " + t, t));
  EXPECT_TRUE(Bearer("BEARER   " + t, t));
}

TEST(Secrets, BearerRejectsEverythingElse) {
  std::string t = "m3tr1cs-t0ken-0123456789abcdef0123";
  EXPECT_FALSE(Bearer("", t));
  EXPECT_FALSE(Bearer(t, t));                      // no scheme
  EXPECT_FALSE(Bearer("Bearer", t));
  EXPECT_FALSE(Bearer("Bearer ", t));
  EXPECT_FALSE(Bearer("Bearer" + t, t));           // no space
  EXPECT_FALSE(Bearer("Bearer\t" + t, t));
  EXPECT_FALSE(Bearer("Basic " + t, t));
  EXPECT_FALSE(Bearer("Bearerx " + t, t));
  EXPECT_FALSE(Bearer("Bearer " + t + " ", t));    // nothing after it
  EXPECT_FALSE(Bearer("Bearer " + t + "x", t));
  EXPECT_FALSE(Bearer("Bearer " + t.substr(1), t));
  EXPECT_FALSE(Bearer("Bearer x", ""));            // no token set
}
