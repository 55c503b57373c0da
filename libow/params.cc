// params.cc: see params.h.
#include "libow/params.h"

namespace ow {

const char kFinalError[] =
    "Request defines parameters that are not allowed (e.g., reserved properties).";

const nlohmann::json &annotation(const nlohmann::json &annotations, const std::string &key) {
    // function-local: built on first use, not at dlopen in the master
    static const nlohmann::json null;
    if (!annotations.is_array()) return null;
    for (const auto &a : annotations) {
        if (!a.is_object()) continue;
        auto k = a.find("key");
        if (k != a.end() && k->is_string() && *k == key) {
            auto v = a.find("value");
            return v == a.end() ? null : *v;
        }
    }
    return null;
}

bool truthy(const nlohmann::json &v) {
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_number()) return v.get<double>() != 0;
    if (v.is_string()) return !v.get_ref<const std::string &>().empty();
    if (v.is_null()) return false;
    return true;
}

void add_params(const nlohmann::json &params, nlohmann::json *run_params,
                nlohmann::json *init_params) {
    if (!params.is_array()) return;
    for (const auto &p : params) {
        if (!p.is_object()) continue;
        auto k = p.find("key");
        if (k == p.end() || !k->is_string()) continue;
        auto v = p.find("value");
        nlohmann::json value = v == p.end() ? nlohmann::json() : *v;
        auto init = p.find("init");
        std::string key = k->get<std::string>();
        if (init != p.end() && truthy(*init)) {
            (*init_params)[key] = value;
            run_params->erase(key);
        } else {
            (*run_params)[key] = value;
            init_params->erase(key);
        }
    }
}

nlohmann::json error_body(const std::string &msg, const std::string &code) {
    return nlohmann::json{{"error", msg}, {"code", code}};
}

}  // namespace ow
