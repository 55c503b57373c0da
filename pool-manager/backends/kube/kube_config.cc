// kube_config.cc: see kube_config.h.
#include "pool-manager/backends/kube/kube_config.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "libow/base64.h"

namespace ow::pm {

namespace {

bool read_file(const std::string &path, std::string *out) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    std::stringstream ss;
    ss << f.rdbuf();
    *out = ss.str();
    return true;
}

std::string trim(const std::string &s) {
    size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    size_t e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

// --- the YAML subset --------------------------------------------------

struct Line {
    size_t indent;
    std::string text;  // without indentation and comment
};

// Removes a " #" comment that is not inside quotes.
std::string strip_comment(const std::string &s) {
    char quote = 0;
    for (size_t i = 0; i < s.size(); i++) {
        char c = s[i];
        if (quote) {
            if (c == '\\' && quote == '"') i++;
            else if (c == quote) quote = 0;
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
            return s.substr(0, i);
        }
    }
    return s;
}

class YamlSubset {
public:
    explicit YamlSubset(const std::string &text) {
        std::istringstream in(text);
        std::string raw;
        while (std::getline(in, raw)) {
            if (raw.find('\t') != std::string::npos && raw.find_first_not_of(' ') < raw.size() &&
                raw[raw.find_first_not_of(' ')] == '\t') {
                ok_ = false;  // YAML forbids tabs for indentation
            }
            std::string t = trim(strip_comment(raw));
            if (t.empty() || t == "---" || t == "...") continue;
            lines_.push_back({raw.find_first_not_of(' '), t});
        }
    }

    nlohmann::json parse() {
        if (!ok_) return nlohmann::json::value_t::discarded;
        if (lines_.empty()) return nlohmann::json::object();
        nlohmann::json v = node();
        if (!ok_ || pos_ != lines_.size()) return nlohmann::json::value_t::discarded;
        return v;
    }

private:
    static bool is_item(const std::string &t) { return t == "-" || t.rfind("- ", 0) == 0; }

    nlohmann::json node() {
        if (depth_++ > 64) {  // bounded recursion on hostile input
            ok_ = false;
            return nullptr;
        }
        const Line &l = lines_[pos_];
        nlohmann::json v;
        if (is_item(l.text)) {
            v = seq(l.indent);
        } else if (l.text[0] == '{' || l.text[0] == '[' || l.text[0] == '"' ||
                   (l.text.find(": ") == std::string::npos && l.text.back() != ':')) {
            v = scalar(l.text);  // a lone value on its own line
            pos_++;
        } else {
            v = map(l.indent);
        }
        depth_--;
        return v;
    }

    nlohmann::json seq(size_t indent) {
        nlohmann::json a = nlohmann::json::array();
        while (ok_ && pos_ < lines_.size() && lines_[pos_].indent == indent &&
               is_item(lines_[pos_].text)) {
            std::string rest = trim(lines_[pos_].text.substr(1));
            if (rest.empty()) {
                pos_++;
                if (pos_ < lines_.size() && lines_[pos_].indent > indent) {
                    a.push_back(node());
                } else {
                    a.push_back(nullptr);
                }
                continue;
            }
            // "- key: v" starts a mapping whose keys sit where "key" is
            size_t off = lines_[pos_].text.find(rest);
            lines_[pos_].indent = indent + off;
            lines_[pos_].text = rest;
            a.push_back(node());
        }
        return a;
    }

    nlohmann::json map(size_t indent) {
        nlohmann::json m = nlohmann::json::object();
        while (ok_ && pos_ < lines_.size() && lines_[pos_].indent == indent &&
               !is_item(lines_[pos_].text)) {
            const std::string &t = lines_[pos_].text;
            size_t colon = key_end(t);
            if (colon == std::string::npos) {
                ok_ = false;
                break;
            }
            std::string key = trim(t.substr(0, colon));
            if (key.size() >= 2 && (key[0] == '"' || key[0] == '\'')) {
                key = key.substr(1, key.size() - 2);
            }
            std::string value = trim(t.substr(colon + 1));
            pos_++;
            if (!value.empty()) {
                m[key] = scalar(value);
            } else if (pos_ < lines_.size() &&
                       (lines_[pos_].indent > indent ||
                        (lines_[pos_].indent == indent && is_item(lines_[pos_].text)))) {
                m[key] = node();
            } else {
                m[key] = nullptr;
            }
        }
        if (ok_ && pos_ < lines_.size() && lines_[pos_].indent > indent) ok_ = false;
        return m;
    }

    // The ':' that ends a key: followed by a space or the end of the line,
    // outside quotes.
    static size_t key_end(const std::string &t) {
        char quote = 0;
        for (size_t i = 0; i < t.size(); i++) {
            char c = t[i];
            if (quote) {
                if (c == quote) quote = 0;
            } else if (c == '"' || c == '\'') {
                quote = c;
            } else if (c == ':' && (i + 1 == t.size() || t[i + 1] == ' ')) {
                return i;
            }
        }
        return std::string::npos;
    }

    nlohmann::json scalar(const std::string &v) {
        if (v[0] == '{' || v[0] == '[' || v[0] == '"') {
            // flow style and double quotes: the kubeconfig uses the JSON
            // subset of these ({}, [], "text")
            nlohmann::json j = nlohmann::json::parse(v, nullptr, false);
            if (j.is_discarded()) ok_ = false;
            return j;
        }
        if (v[0] == '\'') {
            if (v.size() < 2 || v.back() != '\'') {
                ok_ = false;
                return nullptr;
            }
            std::string s;
            for (size_t i = 1; i + 1 < v.size(); i++) {
                s += v[i];
                if (v[i] == '\'' && v[i + 1] == '\'') i++;  // '' is one quote
            }
            return s;
        }
        if (v == "true" || v == "True" || v == "TRUE") return true;
        if (v == "false" || v == "False" || v == "FALSE") return false;
        if (v == "null" || v == "~") return nullptr;
        return v;  // numbers stay text: every field read here is a string
    }

    std::vector<Line> lines_;
    size_t pos_ = 0;
    int depth_ = 0;
    bool ok_ = true;
};

// The entry named name in a kubeconfig list ("clusters", "users",
// "contexts"), or null.
const nlohmann::json *named(const nlohmann::json &doc, const char *list, const std::string &name) {
    auto it = doc.find(list);
    if (it == doc.end() || !it->is_array()) return nullptr;
    for (const auto &e : *it) {
        if (e.is_object() && e.value("name", "") == name) return &e;
    }
    return nullptr;
}

std::string str(const nlohmann::json &o, const char *key) {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string resolve(const std::string &dir, const std::string &p) {
    if (p.empty() || p[0] == '/' || dir.empty()) return p;
    return dir + "/" + p;
}

bool decode(const nlohmann::json &o, const char *key, std::string *out, std::string *err) {
    std::string b64 = str(o, key);
    if (b64.empty()) return true;
    if (!ow::base64_decode(b64, out)) {
        *err = std::string("kubeconfig: ") + key + " is not base64";
        return false;
    }
    return true;
}

}  // namespace

nlohmann::json parse_yaml_subset(const std::string &text) { return YamlSubset(text).parse(); }

bool load_in_cluster(KubeConfig *out, std::string *err, const std::string &sa_dir) {
    const char *host = std::getenv("KUBERNETES_SERVICE_HOST");
    const char *port = std::getenv("KUBERNETES_SERVICE_PORT");
    if (host == nullptr || *host == '\0' || port == nullptr || *port == '\0') {
        *err = "not in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set";
        return false;
    }
    KubeConfig c;
    std::string h = host;
    if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6 service address
    c.server = "https://" + h + ":" + port;
    c.token_file = sa_dir + "/token";
    std::string token;
    if (!read_file(c.token_file, &token)) {
        *err = "cannot read the service account token " + c.token_file;
        return false;
    }
    c.ca_file = sa_dir + "/ca.crt";
    std::string ns;
    if (read_file(sa_dir + "/namespace", &ns)) c.ns = trim(ns);
    *out = c;
    return true;
}

bool parse_kubeconfig(const std::string &text, const std::string &dir,
                      const std::string &context, KubeConfig *out, std::string *err) {
    nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded()) doc = parse_yaml_subset(text);
    if (doc.is_discarded() || !doc.is_object()) {
        *err = "kubeconfig: not the YAML/JSON subset this reads";
        return false;
    }
    std::string ctx_name = context.empty() ? str(doc, "current-context") : context;
    const nlohmann::json *ctx = named(doc, "contexts", ctx_name);
    if (ctx_name.empty() || ctx == nullptr || !ctx->contains("context")) {
        *err = "kubeconfig: no context \"" + ctx_name + "\"";
        return false;
    }
    const nlohmann::json &cx = (*ctx)["context"];
    if (!cx.is_object()) {
        *err = "kubeconfig: context \"" + ctx_name + "\" is empty";
        return false;
    }
    const nlohmann::json *cl = named(doc, "clusters", str(cx, "cluster"));
    if (cl == nullptr || !cl->contains("cluster") || !(*cl)["cluster"].is_object()) {
        *err = "kubeconfig: no cluster \"" + str(cx, "cluster") + "\"";
        return false;
    }
    const nlohmann::json &c = (*cl)["cluster"];
    KubeConfig k;
    k.server = str(c, "server");
    while (!k.server.empty() && k.server.back() == '/') k.server.pop_back();
    if (k.server.empty()) {
        *err = "kubeconfig: cluster \"" + str(cx, "cluster") + "\" has no server";
        return false;
    }
    k.ca_file = resolve(dir, str(c, "certificate-authority"));
    if (!decode(c, "certificate-authority-data", &k.ca_data, err)) return false;
    auto ins = c.find("insecure-skip-tls-verify");
    k.insecure = ins != c.end() && ins->is_boolean() && ins->get<bool>();
    std::string user = str(cx, "user");
    if (!user.empty()) {
        const nlohmann::json *u = named(doc, "users", user);
        if (u == nullptr) {
            *err = "kubeconfig: no user \"" + user + "\"";
            return false;
        }
        const nlohmann::json &uu = u->contains("user") ? (*u)["user"] : nlohmann::json();
        if (uu.is_object()) {
            if (uu.contains("exec") || uu.contains("auth-provider")) {
                *err = "kubeconfig: user \"" + user + "\" uses exec/auth-provider "
                       "credentials, which are not supported: use a token or a client "
                       "certificate";
                return false;
            }
            k.token = str(uu, "token");
            k.token_file = resolve(dir, str(uu, "tokenFile"));
            k.cert_file = resolve(dir, str(uu, "client-certificate"));
            k.key_file = resolve(dir, str(uu, "client-key"));
            if (!decode(uu, "client-certificate-data", &k.cert_data, err) ||
                !decode(uu, "client-key-data", &k.key_data, err)) {
                return false;
            }
        }
    }
    k.ns = str(cx, "namespace");
    *out = k;
    return true;
}

bool load_kubeconfig(const std::string &path, const std::string &context, KubeConfig *out,
                     std::string *err) {
    std::string text;
    if (!read_file(path, &text)) {
        *err = "cannot read kubeconfig " + path;
        return false;
    }
    size_t slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
    if (dir.empty()) dir = "/";
    return parse_kubeconfig(text, dir, context, out, err);
}

}  // namespace ow::pm
