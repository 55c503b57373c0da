// ow_names_test.cc: entity name rules and fully qualified names.

#include <gtest/gtest.h>
#include <cstdlib>
#include <string>

#include "ow_names.h"

static bool Valid(const std::string &s) {
  return ow_name_valid(s.data(), s.size());
}

TEST(Names, AcceptsOpenWhiskNames) {
  EXPECT_TRUE(Valid("a"));
  EXPECT_TRUE(Valid("hello_world"));
  EXPECT_TRUE(Valid("a b"));
  EXPECT_TRUE(Valid("x@y.z&w-v"));
  EXPECT_TRUE(Valid(std::string(256, 'a')));
}

TEST(Names, RejectsIllegalNames) {
  EXPECT_FALSE(Valid(""));
  EXPECT_FALSE(Valid(" a"));
  EXPECT_FALSE(Valid("a "));
  EXPECT_FALSE(Valid("-a"));
  EXPECT_FALSE(Valid("a/b"));
  EXPECT_FALSE(Valid("a{b}"));
  EXPECT_FALSE(Valid(std::string(257, 'a')));
}

TEST(Names, PathsAreNameOrPackageAndName) {
  EXPECT_TRUE(ow_name_path_valid("a"));
  EXPECT_TRUE(ow_name_path_valid("p/a"));
  EXPECT_FALSE(ow_name_path_valid("p/"));
  EXPECT_FALSE(ow_name_path_valid("p/a/b"));
  EXPECT_FALSE(ow_name_path_valid(nullptr));
}

TEST(Names, UnescapeDecodesAndRejectsBadEscapes) {
  char *s = ow_unescape("a%20b", 5);
  ASSERT_NE(s, nullptr);
  EXPECT_STREQ(s, "a b");
  free(s);
  EXPECT_EQ(ow_unescape("a%2", 3), nullptr);
  EXPECT_EQ(ow_unescape("a%zz", 4), nullptr);
  EXPECT_EQ(ow_unescape("a%00", 4), nullptr);
}

TEST(Names, FullyQualifiedNames) {
  ow_fqn_t f;
  ASSERT_EQ(ow_fqn_parse("/_/a", "guest", &f), 0);
  EXPECT_STREQ(f.ns, "guest");
  EXPECT_EQ(f.pkg, nullptr);
  EXPECT_STREQ(f.name, "a");
  ow_fqn_free(&f);

  ASSERT_EQ(ow_fqn_parse("/whisk.system/utils/echo", "guest", &f), 0);
  EXPECT_STREQ(f.ns, "whisk.system");
  EXPECT_STREQ(f.pkg, "utils");
  EXPECT_STREQ(f.name, "echo");
  char *p = ow_fqn_path(&f);
  EXPECT_STREQ(p, "utils/echo");
  free(p);
  ow_fqn_free(&f);

  ASSERT_EQ(ow_fqn_parse("pkg/a", "guest", &f), 0);
  EXPECT_STREQ(f.ns, "guest");
  EXPECT_STREQ(f.pkg, "pkg");
  ow_fqn_free(&f);

  EXPECT_EQ(ow_fqn_parse("/ns", "guest", &f), -1);
  EXPECT_EQ(ow_fqn_parse("/a/b/c/d", "guest", &f), -1);
  EXPECT_EQ(ow_fqn_parse("/a/b c /d", "guest", &f), -1);
}
