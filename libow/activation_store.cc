// activation_store.cc: see activation_store.h.
#include "libow/activation_store.h"

#include <cstdio>

#include "schema/ow_schema.h"

namespace ow {

const char kWriteActivationLua[] = OW_LUA_WRITE_ACTIVATION;
const char kWriteActivationsLua[] = OW_LUA_WRITE_ACTIVATIONS;

namespace {

std::string ann_string(const nlohmann::json &record, const char *key) {
    auto anns = record.find("annotations");
    if (anns == record.end() || !anns->is_array()) return "";
    for (const auto &e : *anns) {
        if (e.is_object() && e.value("key", "") == key) {
            auto v = e.find("value");
            if (v != e.end() && v->is_string()) return v->get<std::string>();
        }
    }
    return "";
}

// A key from an ow_schema.h format: "%s" is the namespace, then the rest.
std::string key(const char *fmt, const std::string &ns, const std::string *rest) {
    int n = rest ? std::snprintf(nullptr, 0, fmt, ns.c_str(), rest->c_str())
                 : std::snprintf(nullptr, 0, fmt, ns.c_str());
    std::string out(n > 0 ? n : 0, '\0');
    if (rest) {
        std::snprintf(out.data(), out.size() + 1, fmt, ns.c_str(), rest->c_str());
    } else {
        std::snprintf(out.data(), out.size() + 1, fmt, ns.c_str());
    }
    return out;
}

}  // namespace

std::string activation_index_name(const nlohmann::json &record) {
    return activation_index_name(record.value("name", ""), ann_string(record, "binding"),
                                 ann_string(record, "path"));
}

std::string activation_index_name(const std::string &name, const std::string &binding,
                                  const std::string &path) {
    size_t slash = binding.find('/');
    if (slash != std::string::npos) {
        std::string rest = binding.substr(slash + 1);
        return rest.substr(0, rest.find('/')) + "/" + name;
    }
    size_t a = path.find('/');
    if (a != std::string::npos) {
        size_t b = path.find('/', a + 1);
        if (b != std::string::npos && path.find('/', b + 1) == std::string::npos)
            return path.substr(a + 1, b - a - 1) + "/" + name;
    }
    return name;
}

std::string activation_key(const std::string &ns, const std::string &id) {
    return key(OW_KEY_ACTIVATION, ns, &id);
}
std::string act_index_key(const std::string &ns) { return key(OW_KEY_ACT_INDEX, ns, nullptr); }
std::string act_name_index_key(const std::string &ns, const std::string &name) {
    return key(OW_KEY_ACT_NAME_INDEX, ns, &name);
}
std::string entity_key(const std::string &ns, const std::string &path) {
    return key(OW_KEY_ENTITY, ns, &path);
}

std::string code_key(const std::string &ns, const std::string &id) {
    return key(OW_KEY_CODE, ns, &id);
}

std::string limits_key(const std::string &ns) { return key(OW_KEY_LIMITS, ns, nullptr); }

std::string connections_key(const std::string &ns) {
    return key(OW_KEY_CONNECTIONS, ns, nullptr);
}
std::string connection_key(const std::string &ns, const std::string &id) {
    return key(OW_KEY_CONNECTION, ns, &id);
}
std::string rate_key(const std::string &ns, const std::string &minute) {
    return key(OW_KEY_RATE, ns, &minute);
}

}  // namespace ow
