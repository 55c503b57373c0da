// runtimes.cc: see runtimes.h.
#include "pool-manager/runtimes.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace ow::pm {

bool Runtimes::load_text(const std::string &text, std::string *err) {
    nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        *err = "runtimes: not a JSON object";
        return false;
    }
    std::map<std::string, Runtime> kinds;
    for (auto it = doc.begin(); it != doc.end(); ++it) {
        const nlohmann::json &v = it.value();
        Runtime r;
        r.kind = it.key();
        if (!v.is_object() || !v.contains("command") ||
            !v["command"].is_array() || v["command"].empty()) {
            *err = "runtimes: " + r.kind + ": command must be a non-empty array";
            return false;
        }
        for (const auto &a : v["command"]) {
            if (!a.is_string()) {
                *err = "runtimes: " + r.kind + ": command items must be strings";
                return false;
            }
            r.command.push_back(a.get<std::string>());
        }
        if (v.contains("family") && v["family"].is_string()) {
            r.family = v["family"].get<std::string>();
        } else {
            r.family = r.kind.substr(0, r.kind.find(':'));
        }
        r.is_default = v.contains("default") && v["default"].is_boolean() &&
                       v["default"].get<bool>();
        kinds.emplace(r.kind, std::move(r));
    }
    kinds_ = std::move(kinds);
    return true;
}

bool Runtimes::load_file(const std::string &path, std::string *err) {
    std::ifstream f(path);
    if (!f) {
        *err = "runtimes: cannot read " + path;
        return false;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    return load_text(ss.str(), err);
}

const Runtime *Runtimes::resolve(const std::string &kind) const {
    auto it = kinds_.find(kind);
    if (it != kinds_.end()) return &it->second;
    static const std::string suffix = ":default";
    if (kind.size() > suffix.size() &&
        kind.compare(kind.size() - suffix.size(), suffix.size(), suffix) == 0) {
        std::string family = kind.substr(0, kind.size() - suffix.size());
        for (const auto &kv : kinds_) {
            if (kv.second.family == family && kv.second.is_default) {
                return &kv.second;
            }
        }
    }
    return nullptr;
}

}  // namespace ow::pm
