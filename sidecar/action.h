// action.h: the action this sidecar serves, read from its stored document.
//
// Parsed once at start-up from owx:{ns}:e:<path> field doc (and the package's
// doc for package parameters). Also: the argument merge of an invocation
// (package ← binding ← action ← request, `final`) and the /init body.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "libow/params.h"

namespace ow::sidecar {

struct Limits {
    int64_t timeout_ms = 60000;
    int64_t memory_mb = 256;
    int64_t logs_mb = 10;
    int concurrency = 1;
};

// maxStreamBytes when the namespace sets none (ow-admin limits set)
constexpr uint64_t kDefaultStreamMaxBytes = 8ull << 30;

// A namespace's WebSocket limits (owx:{ns}:limits; ow-admin limits set).
struct WsLimits {
    int64_t max_connections = 1000;       // maxConnections, all containers
    uint64_t max_message_bytes = 1048576; // maxMessageBytes
    int64_t idle_ms = 600000;             // connectionIdleSeconds
};

struct Action {
    std::string ns;        // owner namespace
    std::string pkg;       // "" for a root action
    std::string name;
    std::string path;      // ns/pkg/name or ns/name (annotation "path")
    std::string fqn;       // "/ns/pkg/name" (action_name on /run)
    std::string version = "0.0.1";
    std::string kind;
    std::string code;
    std::string main = "main";
    bool binary = false;
    Limits limits;
    nlohmann::json limits_json = nlohmann::json::object();  // as stored
    nlohmann::json run_params = nlohmann::json::object();   // merged, w/o init
    nlohmann::json init_params = nlohmann::json::object();  // "init":true ones
    size_t run_params_bytes = 2;  // run_params as JSON text ("{}")
    nlohmann::json annotations = nlohmann::json::array();
    bool provide_api_key = false;
    bool final_params = false;
    // web-stream true: a web request's body and answer are streamed
    // (docs/streams.md), bounded by the invoker namespace's maxStreamBytes
    bool web_stream = false;
    uint64_t stream_max_bytes = kDefaultStreamMaxBytes;
    // web-socket true: an upgrade at the web URL is accepted
    // (docs/websockets.md), bounded by the invoker namespace's
    // maxConnections, maxMessageBytes and connectionIdleSeconds
    bool web_socket = false;
    WsLimits ws;
    std::string invoker;   // whose limits and connections (the URL's ns)
    std::string binding;   // "<invoker>/<binding>" when invoked through one
};

// "<ns>/<path>" → ns, pkg, name. False on a malformed spec.
bool split_action_spec(const std::string &spec, std::string *ns, std::string *pkg,
                       std::string *name);

// Parses the stored action document (and the package's, or null, and the
// binding's it was invoked through, or null). Parameters merge package <-
// binding <- action, as OpenWhisk's controller does. On error returns false
// with *err set (the sidecar then fails like a failed init).
bool parse_action(const std::string &ns, const std::string &pkg,
                  const std::string &name, const nlohmann::json &doc,
                  const nlohmann::json &pkg_doc, Action *a, std::string *err,
                  const nlohmann::json &binding_doc = nlohmann::json());

// annotation(), truthy(), kFinalError: libow/params.h
using ow::annotation;
using ow::kFinalError;
using ow::truthy;

// Run arguments: action.run_params ← body (an object). False when `final`
// forbids a body key that overrides a defined parameter (init params count).
bool merge_params(const Action &a, const nlohmann::json &body, nlohmann::json *out);

// The invocation's payload limit (openwhisk-api.md §6: 1 MB, merged
// parameters included): 0 when the merged arguments of a request body of
// body_bytes fit, else their size. The arguments are measured only when
// body and parameters together could exceed the limit.
constexpr size_t kMaxPayloadBytes = 1048576;
size_t merged_params_over(const Action &a, size_t body_bytes, const nlohmann::json &merged);

// The /init body: {"value":{name, main, binary, code, env}} where env holds
// the __OW_* variables (§9) and the init parameters (strings as is, other
// values JSON-encoded).
nlohmann::json init_body(const Action &a, const std::string &api_host, int64_t deadline_ms);

}  // namespace ow::sidecar
