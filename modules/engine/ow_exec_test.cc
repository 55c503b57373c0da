// ow_exec_test.cc: an action's exec: binary detection, kinds, blackbox,
// sequences, annotations and parameter inheritance.

#include <gtest/gtest.h>
#include <cstdlib>
#include <string>

#include "ow_exec.h"

namespace {

struct Conf {
  json_t *kinds;
  json_t *defaults;
  Conf() {
    kinds = json_loads(
        "{\"nodejs:20\":{\"kind\":\"nodejs:20\",\"attached\":true},"
        "\"nodejs:18\":{\"kind\":\"nodejs:18\",\"attached\":true},"
        "\"java:8\":{\"kind\":\"java:8\",\"requireMain\":true},"
        "\"php:5\":{\"kind\":\"php:5\",\"deprecated\":true},"
        "\"blackbox\":{\"kind\":\"blackbox\"}}",
        0, nullptr);
    defaults = json_loads("{\"nodejs\":\"nodejs:20\"}", 0, nullptr);
  }
  ~Conf() {
    json_decref(kinds);
    json_decref(defaults);
  }
};

std::string Dump(const json_t *j) {
  char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
  std::string r = s ? s : "";
  free(s);
  return r;
}

// parse exec JSON text; on error returns "<status> <message>"
std::string Parse(const char *text, const char *ns = "guest") {
  Conf c;
  json_t *given = json_loads(text, 0, nullptr);
  char err[2048];
  int status = 0;
  json_t *out = ow_exec_parse(given, c.kinds, c.defaults, ns, &status, err,
                              sizeof(err));
  json_decref(given);
  if (out == nullptr) {
    return std::to_string(status) + " " + err;
  }
  std::string r = Dump(out);
  json_decref(out);
  return r;
}

bool Binary(const std::string &s) {
  return ow_exec_is_binary(s.data(), s.size());
}

}  // namespace

TEST(Exec, BinaryIsBase64WithLengthMultipleOfFour) {
  EXPECT_TRUE(Binary("UEsDBA=="));
  EXPECT_TRUE(Binary("UEsDBAo="));
  EXPECT_TRUE(Binary("abcd"));
  EXPECT_TRUE(Binary("  UEsDBA==\n"));
  EXPECT_FALSE(Binary(""));
  EXPECT_FALSE(Binary("   "));
  EXPECT_FALSE(Binary("abc"));
  EXPECT_FALSE(Binary("a==="));
  EXPECT_FALSE(Binary("ab=c"));
  EXPECT_FALSE(Binary("function main() {}  "));
}

TEST(Exec, CodeKindsAreResolvedAndBinaryComputed) {
  EXPECT_EQ(Parse("{\"kind\":\"nodejs:default\",\"code\":\"x()\"}"),
            "{\"binary\":false,\"code\":\"x()\",\"kind\":\"nodejs:20\"}");
  EXPECT_EQ(Parse("{\"kind\":\" NodeJS:18 \",\"code\":\"UEsD\","
                  "\"binary\":false,\"main\":\"m\"}"),
            "{\"binary\":true,\"code\":\"UEsD\",\"kind\":\"nodejs:18\","
            "\"main\":\"m\"}");
}

TEST(Exec, BadCodeExecsAreRejectedWithOpenWhiskMessages) {
  EXPECT_EQ(Parse("{\"code\":\"x\"}"),
            "400 The request content was malformed:\n'kind' must be a "
            "string defined in 'exec'");
  EXPECT_EQ(Parse("{\"kind\":\"cobol:1\",\"code\":\"x\"}"),
            "400 The specified runtime 'cobol:1' is not supported by this "
            "platform. Valid values are: 'nodejs:20', 'nodejs:18', 'java:8', "
            "'php:5', 'blackbox'.");
  EXPECT_EQ(Parse("{\"kind\":\"nodejs:20\"}"),
            "400 The request content was malformed:\n'code' must be a "
            "string or attachment object defined in 'exec' for 'nodejs:20' "
            "actions");
  EXPECT_EQ(Parse("{\"kind\":\"nodejs:20\",\"code\":\"x\",\"main\":1}"),
            "400 The request content was malformed:\nif defined, 'main' be "
            "a string in 'exec' for 'nodejs:20' actions");
  EXPECT_EQ(Parse("{\"kind\":\"java:8\",\"code\":\"UEsD\"}"),
            "400 The request content was malformed:\n'main' must be a "
            "string defined in 'exec' for 'java:8' actions");
  EXPECT_EQ(Parse("{\"kind\":\"php:5\",\"code\":\"x\"}"),
            "400 The 'php:5' runtime is no longer supported. You may read "
            "and delete but not update or invoke this action.");
  EXPECT_EQ(Parse("[]"),
            "400 The request content was malformed:\nJSON object expected");
}

TEST(Exec, CodeLargerThan48MBIs413) {
  std::string code(OW_EXEC_MAX + 1, 'a');
  json_t *given = json_pack("{s:s, s:s}", "kind", "nodejs:20", "code",
                            code.c_str());
  Conf c;
  char err[256];
  int status = 0;
  EXPECT_EQ(ow_exec_parse(given, c.kinds, c.defaults, "guest", &status, err,
                          sizeof(err)),
            nullptr);
  EXPECT_EQ(status, 413);
  EXPECT_STREQ(err, "exec larger than allowed: 50331649 > 50331648 bytes.");
  json_decref(given);
}

TEST(Exec, Blackbox) {
  EXPECT_EQ(Parse("{\"kind\":\"blackbox\",\"image\":\"me/img\"}"),
            "{\"binary\":false,\"image\":\"me/img\",\"kind\":\"blackbox\"}");
  EXPECT_EQ(Parse("{\"kind\":\"blackbox\",\"image\":\"me/img\","
                  "\"code\":\"UEsD\",\"main\":\"x\"}"),
            "{\"binary\":true,\"code\":\"UEsD\",\"image\":\"me/img\","
            "\"kind\":\"blackbox\",\"main\":\"x\"}");
  EXPECT_EQ(Parse("{\"kind\":\"blackbox\",\"image\":\"i\",\"code\":\" \"}"),
            "{\"binary\":false,\"image\":\"i\",\"kind\":\"blackbox\"}");
  EXPECT_EQ(Parse("{\"kind\":\"blackbox\"}"),
            "400 The request content was malformed:\n'image' must be a "
            "string defined in 'exec' for 'blackbox' actions");
}

TEST(Exec, SequenceComponentsAreFullyQualified) {
  EXPECT_EQ(Parse("{\"kind\":\"sequence\",\"components\":"
                  "[\"/_/a\",\"/whisk.system/utils/echo\",\"ns/b\"]}"),
            "{\"components\":[\"/guest/a\",\"/whisk.system/utils/echo\","
            "\"/ns/b\"],\"kind\":\"sequence\"}");
  EXPECT_EQ(Parse("{\"kind\":\"sequence\",\"components\":[]}"),
            "400 No component specified for the sequence.");
  EXPECT_EQ(Parse("{\"kind\":\"sequence\"}"),
            "400 The request content was malformed:\n'components' must be "
            "defined for sequence kind");
  EXPECT_EQ(Parse("{\"kind\":\"sequence\",\"components\":\"/_/a\"}"),
            "400 The request content was malformed:\n'components' must be "
            "an array");
  EXPECT_EQ(Parse("{\"kind\":\"sequence\",\"components\":[\"a\"]}"),
            "400 The request content was malformed:\nrequirement failed: "
            "fully qualified entity name must contain at least the "
            "namespace and the name of the entity");
  EXPECT_EQ(Parse("{\"kind\":\"sequence\",\"components\":[\"/_/a{\"]}"),
            "400 The name of the entity contains illegal characters.");
  EXPECT_EQ(Parse("{\"kind\":\"sequence\",\"components\":[\"/a/b/c/d\"]}"),
            "400 The request content was malformed:\nfully qualified name "
            "malformed");
  EXPECT_EQ(Parse("{\"kind\":\"sequence\",\"components\":[1]}"),
            "400 The request content was malformed:\nfully qualified name "
            "malformed");
}

TEST(Exec, MetaDropsCodeOnly) {
  json_t *e = json_loads("{\"kind\":\"nodejs:20\",\"code\":\"x\","
                         "\"binary\":false,\"main\":\"m\"}", 0, nullptr);
  json_t *m = ow_exec_meta(e);
  EXPECT_EQ(Dump(m), "{\"binary\":false,\"kind\":\"nodejs:20\","
                     "\"main\":\"m\"}");
  EXPECT_EQ(Dump(e), "{\"binary\":false,\"code\":\"x\","
                     "\"kind\":\"nodejs:20\",\"main\":\"m\"}");
  json_decref(e);
  json_decref(m);
}

TEST(Exec, AnnotationsGetExecLastAndProvideApiKeyOnCreate) {
  json_t *a = json_loads("[{\"key\":\"exec\",\"value\":\"old\"},"
                         "{\"key\":\"x\",\"value\":1}]", 0, nullptr);
  a = ow_exec_annotate(a, "nodejs:20", 1);
  EXPECT_EQ(Dump(a), "[{\"key\":\"x\",\"value\":1},"
                     "{\"key\":\"provide-api-key\",\"value\":false},"
                     "{\"key\":\"exec\",\"value\":\"nodejs:20\"}]");
  json_decref(a);

  a = json_loads("[{\"key\":\"provide-api-key\",\"value\":true}]", 0,
                 nullptr);
  a = ow_exec_annotate(a, "sequence", 1);
  EXPECT_EQ(Dump(a), "[{\"key\":\"provide-api-key\",\"value\":true},"
                     "{\"key\":\"exec\",\"value\":\"sequence\"}]");
  json_decref(a);

  a = ow_exec_annotate(json_array(), "blackbox", 0);
  EXPECT_EQ(Dump(a), "[{\"key\":\"exec\",\"value\":\"blackbox\"}]");
  json_decref(a);
}

TEST(Exec, ParametersInheritLaterWins) {
  json_t *pkg = json_loads("[{\"key\":\"a\",\"value\":1},"
                           "{\"key\":\"b\",\"value\":1}]", 0, nullptr);
  json_t *act = json_loads("[{\"key\":\"b\",\"value\":2},"
                           "{\"key\":\"c\",\"value\":2}]", 0, nullptr);
  json_t *m = ow_params_inherit(pkg, act);
  EXPECT_EQ(Dump(m), "[{\"key\":\"a\",\"value\":1},"
                     "{\"key\":\"b\",\"value\":2},"
                     "{\"key\":\"c\",\"value\":2}]");
  json_decref(m);
  m = ow_params_inherit(nullptr, nullptr);
  EXPECT_EQ(Dump(m), "[]");
  json_decref(m);
  json_decref(pkg);
  json_decref(act);
}
