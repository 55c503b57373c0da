// ow_api_test.cc: the engine's step protocol, driven with canned Redis
// replies (no Redis, no nginx): routing, auth guard, NOSCRIPT fallback,
// error bodies.

#include <gtest/gtest.h>
#include <cstring>
#include <malloc.h>
#include <string>

#include "ow_api.h"

namespace {

struct Engine {
  ow_config_t conf{};
  ow_op_t *op = nullptr;

  Engine(const char *method, const char *uri, const char *body = nullptr,
         const char *args = nullptr) {
    ow_limits_default(&conf.system_limits);
    conf.runtimes = json_object();
    op = ow_op_create();
    op->method = method[0] == 'G' ? OW_GET
                 : method[1] == 'U' ? OW_PUT
                 : method[0] == 'P' ? OW_POST
                                    : OW_DELETE;
    op->uri = uri;
    op->uri_len = strlen(uri);
    op->args = args;
    op->args_len = args ? strlen(args) : 0;
    op->body = body;
    op->body_len = body ? strlen(body) : 0;
    op->subject = "guest";
    op->auth_ns = "guest";
    op->now_ms = 1700000000000;
    op->conf = &conf;
  }
  ~Engine() {
    ow_op_free(op);
    json_decref(conf.runtimes);
  }
  std::string Body() {
    size_t n;
    char *s = ow_op_response_body(op, "tid", &n);
    std::string r(s, n);
    free(s);
    return r;
  }
  std::string Cmd() { return std::string(op->cmd, op->cmd_len); }
};

redisReply Reply(int type, const char *str = "", long long integer = 0) {
  redisReply r{};
  r.type = type;
  r.str = const_cast<char *>(str);
  r.len = strlen(str);
  r.integer = integer;
  return r;
}

}  // namespace

TEST(Engine, InfoDocumentsNeedNoRedis) {
  Engine e("GET", "/api/v1");
  ASSERT_EQ(ow_api_start(e.op), OW_STEP_DONE);
  EXPECT_EQ(e.op->status, 200);
  EXPECT_NE(e.Body().find("\"api_version\":\"1.0.0\""), std::string::npos);
}

TEST(Engine, NamespacesWithoutIdentityIs401) {
  Engine e("GET", "/api/v1/namespaces");
  e.op->subject = nullptr;
  e.op->auth_ns = nullptr;
  ASSERT_EQ(ow_api_start(e.op), OW_STEP_DONE);
  EXPECT_EQ(e.op->status, 401);
}

TEST(Engine, ErrorBodiesCarryTheRequestId) {
  Engine e("GET", "/api/v1/namespaces/_/nothing");
  ASSERT_EQ(ow_api_start(e.op), OW_STEP_DONE);
  EXPECT_EQ(e.op->status, 404);
  EXPECT_EQ(e.Body(), "{\"error\":\"The requested resource does not exist.\","
                      "\"code\":\"tid\"}");
}

TEST(Engine, ForeignNamespaceWritesAre403) {
  Engine e("PUT", "/api/v1/namespaces/other/triggers/t", "{}");
  ASSERT_EQ(ow_api_start(e.op), OW_STEP_DONE);
  EXPECT_EQ(e.op->status, 403);
}

TEST(Engine, BadListLimitIs400) {
  Engine e("GET", "/api/v1/namespaces/_/triggers", nullptr, "limit=201");
  ASSERT_EQ(ow_api_start(e.op), OW_STEP_DONE);
  EXPECT_EQ(e.op->status, 400);
  EXPECT_NE(e.Body().find("The value '201' is not in the range of 0 to 200 "
                          "for triggers."),
            std::string::npos);
}

TEST(Engine, TriggerCreateIsOneScriptAndNoscriptFallsBackToEval) {
  Engine e("PUT", "/api/v1/namespaces/_/triggers/t", "{\"publish\":true}");
  ASSERT_EQ(ow_api_start(e.op), OW_STEP_REDIS);
  EXPECT_NE(e.Cmd().find("EVALSHA"), std::string::npos);
  EXPECT_NE(e.Cmd().find("owx:{guest}:e:t"), std::string::npos);

  redisReply noscript = Reply(REDIS_REPLY_ERROR, "NOSCRIPT No matching");
  ASSERT_EQ(ow_api_resume(e.op, &noscript), OW_STEP_REDIS);
  EXPECT_NE(e.Cmd().find("$4\r\nEVAL\r\n"), std::string::npos);

  redisReply rev = Reply(REDIS_REPLY_INTEGER, "", 1);
  ASSERT_EQ(ow_api_resume(e.op, &rev), OW_STEP_DONE);
  EXPECT_EQ(e.op->status, 200);
  EXPECT_NE(e.Body().find("\"publish\":true"), std::string::npos);
  EXPECT_NE(e.Body().find("\"version\":\"0.0.1\""), std::string::npos);
}

TEST(Engine, FiresCountInTheMinuteOfTheOffsetClock) {
  // 1700000000000 ms is 20 s into epoch minute 28333333
  Engine plain("POST", "/api/v1/namespaces/_/triggers/t", "{}");
  ASSERT_EQ(ow_api_start(plain.op), OW_STEP_REDIS);
  EXPECT_NE(plain.Cmd().find("owx:{guest}:fires:28333333\r\n"), std::string::npos);

  // ow_limit_clock_offset: the tests' fresh minute; the record keeps now_ms
  Engine moved("POST", "/api/v1/namespaces/_/triggers/t", "{}");
  moved.conf.clock_offset_ms = 40000;
  ASSERT_EQ(ow_api_start(moved.op), OW_STEP_REDIS);
  EXPECT_NE(moved.Cmd().find("owx:{guest}:fires:28333334\r\n"), std::string::npos);
  EXPECT_NE(moved.Cmd().find("1700000000000"), std::string::npos);
}

TEST(Engine, CreateOfExistingEntityIs409) {
  Engine e("PUT", "/api/v1/namespaces/_/triggers/t", "{}");
  ASSERT_EQ(ow_api_start(e.op), OW_STEP_REDIS);
  redisReply exists = Reply(REDIS_REPLY_ERROR, "EXISTS entity exists");
  ASSERT_EQ(ow_api_resume(e.op, &exists), OW_STEP_DONE);
  EXPECT_EQ(e.op->status, 409);
  EXPECT_NE(e.Body().find("resource already exists"), std::string::npos);
}

TEST(Engine, RedisFailureIs503) {
  Engine e("GET", "/api/v1/namespaces/_/triggers/t");
  ASSERT_EQ(ow_api_start(e.op), OW_STEP_REDIS);
  ASSERT_EQ(ow_api_resume(e.op, nullptr), OW_STEP_DONE);
  EXPECT_EQ(e.op->status, 503);
}

TEST(Engine, MalformedBodyIs400) {
  Engine e("PUT", "/api/v1/namespaces/_/triggers/t", "{\"a\":");
  ASSERT_EQ(ow_api_start(e.op), OW_STEP_DONE);
  EXPECT_EQ(e.op->status, 400);
  EXPECT_NE(e.Body().find("The request content was malformed"),
            std::string::npos);
}

TEST(Engine, VersionMustBeSemantic) {
  const char *bad[] = {"x.y", "1.2.3.4", "1.-2.3", "", "0.0.0", "1..2",
                       "1.2.", "99999999999.0.0"};
  for (const char *v : bad) {
    std::string body = std::string("{\"version\":\"") + v + "\"}";
    Engine e("PUT", "/api/v1/namespaces/_/triggers/t", body.c_str());
    ASSERT_EQ(ow_api_start(e.op), OW_STEP_DONE) << v;
    EXPECT_EQ(e.op->status, 400) << v;
    EXPECT_NE(e.Body().find("semantic version"), std::string::npos) << v;
  }
}

TEST(Engine, VersionIsNormalizedAsOpenWhiskReadsIt) {
  const char *ok[][2] = {{"1.2.3", "1.2.3"}, {"1.2", "1.2.0"}, {"7", "7.0.0"},
                         {"0.0.1", "0.0.1"}};
  for (auto &v : ok) {
    std::string body = std::string("{\"version\":\"") + v[0] + "\"}";
    Engine e("PUT", "/api/v1/namespaces/_/triggers/t", body.c_str());
    ASSERT_EQ(ow_api_start(e.op), OW_STEP_REDIS) << v[0];
    redisReply rev = Reply(REDIS_REPLY_INTEGER, "", 1);
    ASSERT_EQ(ow_api_resume(e.op, &rev), OW_STEP_DONE);
    EXPECT_NE(e.Body().find(std::string("\"version\":\"") + v[1] + "\""),
              std::string::npos) << v[0];
  }
}

// fuzz/runtime_reply_fuzz.cc: an action's result with "\u0000" in a string
// (or a reply that was not JSON, quoted in the error) is stored so by the
// sidecar; jansson refuses it unless told, and the record read as
// "corrupted" (500), its owner unable to see it.
TEST(Engine, ActivationWithNulInAStringIsReadable) {
  const char *rec =
      "{\"namespace\":\"guest\",\"name\":\"a\",\"activationId\":"
      "\"0123456789abcdef0123456789abcdef\",\"start\":1,\"end\":2,"
      "\"response\":{\"status\":\"success\",\"success\":true,"
      "\"result\":{\"s\":\"a\\u0000b\"}},\"logs\":[],\"annotations\":[]}";
  for (const char *uri :
       {"/api/v1/namespaces/_/activations/0123456789abcdef0123456789abcdef",
        "/api/v1/namespaces/_/activations/0123456789abcdef0123456789abcdef/"
        "result"}) {
    Engine e("GET", uri);
    ASSERT_EQ(ow_api_start(e.op), OW_STEP_REDIS) << uri;
    redisReply r = Reply(REDIS_REPLY_STRING, rec);
    ASSERT_EQ(ow_api_resume(e.op, &r), OW_STEP_DONE) << uri;
    EXPECT_EQ(e.op->status, 200) << uri << ": " << e.Body();
    EXPECT_NE(e.Body().find("\"s\":\"a\\u0000b\""), std::string::npos)
        << e.Body();
  }
}

// fuzz/entity_fuzz.cc (LeakSanitizer): every stored entity leaked its list
// summary (ow_entity_store), a few hundred bytes of the nginx worker's per
// PUT. Two hundred PUTs in a row: the heap in use is what it was.
namespace {
size_t heap_in_use() { return mallinfo2().uordblks; }

void put_once(const char *uri, const char *body) {
  Engine e("PUT", uri, body);
  ASSERT_EQ(ow_api_start(e.op), OW_STEP_REDIS) << uri;
  redisReply rev = Reply(REDIS_REPLY_INTEGER, "", 1);
  ASSERT_EQ(ow_api_resume(e.op, &rev), OW_STEP_DONE) << uri;
  EXPECT_EQ(e.op->status, 200) << uri;
}
}  // namespace

TEST(Engine, EntityPutFreesWhatItAllocates) {
  const char *puts[][2] = {
      {"/api/v1/namespaces/_/triggers/t", "{\"publish\":true}"},
      {"/api/v1/namespaces/_/packages/p", "{\"parameters\":[{\"key\":\"k\","
                                          "\"value\":1}]}"},
  };
  for (auto &put : puts) {
    // first-use allocations (script digests) and malloc's caches settle
    for (int i = 0; i < 100; i++) put_once(put[0], put[1]);
    size_t before = heap_in_use();
    for (int i = 0; i < 200; i++) put_once(put[0], put[1]);
    size_t after = heap_in_use();
    // a leak of even one small object per PUT is 200 of them
    EXPECT_LT(after, before + 4096) << put[0];
  }
}

// fuzz/entity_fuzz.cc: an error quoting a name from the request that is
// not UTF-8 (here the 403 of another namespace's action) had no body at
// all: jansson refuses such a string, and the error went with it.
TEST(Engine, ErrorQuotingBytesThatAreNotUtf8IsJson) {
  Engine e("GET", "/api/v1/namespaces/other/actions/a%FFb");
  ASSERT_EQ(ow_api_start(e.op), OW_STEP_DONE);
  EXPECT_EQ(e.op->status, 403);
  EXPECT_EQ(e.Body(), "{\"error\":\"The supplied authentication is not "
                      "authorized to access 'other/a?b'.\",\"code\":\"tid\"}");
}

// The connections API reads the connection's registry key and ends in the
// container to forward to; the sidecar answers, not the engine.
TEST(Engine, ConnectionReadsItsKeyAndNamesTheContainer) {
  const char *id = "0123456789abcdef0123456789ABCDEF";
  std::string uri = std::string("/api/v1/namespaces/_/connections/") + id;
  Engine e("POST", uri.c_str(), "hello");
  ASSERT_EQ(ow_api_start(e.op), OW_STEP_REDIS);
  EXPECT_NE(e.Cmd().find(std::string("owx:{guest}:conn:") + id),
            std::string::npos);
  redisReply r = Reply(REDIS_REPLY_STRING,
                       "{\"connectionId\":\"x\",\"container\":\"c-1\","
                       "\"action\":\"guest/default/chat\",\"connectedAt\":1}");
  ASSERT_EQ(ow_api_resume(e.op, &r), OW_STEP_DONE);
  ASSERT_NE(e.op->forward, nullptr);
  EXPECT_STREQ(e.op->forward, "c-1");
  EXPECT_STREQ(e.op->path, id);
}

TEST(Engine, ConnectionUnknownOrWithoutContainerIs404) {
  const char *docs[] = {nullptr, "{\"connectionId\":\"x\"}", "not json",
                        "{\"container\":\"\"}"};
  for (const char *doc : docs) {
    Engine e("DELETE", "/api/v1/namespaces/guest/connections/"
                       "0123456789abcdef0123456789abcdef");
    ASSERT_EQ(ow_api_start(e.op), OW_STEP_REDIS);
    redisReply r = doc ? Reply(REDIS_REPLY_STRING, doc)
                       : Reply(REDIS_REPLY_NIL);
    ASSERT_EQ(ow_api_resume(e.op, &r), OW_STEP_DONE);
    EXPECT_EQ(e.op->status, 404) << (doc ? doc : "nil");
    EXPECT_EQ(e.op->forward, nullptr);
  }
}

TEST(Engine, ConnectionRequestsRefusedBeforeRedis) {
  struct {
    const char *method, *uri;
    int status;
  } cases[] = {
      {"GET", "/api/v1/namespaces/_/connections", 404},
      {"GET", "/api/v1/namespaces/_/connections/abc", 404},
      {"GET", "/api/v1/namespaces/_/connections/"
              "0123456789abcdef0123456789abcdeg", 404},
      {"GET", "/api/v1/namespaces/_/connections/"
              "0123456789abcdef0123456789abcdef0", 404},
      {"GET", "/api/v1/namespaces/_/connections/a/"
              "0123456789abcdef0123456789abcdef", 404},
      {"PUT", "/api/v1/namespaces/_/connections/"
              "0123456789abcdef0123456789abcdef", 405},
      {"POST", "/api/v1/namespaces/other/connections/"
               "0123456789abcdef0123456789abcdef", 403},
      {"GET", "/api/v1/namespaces/other/connections/"
              "0123456789abcdef0123456789abcdef", 403},
  };
  for (auto &c : cases) {
    Engine e(c.method, c.uri);
    ASSERT_EQ(ow_api_start(e.op), OW_STEP_DONE) << c.uri;
    EXPECT_EQ(e.op->status, c.status) << c.method << " " << c.uri;
  }
}

TEST(Engine, ConnectionMessageOverThePayloadLimitIs413) {
  std::string big(1048577, 'x');
  Engine e("POST", "/api/v1/namespaces/_/connections/"
                   "0123456789abcdef0123456789abcdef", big.c_str());
  ASSERT_EQ(ow_api_start(e.op), OW_STEP_DONE);
  EXPECT_EQ(e.op->status, 413);
  EXPECT_NE(e.Body().find("1048577 > 1048576 bytes."), std::string::npos);
}
