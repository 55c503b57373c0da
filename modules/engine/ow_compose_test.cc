// ow_compose_test.cc: sequence accounting, the conductor protocol, the
// records and answers, and the write command (ow_compose.h).
#include "ow_compose.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace {

json_t *J(const char *s) {
    json_error_t e;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &e);
    EXPECT_NE(j, nullptr) << s << ": " << e.text;
    return j;
}

std::string D(json_t *j) {
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    std::string r = s ? s : "";
    free(s);
    return r;
}

// a component's full activation record as the sidecar answers it
std::string rec(const char *id, int duration, const char *status,
                const char *result, int memory = 256) {
    char buf[2048];
    snprintf(buf, sizeof(buf),
             "{\"namespace\":\"guest\",\"name\":\"a\",\"version\":\"0.0.2\","
             "\"activationId\":\"%s\",\"start\":1000,\"end\":%d,"
             "\"duration\":%d,\"response\":{\"status\":\"%s\","
             "\"success\":%s,\"result\":%s},\"logs\":[],\"annotations\":["
             "{\"key\":\"path\",\"value\":\"guest/a\"},{\"key\":\"limits\","
             "\"value\":{\"timeout\":1000,\"memory\":%d,\"logs\":5,"
             "\"concurrency\":1}}]}",
             id, 1000 + duration, duration, status,
             strcmp(status, "success") == 0 ? "true" : "false", result,
             memory);
    return buf;
}

int step(ow_compose_t *c, int seq, int http, const std::string &body,
         int nested = -1) {
    return ow_compose_step(c, seq, http, body.data(), body.size(), nullptr,
                           nested);
}

TEST(Compose, SequenceChainsResultsAndSums) {
    ow_compose_t c;
    json_t *in = J("{\"x\":1}");
    ASSERT_EQ(ow_compose_init(&c, in, 0), 0);
    json_decref(in);
    EXPECT_EQ(D(ow_compose_input(&c)), "{\"x\":1}");

    EXPECT_EQ(step(&c, 1, 200, rec("a1", 5, "success", "{\"y\":2}", 128)), 1);
    EXPECT_EQ(D(ow_compose_input(&c)), "{\"y\":2}");
    EXPECT_EQ(step(&c, 1, 200, rec("a2", 7, "success", "[1,2]", 512)), 1);
    EXPECT_EQ(D(ow_compose_input(&c)), "[1,2]");
    EXPECT_EQ(c.duration, 12);
    EXPECT_EQ(c.max_memory, 512);
    EXPECT_EQ(c.atomic, 2);
    EXPECT_EQ(D(c.logs), "[\"a1\",\"a2\"]");

    ow_compose_record_in_t ri = {};
    ri.ns = "guest";
    ri.subject = "guest-subject";
    ri.action = "guest/pkg/seq";
    ri.version = "0.0.3";
    json_t *limits = J("{\"timeout\":60000,\"memory\":256,\"logs\":10,"
                       "\"concurrency\":1}");
    ri.limits = limits;
    ri.activation_id = "s1";
    ri.start = 100;
    ri.end = 150;
    ri.wait_time = -1;
    json_t *r = ow_compose_record(&c, &ri);
    EXPECT_EQ(D(r),
              "{\"namespace\":\"guest\",\"name\":\"seq\",\"version\":\"0.0.3\","
              "\"publish\":false,\"subject\":\"guest-subject\","
              "\"activationId\":\"s1\",\"start\":100,\"end\":150,"
              "\"duration\":12,\"response\":{\"status\":\"success\","
              "\"success\":true,\"result\":[1,2]},\"logs\":[\"a1\",\"a2\"],"
              "\"annotations\":[{\"key\":\"topmost\",\"value\":true},"
              "{\"key\":\"path\",\"value\":\"guest/pkg/seq\"},"
              "{\"key\":\"kind\",\"value\":\"sequence\"},"
              "{\"key\":\"limits\",\"value\":{\"timeout\":60000,"
              "\"memory\":512,\"logs\":10,\"concurrency\":1}}]}");

    char nm[64];
    ow_compose_index_name(r, nm, sizeof(nm));
    EXPECT_STREQ(nm, "pkg/seq");

    int status = 0;
    char *body = ow_compose_answer(r, 0, &status);
    EXPECT_EQ(status, 200);
    EXPECT_STREQ(body, "[1,2]") << "an array result whatever result says";
    free(body);

    json_decref(r);
    json_decref(limits);
    ow_compose_free(&c);
}

TEST(Compose, StopsAtTheFirstErrorWithItsStatus) {
    ow_compose_t c;
    ow_compose_init(&c, nullptr, 0);
    EXPECT_EQ(step(&c, 1, 200, rec("a1", 5, "success", "{}")), 1);
    EXPECT_EQ(step(&c, 1, 502, rec("a2", 3, "action developer error",
                                   "{\"error\":\"boom\"}")), 0);
    EXPECT_EQ(c.status_code, 2);
    EXPECT_EQ(c.duration, 8);
    EXPECT_EQ(D(c.logs), "[\"a1\",\"a2\"]");

    ow_compose_record_in_t ri = {};
    ri.ns = "guest";
    ri.action = "guest/inner";
    ri.activation_id = "s2";
    ri.cause = "outer";
    ri.wait_time = -1;
    json_t *r = ow_compose_record(&c, &ri);
    EXPECT_EQ(D(json_object_get(r, "cause")), "\"outer\"");
    EXPECT_EQ(D(json_array_get(json_object_get(r, "annotations"), 0)),
              "{\"key\":\"topmost\",\"value\":false}");
    EXPECT_EQ(D(json_array_get(json_object_get(r, "annotations"), 3)),
              "{\"key\":\"causedBy\",\"value\":\"sequence\"}");
    int status = 0;
    char *body = ow_compose_answer(r, 1, &status);
    EXPECT_EQ(status, 502);
    EXPECT_STREQ(body, "{\"error\":\"boom\"}");
    free(body);
    json_decref(r);
    ow_compose_free(&c);

    // an application error result stops too, with 502
    ow_compose_init(&c, nullptr, 0);
    EXPECT_EQ(step(&c, 1, 502, rec("a3", 1, "application error",
                                   "{\"error\":{\"why\":1}}")), 0);
    EXPECT_EQ(c.status_code, 1);
    ow_compose_free(&c);
}

TEST(Compose, RunTimeFailuresAreOpenWhisks) {
    ow_compose_t c;
    ow_compose_init(&c, nullptr, 0);
    std::string nf = "{\"error\":\"The requested resource does not exist.\"}";
    EXPECT_EQ(step(&c, 1, 404, nf), 0);
    EXPECT_EQ(c.status_code, 1);
    EXPECT_EQ(D(c.response),
              "{\"status\":\"application error\",\"success\":false,"
              "\"result\":{\"error\":\"Sequence component does not exist.\"}}");
    EXPECT_EQ(D(c.logs), "[]");
    ow_compose_free(&c);

    ow_compose_init(&c, nullptr, 0);
    EXPECT_EQ(step(&c, 1, 202, "{\"activationId\":\"abc\"}"), 0);
    EXPECT_EQ(c.status_code, 3);
    EXPECT_EQ(D(json_object_get(c.response, "result")),
              "{\"error\":\"Timeout reached when retrieving activation abc "
              "for sequence component.\"}");
    EXPECT_EQ(D(c.logs), "[\"abc\"]");
    ow_compose_free(&c);

    ow_compose_init(&c, nullptr, 0);
    EXPECT_EQ(step(&c, 1, 503, "{\"error\":\"x\"}"), 0);
    EXPECT_EQ(D(json_object_get(c.response, "result")),
              "{\"error\":\"Sequence failed.\"}");
    ow_compose_free(&c);
}

// fuzz/compose_fuzz.cc: a component whose result holds "\u0000" (or whose
// reply was not JSON and had a NUL byte, quoted in the error) answered a
// record jansson refused by default: the sequence failed as the
// platform's ("Sequence failed.", 3) instead of going on.
TEST(Compose, ResultWithNulGoesOn) {
    ow_compose_t c;
    ow_compose_init(&c, nullptr, 0);
    EXPECT_EQ(step(&c, 1, 200, rec("a1", 5, "success", "{\"s\":\"a\\u0000b\"}")), 1);
    EXPECT_EQ(c.status_code, 0);
    EXPECT_EQ(D(c.logs), "[\"a1\"]");
    EXPECT_EQ(D(ow_compose_input(&c)), "{\"s\":\"a\\u0000b\"}");
    EXPECT_EQ(step(&c, 1, 502, rec("a2", 1, "action developer error",
                                   "{\"error\":\"not JSON: \\u0000\"}")), 0);
    EXPECT_EQ(c.status_code, 2);
    EXPECT_EQ(D(c.logs), "[\"a1\",\"a2\"]");
    ow_compose_free(&c);
}

TEST(Compose, AtomicCountIncludesNestedSequences) {
    ow_compose_t c;
    ow_compose_init(&c, nullptr, 48);
    EXPECT_EQ(step(&c, 1, 200, rec("a1", 1, "success", "{}")), 1);
    EXPECT_EQ(c.atomic, 49);
    // a nested sequence reports the count after it
    EXPECT_EQ(step(&c, 1, 200, rec("n1", 1, "success", "{}"), 51), 0);
    EXPECT_EQ(D(json_object_get(c.response, "result")),
              "{\"error\":\"Too many actions in the sequence.\"}");
    ow_compose_free(&c);
}

TEST(Compose, ConductorProtocol) {
    ow_compose_t c;
    json_t *in = J("{\"n\":1}");
    ow_compose_init(&c, in, 0);
    json_decref(in);
    char *next = nullptr;
    json_t *params = nullptr;

    // conductor says: run "inc" with params, keep state
    EXPECT_EQ(step(&c, 0, 200, rec("c1", 2, "success",
        "{\"action\":\"inc\",\"params\":{\"n\":1},\"state\":{\"k\":7}}", 128)),
        1);
    EXPECT_STREQ(c.version, "0.0.2") << "the conductor's own version";
    EXPECT_EQ(ow_compose_conductor(&c, "guest", &next, &params), 1);
    EXPECT_STREQ(next, "/guest/inc");
    EXPECT_EQ(D(params), "{\"n\":1}");
    free(next);
    json_decref(params);

    // the component's error goes back to the conductor, with the state
    EXPECT_EQ(step(&c, 0, 502, rec("i1", 3, "application error",
                                   "{\"error\":\"no\"}", 512)), 1);
    json_t *ci = ow_compose_conductor_input(&c, ow_compose_input(&c));
    EXPECT_EQ(D(ci), "{\"error\":\"no\",\"k\":7}");
    json_decref(ci);

    // a scalar params is boxed as {"value": v}; no action: done
    EXPECT_EQ(step(&c, 0, 200, rec("c2", 4, "success", "{\"params\":5}")), 1);
    EXPECT_EQ(ow_compose_conductor(&c, "guest", &next, &params), 0);
    EXPECT_EQ(D(c.response), "{\"status\":\"success\",\"success\":true,"
                             "\"result\":{\"value\":5}}");
    EXPECT_EQ(c.duration, 9);
    EXPECT_EQ(D(c.logs), "[\"c1\",\"i1\",\"c2\"]");

    ow_compose_record_in_t ri = {};
    ri.ns = "guest";
    ri.action = "guest/cond";
    ri.activation_id = "s3";
    ri.conductor = 1;
    ri.wait_time = 3;
    json_t *r = ow_compose_record(&c, &ri);
    EXPECT_EQ(D(json_object_get(r, "version")), "\"0.0.2\"");
    EXPECT_EQ(D(json_object_get(r, "annotations")),
              "[{\"key\":\"topmost\",\"value\":true},"
              "{\"key\":\"path\",\"value\":\"guest/cond\"},"
              "{\"key\":\"kind\",\"value\":\"sequence\"},"
              "{\"key\":\"conductor\",\"value\":true},"
              "{\"key\":\"waitTime\",\"value\":3},"
              "{\"key\":\"limits\",\"value\":{\"timeout\":1000,"
              "\"memory\":512,\"logs\":5,\"concurrency\":1}}]");
    json_decref(r);
    ow_compose_free(&c);
}

TEST(Compose, ConductorBadActionGoesBackAsError) {
    ow_compose_t c;
    ow_compose_init(&c, nullptr, 0);
    char *next = nullptr;
    json_t *params = nullptr;
    EXPECT_EQ(step(&c, 0, 200, rec("c1", 1, "success", "{\"action\":5}")), 1);
    EXPECT_EQ(ow_compose_conductor(&c, "guest", &next, &params), -1);
    EXPECT_EQ(next, nullptr);
    EXPECT_EQ(D(params), "{\"error\":\"Failed to parse action name from json "
                         "value 5 during composition.\"}");
    json_decref(params);

    EXPECT_EQ(step(&c, 0, 404, "{}"), 2) << "the driver says not found";
    ow_compose_free(&c);
}

TEST(Compose, ComponentPathAndWriteCommand) {
    char buf[256];
    EXPECT_EQ(ow_compose_component_path("/guest/pkg/a", "me", buf,
                                        sizeof(buf)), 0);
    EXPECT_STREQ(buf, "guest/actions/pkg/a");
    EXPECT_EQ(ow_compose_component_path("/_/a", "me", buf, sizeof(buf)), 0);
    EXPECT_STREQ(buf, "me/actions/a");
    EXPECT_EQ(ow_compose_component_path("/x/y/z/w", "me", buf, sizeof(buf)),
              -1);

    json_t *r = J("{\"namespace\":\"guest\",\"name\":\"s\","
                  "\"activationId\":\"0123456789abcdef0123456789abcdef\","
                  "\"start\":5,\"annotations\":[]}");
    size_t len = 0;
    char *cmd = ow_compose_write_command(r, 1000, &len);
    ASSERT_NE(cmd, nullptr);
    std::string s(cmd, len);
    EXPECT_EQ(s.rfind("*10\r\n$4\r\nEVAL\r\n", 0), 0u);
    EXPECT_NE(s.find("owx:{guest}:a:0123456789abcdef0123456789abcdef\r\n"),
              std::string::npos);
    EXPECT_NE(s.find("$14\r\nowx:{guest}:ai\r\n$16\r\nowx:{guest}:ai:s\r\n"),
              std::string::npos);
    EXPECT_NE(s.find("\r\n$1\r\n5\r\n$32\r\n0123456789abcdef0123456789abcdef"
                     "\r\n$4\r\n1000\r\n"), std::string::npos);
    free(cmd);
    json_decref(r);
}

TEST(Compose, WriteBatchCommandAndItsEvalCopy) {
    ow_compose_batch_record_t recs[2] = {
        {"aaaa", 4, 5, "{\"a\":1}", 7},
        {"bbbb", 4, 6, "{\"b\":2}", 7},
    };
    size_t len = 0;
    char *cmd = ow_compose_write_batch_command("guest", 5, "pkg/s", 5, recs, 2,
                                               1000, &len);
    ASSERT_NE(cmd, nullptr);
    std::string s(cmd, len);
    // EVALSHA sha 4 keys: the two indexes, then each record's key
    EXPECT_EQ(s.rfind("*14\r\n$7\r\nEVALSHA\r\n$40\r\n", 0), 0u) << s;
    EXPECT_NE(s.find("\r\n$1\r\n4\r\n$14\r\nowx:{guest}:ai\r\n"
                     "$20\r\nowx:{guest}:ai:pkg/s\r\n"
                     "$18\r\nowx:{guest}:a:aaaa\r\n$18\r\nowx:{guest}:a:bbbb\r\n"
                     "$4\r\n1000\r\n$7\r\n{\"a\":1}\r\n$1\r\n5\r\n$4\r\naaaa\r\n"
                     "$7\r\n{\"b\":2}\r\n$1\r\n6\r\n$4\r\nbbbb\r\n"),
              std::string::npos) << s;
    EXPECT_EQ(s.size(), strlen(cmd));

    size_t elen = 0;
    char *eval = ow_compose_write_batch_eval(cmd, len, &elen);
    ASSERT_NE(eval, nullptr);
    std::string e(eval, elen);
    EXPECT_EQ(e.rfind("*14\r\n$4\r\nEVAL\r\n$", 0), 0u);
    EXPECT_NE(e.find("redis.call('SET', KEYS[i], ARGV[a]"), std::string::npos);
    // after the script, the same arguments
    EXPECT_EQ(e.substr(e.size() - (s.size() - s.find("\r\n$1\r\n4\r\n"))),
              s.substr(s.find("\r\n$1\r\n4\r\n")));
    EXPECT_EQ(ow_compose_write_batch_eval(eval, elen, &elen), nullptr);
    free(eval);
    free(cmd);

    EXPECT_EQ(ow_compose_write_batch_command("guest", 5, "s", 1, recs, 0, 1000,
                                             &len), nullptr);
}

TEST(Compose, IndexNameOfAPath) {
    char buf[64];
    ow_compose_index_name_of("guest/pkg/s", 11, "s", 1, buf, sizeof(buf));
    EXPECT_STREQ(buf, "pkg/s");
    ow_compose_index_name_of("guest/s", 7, "s", 1, buf, sizeof(buf));
    EXPECT_STREQ(buf, "s");
    ow_compose_index_name_of(nullptr, 0, "s", 1, buf, sizeof(buf));
    EXPECT_STREQ(buf, "s");
}

}  // namespace
