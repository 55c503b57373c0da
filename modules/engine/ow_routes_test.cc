// ow_routes_test.cc: matching requests against API routes, operationIds.

#include <gtest/gtest.h>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ow_routes.h"

namespace {

struct Table {
  std::vector<std::string> fields, targets;
  std::vector<ow_route_t> routes;

  void Add(const std::string &f, const std::string &t) {
    fields.push_back(f);
    targets.push_back(t);
  }

  // index of the matched route, -1 for none
  int Match(const std::string &verb, const std::string &path,
            json_t *params = nullptr, size_t *rel = nullptr) {
    routes.clear();
    for (size_t i = 0; i < fields.size(); i++) {
      routes.push_back({fields[i].c_str(), fields[i].size(),
                        targets[i].c_str(), targets[i].size()});
    }
    size_t off = 0;
    int m = ow_route_match(routes.data(), routes.size(), verb.data(),
                           verb.size(), path.data(), path.size(), params,
                           &off);
    if (rel) *rel = off;
    return m;
  }
};

std::string OpId(const char *verb, const char *rel) {
  char *s = ow_route_operation_id(verb, rel);
  std::string out(s);
  free(s);
  return out;
}

}  // namespace

TEST(Routes, MatchesVerbAndPath) {
  Table t;
  t.Add("/hello GET /world", "guest/default/hello.json");
  t.Add("/hello POST /world", "guest/default/post.json");
  EXPECT_EQ(t.Match("GET", "/hello/world"), 0);
  EXPECT_EQ(t.Match("POST", "/hello/world"), 1);
  EXPECT_EQ(t.Match("get", "/hello/world"), 0);
  EXPECT_EQ(t.Match("DELETE", "/hello/world"), -1);
  EXPECT_EQ(t.Match("GET", "/hello"), -1);
  EXPECT_EQ(t.Match("GET", "/hello/world/more"), -1);
  EXPECT_EQ(t.Match("GET", "/hellO/world"), -1);
}

TEST(Routes, RootBasepathAndRelativeOffset) {
  Table t;
  t.Add(" GET /x/y", "ns/default/a.http");
  t.Add("/a/b GET /c", "ns/default/b.http");
  size_t rel = 99;
  EXPECT_EQ(t.Match("GET", "/x/y", nullptr, &rel), 0);
  EXPECT_EQ(rel, 0u);
  EXPECT_EQ(t.Match("GET", "/a/b/c", nullptr, &rel), 1);
  EXPECT_EQ(rel, 4u);  // "/c" starts after "/a/b"
}

TEST(Routes, PathParametersAreDecodedAndLiteralsWin) {
  Table t;
  t.Add("/books GET /{id}/pages/{page}", "ns/lib/page.http");
  t.Add("/books GET /new/pages/{page}", "ns/lib/fresh.http");
  json_t *params = json_object();
  EXPECT_EQ(t.Match("GET", "/books/a%20b/pages/7", params), 0);
  EXPECT_STREQ(json_string_value(json_object_get(params, "id")), "a b");
  EXPECT_STREQ(json_string_value(json_object_get(params, "page")), "7");
  json_decref(params);
  EXPECT_EQ(t.Match("GET", "/books/new/pages/7"), 1);
  // a parameter is one whole segment, and the basepath has none
  EXPECT_EQ(t.Match("GET", "/books/1/pages"), -1);
  EXPECT_EQ(t.Match("GET", "/{id}/1/pages/2"), -1);
}

TEST(Routes, IgnoresMalformedFields) {
  Table t;
  t.Add("garbage", "x");
  t.Add("/a GET", "x");
  t.Add("/a GET /b", "ns/default/ok.json");
  EXPECT_EQ(t.Match("GET", "/a/b"), 2);
}

TEST(Routes, OperationIdAsOpenWhisk) {
  EXPECT_EQ(OpId("GET", "/world"), "getWorld");
  EXPECT_EQ(OpId("post", "/books/{id}"), "postBooksId");
  EXPECT_EQ(OpId("get", "/my_path/SUB-part"), "getMy_pathSub-part");
  EXPECT_EQ(OpId("delete", "/"), "delete");
}

TEST(Routes, BaseLenAndExtensions) {
  EXPECT_EQ(ow_route_base_len("/"), 0u);
  EXPECT_EQ(ow_route_base_len("/a/"), 2u);
  EXPECT_EQ(ow_route_base_len("/a"), 2u);
  EXPECT_TRUE(ow_route_ext_valid("http"));
  EXPECT_TRUE(ow_route_ext_valid("svg"));
  EXPECT_FALSE(ow_route_ext_valid("xml"));
  EXPECT_FALSE(ow_route_ext_valid(""));
}
