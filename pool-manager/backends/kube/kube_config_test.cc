// kube_config_test.cc: the kubeconfig subset (as kubectl/kind write it, and
// as JSON), the YAML subset reader, and in-cluster configuration.
#include "pool-manager/backends/kube/kube_config.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>

#include "libow/base64.h"

namespace ow::pm::test {
namespace {

const char kKind[] = R"(apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
    server: https://127.0.0.1:41234
  name: kind-owx
- cluster:
    server: "https://other:6443/"   # a comment
    insecure-skip-tls-verify: true
  name: other
contexts:
- context:
    cluster: kind-owx
    user: kind-owx
    namespace: owx
  name: kind-owx
- context:
    cluster: other
    user: token-user
  name: other
current-context: kind-owx
kind: Config
preferences: {}
users:
- name: kind-owx
  user:
    client-certificate-data: Y2VydA==
    client-key-data: a2V5
- name: token-user
  user:
    token: 's3cr''et'
    client-key: keys/k.pem
)";

TEST(KubeConfig, KindKubeconfigCurrentContext) {
    KubeConfig c;
    std::string err;
    ASSERT_TRUE(parse_kubeconfig(kKind, "/home/u/.kube", "", &c, &err)) << err;
    EXPECT_EQ(c.server, "https://127.0.0.1:41234");
    EXPECT_EQ(c.ca_data, "-----BEGIN CERTIFICATE-----\n");
    EXPECT_EQ(c.cert_data, "cert");
    EXPECT_EQ(c.key_data, "key");
    EXPECT_EQ(c.ns, "owx");
    EXPECT_FALSE(c.insecure);
}

TEST(KubeConfig, NamedContextTokenQuotesAndRelativePaths) {
    KubeConfig c;
    std::string err;
    ASSERT_TRUE(parse_kubeconfig(kKind, "/home/u/.kube", "other", &c, &err)) << err;
    EXPECT_EQ(c.server, "https://other:6443");
    EXPECT_TRUE(c.insecure);
    EXPECT_EQ(c.token, "s3cr'et");
    EXPECT_EQ(c.key_file, "/home/u/.kube/keys/k.pem");
    EXPECT_EQ(c.ns, "");
    EXPECT_FALSE(parse_kubeconfig(kKind, "", "missing", &c, &err));
    EXPECT_NE(err.find("missing"), std::string::npos);
}

TEST(KubeConfig, JsonKubeconfigAndUnsupportedExec) {
    KubeConfig c;
    std::string err;
    std::string json = R"({"current-context":"c","contexts":[{"name":"c","context":{"cluster":"k","user":"u"}}],
        "clusters":[{"name":"k","cluster":{"server":"http://127.0.0.1:8001"}}],
        "users":[{"name":"u","user":{"token":"t"}}]})";
    ASSERT_TRUE(parse_kubeconfig(json, "", "", &c, &err)) << err;
    EXPECT_EQ(c.server, "http://127.0.0.1:8001");
    EXPECT_EQ(c.token, "t");
    std::string exec = json;
    exec.replace(exec.find(R"({"token":"t"})"), 13, R"({"exec":{"command":"aws"}})");
    EXPECT_FALSE(parse_kubeconfig(exec, "", "", &c, &err));
    EXPECT_NE(err.find("exec"), std::string::npos);
}

TEST(KubeConfig, YamlSubsetShapes) {
    nlohmann::json j = parse_yaml_subset("a:\n  b: 1\n  c:\n  - x\n  - y: 2\n    z: 3\nd: []\n");
    ASSERT_FALSE(j.is_discarded());
    EXPECT_EQ(j["a"]["b"], "1");
    EXPECT_EQ(j["a"]["c"][0], "x");
    EXPECT_EQ(j["a"]["c"][1]["y"], "2");
    EXPECT_EQ(j["a"]["c"][1]["z"], "3");
    EXPECT_TRUE(j["d"].is_array());
    EXPECT_TRUE(parse_yaml_subset("a: 1\n   b: 2\n").is_discarded());  // bad indentation
    EXPECT_TRUE(parse_yaml_subset("a: {bad\n").is_discarded());
}

TEST(KubeConfig, InCluster) {
    char dir[] = "/tmp/owx-sa-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    std::string d = dir;
    std::ofstream(d + "/token") << "tok\n";
    std::ofstream(d + "/namespace") << "owx";
    std::ofstream(d + "/ca.crt") << "pem";
    KubeConfig c;
    std::string err;
    unsetenv("KUBERNETES_SERVICE_HOST");
    EXPECT_FALSE(load_in_cluster(&c, &err, d));
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    ASSERT_TRUE(load_in_cluster(&c, &err, d)) << err;
    EXPECT_EQ(c.server, "https://10.96.0.1:443");
    EXPECT_EQ(c.token_file, d + "/token");
    EXPECT_EQ(c.ca_file, d + "/ca.crt");
    EXPECT_EQ(c.ns, "owx");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    for (const char *f : {"/token", "/namespace", "/ca.crt"}) unlink((d + f).c_str());
    rmdir(dir);
}

}  // namespace
}  // namespace ow::pm::test
