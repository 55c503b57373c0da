// action.cc: see action.h.
#include "sidecar/action.h"

#include "libow/json_dump.h"
#include "libow/log.h"

namespace ow::sidecar {

bool split_action_spec(const std::string &spec, std::string *ns, std::string *pkg,
                       std::string *name) {
    size_t a = spec.find('/');
    if (a == std::string::npos || a == 0) return false;
    *ns = spec.substr(0, a);
    std::string rest = spec.substr(a + 1);
    size_t b = rest.find('/');
    if (b == std::string::npos) {
        pkg->clear();
        *name = rest;
    } else {
        *pkg = rest.substr(0, b);
        *name = rest.substr(b + 1);
        if (pkg->empty() || name->find('/') != std::string::npos) return false;
    }
    return !name->empty();
}

static int64_t int_field(const nlohmann::json &o, const char *k, int64_t def) {
    if (!o.is_object()) return def;
    auto it = o.find(k);
    if (it == o.end() || !it->is_number()) return def;
    return it->get<int64_t>();
}

bool parse_action(const std::string &ns, const std::string &pkg,
                  const std::string &name, const nlohmann::json &doc,
                  const nlohmann::json &pkg_doc, Action *a, std::string *err,
                  const nlohmann::json &binding_doc) {
    if (!doc.is_object()) { *err = "action document is not an object"; return false; }
    a->ns = ns;
    a->pkg = pkg;
    a->name = name;
    a->path = ns + "/" + (pkg.empty() ? "" : pkg + "/") + name;
    a->fqn = "/" + a->path;
    auto v = doc.find("version");
    if (v != doc.end() && v->is_string()) a->version = v->get<std::string>();
    auto exec = doc.find("exec");
    if (exec == doc.end() || !exec->is_object()) { *err = "action has no exec"; return false; }
    auto kind = exec->find("kind");
    if (kind == exec->end() || !kind->is_string()) { *err = "action has no kind"; return false; }
    a->kind = kind->get<std::string>();
    if (a->kind == "sequence") { *err = "sequences do not run in a container"; return false; }
    auto code = exec->find("code");
    if (code != exec->end() && code->is_string()) a->code = code->get<std::string>();
    auto mainf = exec->find("main");
    if (mainf != exec->end() && mainf->is_string() && !mainf->get_ref<const std::string &>().empty())
        a->main = mainf->get<std::string>();
    auto bin = exec->find("binary");
    a->binary = bin != exec->end() && bin->is_boolean() && bin->get<bool>();

    auto lim = doc.find("limits");
    if (lim != doc.end() && lim->is_object()) a->limits_json = *lim;
    a->limits.timeout_ms = int_field(a->limits_json, "timeout", 60000);
    a->limits.memory_mb = int_field(a->limits_json, "memory", 256);
    a->limits.logs_mb = int_field(a->limits_json, "logs", 10);
    a->limits.concurrency = (int)int_field(a->limits_json, "concurrency", 1);
    if (a->limits.concurrency < 1) a->limits.concurrency = 1;
    if (a->limits.timeout_ms < 1) a->limits.timeout_ms = 60000;
    // the record's "limits" annotation always has the four fields
    a->limits_json["timeout"] = a->limits.timeout_ms;
    a->limits_json["memory"] = a->limits.memory_mb;
    a->limits_json["logs"] = a->limits.logs_mb;
    a->limits_json["concurrency"] = a->limits.concurrency;

    if (pkg_doc.is_object()) {
        auto pp = pkg_doc.find("parameters");
        if (pp != pkg_doc.end()) ow::add_params(*pp, &a->run_params, &a->init_params);
    }
    if (binding_doc.is_object()) {
        auto bp = binding_doc.find("parameters");
        if (bp != binding_doc.end()) ow::add_params(*bp, &a->run_params, &a->init_params);
    }
    auto ap = doc.find("parameters");
    if (ap != doc.end()) ow::add_params(*ap, &a->run_params, &a->init_params);
    a->run_params_bytes = ow::json_dump(a->run_params).size();

    auto ann = doc.find("annotations");
    if (ann != doc.end() && ann->is_array()) a->annotations = *ann;
    // A missing provide-api-key counts as true (§9); the controller writes
    // false on every new action.
    const nlohmann::json &pak = annotation(a->annotations, "provide-api-key");
    a->provide_api_key = pak.is_null() ? true : truthy(pak);
    a->final_params = truthy(annotation(a->annotations, "final"));
    a->web_stream = truthy(annotation(a->annotations, "web-stream"));
    a->web_socket = truthy(annotation(a->annotations, "web-socket"));
    a->invoker = ns;
    return true;
}

bool merge_params(const Action &a, const nlohmann::json &body, nlohmann::json *out) {
    *out = a.run_params;
    if (!body.is_object()) return true;
    for (auto it = body.begin(); it != body.end(); ++it) {
        if (a.final_params &&
            (a.run_params.contains(it.key()) || a.init_params.contains(it.key())))
            return false;
        (*out)[it.key()] = it.value();
    }
    return true;
}

size_t merged_params_over(const Action &a, size_t body_bytes, const nlohmann::json &merged) {
    // the merged object is at most the two texts together: most requests
    // are decided without serializing anything
    if (body_bytes + a.run_params_bytes <= kMaxPayloadBytes) return 0;
    size_t n = ow::json_dump(merged).size();
    return n > kMaxPayloadBytes ? n : 0;
}

nlohmann::json init_body(const Action &a, const std::string &api_host, int64_t deadline_ms) {
    nlohmann::json env = nlohmann::json::object();
    for (auto it = a.init_params.begin(); it != a.init_params.end(); ++it)
        env[it.key()] = it.value().is_string() ? it.value() : nlohmann::json(ow::json_dump(it.value()));
    env["__OW_NAMESPACE"] = a.ns;
    env["__OW_ACTION_NAME"] = a.fqn;
    env["__OW_ACTION_VERSION"] = a.version;
    env["__OW_ACTIVATION_ID"] = "";
    env["__OW_TRANSACTION_ID"] = "";
    env["__OW_DEADLINE"] = std::to_string(deadline_ms);
    if (!api_host.empty()) env["__OW_API_HOST"] = api_host;
    nlohmann::json value = {{"name", a.name}, {"main", a.main}, {"binary", a.binary},
                            {"code", a.code}, {"env", env}};
    return nlohmann::json{{"value", value}};
}

}  // namespace ow::sidecar
