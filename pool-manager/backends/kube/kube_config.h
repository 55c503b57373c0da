// kube_config.h: where the Kubernetes API server is and how to authenticate.
//
// Three sources, in the order the pool-manager tries them:
// - --kube-api URL: an explicit server (tests point it at the API simulator,
//   http://127.0.0.1:PORT; no auth unless a token is also given);
// - --kubeconfig FILE (running outside a cluster): the subset kubectl
//   writes: current-context (or --kube-context), the context's cluster
//   (server, certificate-authority or certificate-authority-data,
//   insecure-skip-tls-verify) and user (token, tokenFile, client-certificate
//   (-data) + client-key(-data)), and the context's namespace. The file may
//   be YAML (block style, as kubectl writes it) or JSON;
// - in-cluster: KUBERNETES_SERVICE_HOST/PORT and the service account's
//   token, ca.crt and namespace under
//   /var/run/secrets/kubernetes.io/serviceaccount. The token is a projected,
//   rotating one: it is re-read from its file (token_file), not kept.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace ow::pm {

struct KubeConfig {
    std::string server;        // "https://10.0.0.1:443", no trailing '/'
    std::string ca_file;       // PEM file of the API server's CA
    std::string ca_data;       // PEM bytes (kubeconfig -data fields, decoded)
    bool insecure = false;     // insecure-skip-tls-verify
    std::string token;         // bearer token
    std::string token_file;    // re-read when set (service account tokens rotate)
    std::string cert_file, key_file;  // client certificate auth
    std::string cert_data, key_data;  // the same as PEM bytes
    std::string ns;            // namespace from the source ("" = not given)
};

constexpr const char *kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

// In-cluster configuration; false (and *err) outside a pod.
bool load_in_cluster(KubeConfig *out, std::string *err,
                     const std::string &sa_dir = kServiceAccountDir);
// The kubeconfig subset above; context "" = current-context. Relative file
// paths in the kubeconfig are relative to its directory (as kubectl does).
bool load_kubeconfig(const std::string &path, const std::string &context, KubeConfig *out,
                     std::string *err);
// The same from text already read (tests).
bool parse_kubeconfig(const std::string &text, const std::string &dir,
                      const std::string &context, KubeConfig *out, std::string *err);
// The YAML subset of a kubeconfig as JSON: block mappings, block sequences
// ("- key: value" items), plain/quoted scalars, comments, and flow-style
// JSON values. Discarded JSON (is_discarded()) on what it cannot read.
nlohmann::json parse_yaml_subset(const std::string &text);

}  // namespace ow::pm
