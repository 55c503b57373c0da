// ow_api_packages_test.cc: the packages handler driven step by step with
// fabricated Redis replies (no Redis, no nginx).

#include <gtest/gtest.h>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ow_api.h"

namespace {

redisReply *Reply(int type) {
  redisReply *r = static_cast<redisReply *>(calloc(1, sizeof(redisReply)));
  r->type = type;
  return r;
}

redisReply *Str(const std::string &s, int type = REDIS_REPLY_STRING) {
  redisReply *r = Reply(type);
  r->str = strdup(s.c_str());
  r->len = s.size();
  return r;
}

redisReply *Nil() { return Reply(REDIS_REPLY_NIL); }

redisReply *Int(long long n) {
  redisReply *r = Reply(REDIS_REPLY_INTEGER);
  r->integer = n;
  return r;
}

redisReply *Arr(const std::vector<redisReply *> &v) {
  redisReply *r = Reply(REDIS_REPLY_ARRAY);
  r->elements = v.size();
  r->element = static_cast<redisReply **>(calloc(v.size() + 1, sizeof(r)));
  for (size_t i = 0; i < v.size(); i++) r->element[i] = v[i];
  return r;
}

class Req {
 public:
  Req(ow_method_e m, const std::string &uri, const std::string &args = "",
      const std::string &body = "")
      : uri_(uri), args_(args), body_(body) {
    op_ = ow_op_create();
    op_->method = m;
    op_->uri = uri_.c_str();
    op_->uri_len = uri_.size();
    op_->args = args_.empty() ? nullptr : args_.c_str();
    op_->args_len = args_.size();
    op_->body = body_.empty() ? nullptr : body_.c_str();
    op_->body_len = body_.size();
    op_->subject = "guest";
    op_->auth_ns = "guest";
    op_->now_ms = 1700000000000;
    op_->conf = &conf_;
    step_ = ow_api_start(op_);
  }
  ~Req() { ow_op_free(op_); }

  // answer the pending command; takes ownership of r
  int Resume(redisReply *r) {
    step_ = ow_api_resume(op_, r);
    freeReplyObject(r);
    return step_;
  }
  bool Waiting() const { return step_ == OW_STEP_REDIS; }
  std::string Cmd() const { return std::string(op_->cmd, op_->cmd_len); }
  int Status() const { return op_->status; }
  std::string Error() const {
    const char *s = json_string_value(json_object_get(op_->out, "error"));
    return s ? s : "";
  }
  json_t *Out() const { return op_->out; }

 private:
  ow_config_t conf_{};
  std::string uri_, args_, body_;
  ow_op_t *op_;
  int step_;
};

const char *kPkgs = "/api/v1/namespaces/_/packages/";

std::string Bind(const std::string &ns, const std::string &name) {
  return "{\"binding\":{\"namespace\":\"" + ns + "\",\"name\":\"" + name +
         "\"}}";
}

}  // namespace

TEST(Packages, ReservedAndIllegalNamesNeedNoRedis) {
  Req r(OW_PUT, std::string(kPkgs) + "default", "", "{}");
  ASSERT_FALSE(r.Waiting());
  EXPECT_EQ(r.Status(), 400);
  EXPECT_EQ(r.Error(), "Package name 'default' is reserved.");

  Req bad(OW_PUT, std::string(kPkgs) + "x!", "", "{}");
  EXPECT_EQ(bad.Status(), 400);
  EXPECT_EQ(bad.Error(), "The name of the entity contains illegal characters.");

  Req post(OW_POST, std::string(kPkgs) + "p", "", "{}");
  EXPECT_EQ(post.Status(), 405);
}

TEST(Packages, MalformedBindingIs400) {
  Req r(OW_PUT, std::string(kPkgs) + "b", "", "{\"binding\":\"x/y\"}");
  ASSERT_FALSE(r.Waiting());
  EXPECT_EQ(r.Status(), 400);
  EXPECT_EQ(r.Error().rfind("The request content was malformed:\n", 0), 0u);
}

TEST(Packages, BindingTargetIsReadFromItsOwnNamespace) {
  Req r(OW_PUT, std::string(kPkgs) + "b", "", Bind("whisk.system", "s"));
  ASSERT_TRUE(r.Waiting());
  EXPECT_NE(r.Cmd().find("HMGET"), std::string::npos);
  EXPECT_NE(r.Cmd().find("owx:{whisk.system}:e:s"), std::string::npos);
}

TEST(Packages, MissingTargetIs400HereAnd403Elsewhere) {
  Req own(OW_PUT, std::string(kPkgs) + "b", "", Bind("_", "nope"));
  ASSERT_TRUE(own.Waiting());
  EXPECT_NE(own.Cmd().find("owx:{guest}:e:nope"), std::string::npos);
  own.Resume(Arr({Nil(), Nil()}));
  EXPECT_EQ(own.Status(), 400);
  EXPECT_EQ(own.Error(), "Binding references a package that does not exist.");

  Req other(OW_PUT, std::string(kPkgs) + "b", "", Bind("sys", "nope"));
  other.Resume(Arr({Nil(), Nil()}));
  EXPECT_EQ(other.Status(), 403);
  EXPECT_EQ(other.Error(),
            "The supplied authentication is not authorized to access "
            "'sys/nope'.");
}

TEST(Packages, TargetKindsAreChecked) {
  Req trig(OW_PUT, std::string(kPkgs) + "b", "", Bind("guest", "t"));
  trig.Resume(Arr({Str("triggers"), Str("{}")}));
  EXPECT_EQ(trig.Status(), 409);
  EXPECT_EQ(trig.Error(), "Cannot bind to a resource that is not a package.");

  Req bnd(OW_PUT, std::string(kPkgs) + "b", "", Bind("guest", "x"));
  bnd.Resume(Arr({Str("packages"),
                  Str("{\"publish\":false,\"binding\":"
                      "{\"namespace\":\"a\",\"name\":\"b\"}}")}));
  EXPECT_EQ(bnd.Status(), 400);
  EXPECT_EQ(bnd.Error(), "Cannot bind to another package binding.");

  Req priv(OW_PUT, std::string(kPkgs) + "b", "", Bind("sys", "p"));
  priv.Resume(
      Arr({Str("packages"), Str("{\"publish\":false,\"binding\":{}}")}));
  EXPECT_EQ(priv.Status(), 403);
}

TEST(Packages, ValidBindingIsStoredWithItsAnnotation) {
  Req r(OW_PUT, std::string(kPkgs) + "b", "",
        "{\"binding\":{\"namespace\":\"sys\",\"name\":\"p\"},"
        "\"annotations\":[{\"key\":\"binding\",\"value\":1}]}");
  r.Resume(Arr({Str("packages"), Str("{\"publish\":true,\"binding\":{}}")}));
  ASSERT_TRUE(r.Waiting());  // the put script
  EXPECT_NE(r.Cmd().find("EVALSHA"), std::string::npos);
  r.Resume(Int(1));
  ASSERT_EQ(r.Status(), 200);
  json_t *want = json_pack("{s:s,s:s}", "namespace", "sys", "name", "p");
  EXPECT_TRUE(json_equal(json_object_get(r.Out(), "binding"), want));
  json_t *ann = json_object_get(r.Out(), "annotations");
  ASSERT_EQ(json_array_size(ann), 1u);
  EXPECT_TRUE(json_equal(json_object_get(json_array_get(ann, 0), "value"),
                         want));
  json_decref(want);
}

TEST(Packages, GetOfBindingMergesTheBoundPackage) {
  Req r(OW_GET, std::string(kPkgs) + "b");
  ASSERT_TRUE(r.Waiting());
  r.Resume(Arr({Str("packages"),
                Str("{\"name\":\"b\",\"parameters\":[{\"key\":\"x\","
                    "\"value\":2}],\"binding\":{\"namespace\":\"sys\","
                    "\"name\":\"p\"}}"),
                Arr({})}));
  ASSERT_TRUE(r.Waiting());
  EXPECT_NE(r.Cmd().find("owx:{sys}:p:p"), std::string::npos);
  r.Resume(Arr({Str("packages"),
                Str("{\"name\":\"p\",\"publish\":true,\"binding\":{},"
                    "\"parameters\":[{\"key\":\"x\",\"value\":1},"
                    "{\"key\":\"y\",\"value\":1}]}"),
                Arr({Str("{\"name\":\"a\",\"version\":\"0.0.1\","
                         "\"annotations\":[],\"exec\":{}}"),
                     Str("{\"name\":\"f\",\"version\":\"0.0.1\","
                         "\"annotations\":[{\"key\":\"feed\","
                         "\"value\":true}]}")})}));
  ASSERT_EQ(r.Status(), 200);
  json_t *want = json_loads(
      "{\"name\":\"b\",\"binding\":{\"namespace\":\"sys\",\"name\":\"p\"},"
      "\"parameters\":[{\"key\":\"y\",\"value\":1},{\"key\":\"x\","
      "\"value\":2}],"
      "\"actions\":[{\"name\":\"a\",\"version\":\"0.0.1\","
      "\"annotations\":[]}],"
      "\"feeds\":[{\"name\":\"f\",\"version\":\"0.0.1\",\"annotations\":"
      "[{\"key\":\"feed\",\"value\":true}]}]}",
      0, nullptr);
  EXPECT_TRUE(json_equal(r.Out(), want))
      << json_dumps(r.Out(), JSON_COMPACT);
  json_decref(want);
}

TEST(Packages, GetOfBindingToPrivateForeignPackageIs403) {
  Req r(OW_GET, std::string(kPkgs) + "b");
  r.Resume(Arr({Str("packages"),
                Str("{\"binding\":{\"namespace\":\"sys\",\"name\":\"p\"}}"),
                Arr({})}));
  r.Resume(Arr({Str("packages"), Str("{\"publish\":false,\"binding\":{}}"),
                Arr({})}));
  EXPECT_EQ(r.Status(), 403);
  EXPECT_EQ(r.Error(),
            "The supplied authentication is not authorized to access "
            "'guest/b'.");
}

TEST(Packages, DeleteReportsContents) {
  Req one(OW_DELETE, std::string(kPkgs) + "p");
  ASSERT_TRUE(one.Waiting());
  one.Resume(Str("NOTEMPTY 1", REDIS_REPLY_ERROR));
  EXPECT_EQ(one.Status(), 409);
  EXPECT_EQ(one.Error(),
            "Package not empty (contains 1 entity). Set force param or "
            "delete package contents.");

  Req two(OW_DELETE, std::string(kPkgs) + "p", "force=false");
  two.Resume(Str("NOTEMPTY 12", REDIS_REPLY_ERROR));
  EXPECT_EQ(two.Error(),
            "Package not empty (contains 12 entities). Set force param or "
            "delete package contents.");

  Req gone(OW_DELETE, std::string(kPkgs) + "p");
  gone.Resume(Nil());
  EXPECT_EQ(gone.Status(), 404);
}
