// web_action.cc: see web_action.h.
#include "libow/web_action.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

#include "libow/base64.h"
#include "libow/json_dump.h"
#include "libow/json_limits.h"
#include "libow/params.h"

namespace ow {

namespace {

const char kNotFound[] = "The requested resource does not exist.";
const char kUnauthorized[] =
    "Authentication is possible but has failed or not yet been provided.";
const char kPropertyNotFound[] = "Response does not include requested property.";
const char kErrorProcessing[] = "There was an error processing your request.";
const char kUnknownContentType[] = "Response did not specify a known content-type.";
const char kContentTypeError[] = "Response type in header did not match generated content type.";
const char kMalformed[] = "The request content was malformed:\n";

// OpenWhisk's default Access-Control-Allow-Headers (openwhisk-api.md §0)
const char kAllowHeaders[] =
    "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent";
const char kAllowMethods[] = "OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH";

std::string lower(std::string s) {
    for (auto &c : s) c = (char)std::tolower((unsigned char)c);
    return s;
}

std::string trim(const std::string &s) {
    size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

const std::string *find_header(const HeaderList &h, const std::string &lower_name) {
    const std::string *v = nullptr;
    for (const auto &kv : h)
        if (lower(kv.first) == lower_name) v = &kv.second;   // the last wins
    return v;
}

int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// %XX decoding; plus_space for query strings and form bodies
std::string pct_decode(const std::string &s, bool plus_space) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] == '%' && i + 2 < s.size() && hexval(s[i + 1]) >= 0 &&
            hexval(s[i + 2]) >= 0) {
            out += (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if (plus_space && s[i] == '+') {
            out += ' ';
        } else {
            out += s[i];
        }
    }
    return out;
}

// "a=1&b=x+y&c" → {"a":"1","b":"x y","c":""}; a repeated name: the last
nlohmann::json parse_pairs(const std::string &s) {
    nlohmann::json o = nlohmann::json::object();
    size_t i = 0;
    while (i <= s.size()) {
        size_t amp = s.find('&', i);
        if (amp == std::string::npos) amp = s.size();
        std::string pair = s.substr(i, amp - i);
        if (!pair.empty()) {
            size_t eq = pair.find('=');
            std::string k = pct_decode(pair.substr(0, eq), true);
            std::string v = eq == std::string::npos ? "" : pct_decode(pair.substr(eq + 1), true);
            o[k] = v;
        }
        i = amp + 1;
    }
    return o;
}

// A Content-Type value → "type/subtype" in lower case, and whether it names
// a charset. False when it is not of that form.
bool media_type(const std::string &value, std::string *mt, bool *charset) {
    std::string v = lower(value);
    size_t semi = v.find(';');
    *mt = trim(v.substr(0, semi));
    *charset = semi != std::string::npos && v.find("charset=", semi) != std::string::npos;
    size_t slash = mt->find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == mt->size()) return false;
    for (char c : *mt)
        if (!(std::isalnum((unsigned char)c) || std::strchr("/!#$&^_.+-", c))) return false;
    return mt->find('/', slash + 1) == std::string::npos;
}

bool ends_with(const std::string &s, const std::string &suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool json_family(const std::string &mt) {
    return mt == "application/json" || ends_with(mt, "+json");
}

// Whether a media type carries text rather than bytes, as Akka HTTP (the
// controller's HTTP library) classifies the common ones: text/*, JSON, XML
// and script types, form data, or any type given with a charset; images,
// audio, video, octet-stream and other application/* types are binary.
bool media_is_text(const std::string &mt, bool charset) {
    if (charset || mt.compare(0, 5, "text/") == 0 || json_family(mt)) return true;
    if (mt.compare(0, 12, "application/") != 0) return false;
    static const char *const text[] = {"application/xml", "application/javascript",
                                       "application/x-javascript", "application/ecmascript",
                                       "application/x-www-form-urlencoded"};
    for (const char *t : text)
        if (mt == t) return true;
    return ends_with(mt, "+xml");
}

// Exec.isBinaryCode: non-empty, a multiple of 4, base64 alphabet
bool looks_base64(const std::string &s) {
    std::string t = trim(s);
    if (t.empty() || t.size() % 4 != 0) return false;
    size_t pad = t.size();
    while (pad > 0 && t[pad - 1] == '=') pad--;
    if (t.size() - pad > 2) return false;
    for (size_t i = 0; i < pad; i++) {
        char c = t[i];
        if (!(std::isalnum((unsigned char)c) || c == '+' || c == '/')) return false;
    }
    return true;
}

// statusCode: a whole number or a numeric string, 100..599
bool status_code(const nlohmann::json &v, int *code) {
    long c;
    if (v.is_number_integer()) {
        c = v.get<long>();
    } else if (v.is_number_float()) {
        double d = v.get<double>();
        // the range first: converting a double long cannot hold (1e300)
        // is undefined behaviour
        if (!(d >= 100 && d <= 599) || d != (double)(long)d) return false;
        c = (long)d;
    } else if (v.is_string()) {
        const std::string &s = v.get_ref<const std::string &>();
        if (s.empty() || s.size() > 9) return false;
        size_t i = s[0] == '-' || s[0] == '+' ? 1 : 0;
        if (i == s.size()) return false;
        for (; i < s.size(); i++)
            if (!std::isdigit((unsigned char)s[i])) return false;
        c = std::strtol(s.c_str(), nullptr, 10);
    } else {
        return false;
    }
    if (c < 100 || c > 599) return false;
    *code = (int)c;
    return true;
}

// RFC 9110 token: what a header name may be made of
bool header_name_ok(const std::string &k) {
    if (k.empty()) return false;
    for (unsigned char c : k)
        if (!(std::isalnum(c) || (c > ' ' && c < 127 && std::strchr("!#$%&'*+-.^_`|~", c))))
            return false;
    return true;
}

// CR, LF or NUL in a value would end the header line where the action
// says: the headers after it (a second Content-Length, a response of its
// own) are written as the sidecar's or nginx's (response splitting)
bool header_value_ok(const std::string &v) {
    return v.find_first_of(std::string("\r\n\0", 3)) == std::string::npos;
}

bool add_json_header(const std::string &k, const nlohmann::json &v, HeaderList *out) {
    if (!header_name_ok(k)) return false;
    if (v.is_string()) {
        if (!header_value_ok(v.get_ref<const std::string &>())) return false;
        out->emplace_back(k, v.get<std::string>());
    } else if (v.is_boolean()) {
        out->emplace_back(k, v.get<bool>() ? "true" : "false");
    } else if (v.is_number()) {
        out->emplace_back(k, v.dump());
    } else if (v.is_array()) {
        for (const auto &e : v)
            if (!add_json_header(k, e, out)) return false;
    } else {
        return false;
    }
    return true;
}

// headers the response itself defines (or nginx does): an action's value
// would contradict the body sent
bool response_header_dropped(const std::string &lower_name) {
    return lower_name == "content-type" || lower_name == "content-length" ||
           lower_name == "transfer-encoding" || lower_name == "connection";
}

WebResponse content(int status, const std::string &type, std::string body) {
    WebResponse r;
    r.status = status;
    if (!type.empty()) r.headers.emplace_back("Content-Type", type);
    r.body = std::move(body);
    return r;
}

std::string text_type(const std::string &value, const std::string &mt, bool charset) {
    // Akka renders a text type with its charset, UTF-8 unless given
    if (mt == "application/json") return mt;
    return charset ? value : mt + "; charset=UTF-8";
}

WebResponse as_http(const nlohmann::json &result, const std::string &tid) {
    static const char invalid[] = "Response is not valid 'message/http'.";
    if (!result.is_object()) return web_error(400, invalid, tid);
    HeaderList headers;
    auto h = result.find("headers");
    if (h != result.end()) {
        if (!h->is_object()) return web_error(400, invalid, tid);
        for (auto it = h->begin(); it != h->end(); ++it)
            if (!add_json_header(it.key(), it.value(), &headers)) return web_error(400, invalid, tid);
    }
    int code = 0;
    auto sc = result.find("statusCode");
    if (sc != result.end() && !status_code(*sc, &code)) return web_error(400, invalid, tid);

    const std::string *ctype = find_header(headers, "content-type");
    HeaderList kept;
    for (auto &kv : headers)
        if (!response_header_dropped(lower(kv.first))) kept.push_back(std::move(kv));

    auto b = result.find("body");
    WebResponse r;
    if (b == result.end() || b->is_null() || (b->is_string() && b->get_ref<const std::string &>().empty())) {
        // no entity: a Content-Type would describe nothing
        r.status = code ? code : 204;
    } else if (b->is_string()) {
        std::string mt;
        bool charset;
        std::string value = ctype ? *ctype : "text/html";
        if (!media_type(value, &mt, &charset)) return web_error(400, kUnknownContentType, tid);
        const std::string &s = b->get_ref<const std::string &>();
        r.status = code ? code : 200;
        if (media_is_text(mt, charset) && !(json_family(mt) && looks_base64(s))) {
            r.headers.emplace_back("Content-Type", text_type(value, mt, charset));
            r.body = s;
        } else {
            // binary types (and, legacy, base64 JSON) arrive base64-encoded
            if (!base64_decode(trim(s), &r.body)) return web_error(400, kContentTypeError, tid);
            r.headers.emplace_back("Content-Type",
                                   json_family(mt) ? text_type(value, mt, charset) : value);
        }
    } else {
        std::string mt = "application/json";
        bool charset = false;
        if (ctype && !media_type(*ctype, &mt, &charset)) return web_error(400, kUnknownContentType, tid);
        if (!json_family(mt)) return web_error(400, kContentTypeError, tid);
        r.status = code ? code : 200;
        r.headers.emplace_back("Content-Type", mt);
        r.body = json_dump(*b);
    }
    for (auto &kv : kept) r.headers.push_back(std::move(kv));
    return r;
}

// .html / .svg: the "body" (or html / svg) string field, or a string result
WebResponse as_markup(const nlohmann::json &result, const char *field, const char *type,
                      const char *name, const std::string &tid) {
    const nlohmann::json *v = &result;
    static const nlohmann::json null;
    if (result.is_object()) {
        auto it = result.find("body");
        if (it == result.end()) it = result.find(field);
        v = it == result.end() ? &null : &*it;
    }
    if (!v->is_string())
        return web_error(400, std::string("Response is not valid '") + name + "'.", tid);
    return content(200, type, v->get<std::string>());
}

WebResponse as_text(const nlohmann::json &result, const std::string &tid) {
    const nlohmann::json *v = &result;
    if (result.is_object()) {
        auto it = result.find("body");
        if (it == result.end()) it = result.find("text");
        if (it == result.end()) return web_error(404, kPropertyNotFound, tid);
        v = &*it;
    }
    std::string s = v->is_string() ? v->get<std::string>()
                    : v->is_structured() ? v->dump(2) : v->dump();
    return content(200, "text/plain; charset=UTF-8", std::move(s));
}

}  // namespace

WebAnnotations web_annotations(const nlohmann::json &annotations) {
    WebAnnotations w;
    // OpenWhisk reads these as booleans (getAs[Boolean]): only true counts
    auto is_true = [&](const char *k) {
        const nlohmann::json &v = annotation(annotations, k);
        return v.is_boolean() && v.get<bool>();
    };
    w.exported = is_true("web-export");
    w.raw_http = is_true("raw-http");
    w.custom_options = is_true("web-custom-options");
    const nlohmann::json &auth = annotation(annotations, "require-whisk-auth");
    if (auth.is_null() || (auth.is_boolean() && !auth.get<bool>())) {
        w.auth = WebAnnotations::Auth::none;
    } else if (auth.is_boolean()) {
        w.auth = WebAnnotations::Auth::user;
    } else if (auth.is_string()) {
        w.auth = WebAnnotations::Auth::secret;
        w.secret = auth.get<std::string>();
    } else if (auth.is_number()) {
        w.auth = WebAnnotations::Auth::secret;
        w.secret = auth.dump();
    } else {
        w.auth = WebAnnotations::Auth::deny;   // an object or array: nothing matches
    }
    return w;
}

bool parse_web_uri(const std::string &uri, WebTarget *t) {
    static const std::string prefix = "/api/v1/web/";
    size_t qm = uri.find('?');
    std::string path = uri.substr(0, qm);
    t->query = qm == std::string::npos ? "" : uri.substr(qm + 1);
    if (path.compare(0, prefix.size(), prefix) != 0) return false;
    size_t ns_end = path.find('/', prefix.size());
    if (ns_end == std::string::npos || ns_end == prefix.size()) return false;
    size_t pkg_end = path.find('/', ns_end + 1);
    if (pkg_end == std::string::npos || pkg_end == ns_end + 1) return false;
    size_t name_end = path.find('/', pkg_end + 1);
    if (name_end == std::string::npos) name_end = path.size();
    std::string name = pct_decode(path.substr(pkg_end + 1, name_end - pkg_end - 1), false);
    if (name.empty()) return false;
    static const std::pair<const char *, WebExt> exts[] = {
        {".http", WebExt::http}, {".json", WebExt::json}, {".html", WebExt::html},
        {".svg", WebExt::svg}, {".text", WebExt::text}};
    t->ext = WebExt::http;
    for (const auto &e : exts) {
        if (name.size() > std::strlen(e.first) && ends_with(name, e.first)) {
            t->ext = e.second;
            break;
        }
    }
    t->path = path.substr(name_end);
    return true;
}

WebResponse web_error(int status, const std::string &msg, const std::string &tid) {
    return content(status, "application/json", json_dump(error_body(msg, tid)));
}

HeaderList web_cors_headers(const HeaderList &request_headers) {
    const std::string *asked = find_header(request_headers, "access-control-request-headers");
    return {{"Access-Control-Allow-Origin", "*"},
            {"Access-Control-Allow-Methods", kAllowMethods},
            {"Access-Control-Allow-Headers", asked ? *asked : kAllowHeaders}};
}

bool secret_equal(const std::string &a, const std::string &b) {
    // every byte of the longer one is looked at, whatever differs first
    size_t n = std::max(a.size(), b.size());
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < a.size() ? (unsigned char)a[i] : 0;
        unsigned char y = i < b.size() ? (unsigned char)b[i] : 0;
        diff |= (unsigned char)(x ^ y);
    }
    return diff == 0;
}

bool web_precheck(const WebAnnotations &w, const WebRequest &req, const std::string &tid,
                  WebResponse *early) {
    if (!w.exported) {
        *early = web_error(404, kNotFound, tid);
        return true;
    }
    bool options = req.method == "OPTIONS";
    if (options && !w.custom_options) {
        *early = content(200, "", "");
        return true;
    }
    // with web-custom-options the action answers OPTIONS, authorized or not
    if (options) return false;
    bool allowed = true;
    switch (w.auth) {
    case WebAnnotations::Auth::none:
        break;
    case WebAnnotations::Auth::user:
        allowed = !req.user.empty();
        break;
    case WebAnnotations::Auth::secret: {
        const std::string *h = find_header(req.headers, "x-require-whisk-auth");
        allowed = h && secret_equal(*h, w.secret);
        break;
    }
    case WebAnnotations::Auth::deny:
        allowed = false;
        break;
    }
    if (allowed) return false;
    *early = web_error(401, kUnauthorized, tid);
    return true;
}

bool web_header_hidden(const std::string &n) {
    return n.compare(0, 5, "x-ow-") == 0 || n == "connection" || n == "content-length" ||
           n == "transfer-encoding" || n == "keep-alive" || n == "te" || n == "upgrade";
}

bool web_arguments(const nlohmann::json &run_params, const nlohmann::json &init_params,
                   bool final_params, const WebAnnotations &w, const WebRequest &req,
                   const WebTarget &t, const std::string &tid, nlohmann::json *args,
                   WebResponse *err) {
    nlohmann::json headers = nlohmann::json::object();
    bool has_type = false;
    for (const auto &kv : req.headers) {
        std::string n = lower(kv.first);
        if (web_header_hidden(n)) continue;
        if (n == "content-type") has_type = true;
        headers[n] = kv.second;
    }
    // a body without a type is application/octet-stream, and the action is
    // told so, as the controller does
    if (!has_type && !req.body.empty()) headers["content-type"] = "application/octet-stream";
    std::string ctype = headers.contains("content-type")
                            ? headers["content-type"].get<std::string>() : "application/octet-stream";
    std::string mt;
    bool charset = false;
    if (!media_type(ctype, &mt, &charset)) mt = "application/octet-stream";

    // the body: absent, an object to merge, or a value for __ow_body
    nlohmann::json body;            // null: no body
    bool has_body = !req.body.empty();
    if (has_body && !w.raw_http && json_family(mt)) {
        // bounded (json_limits.h): an anonymous body nested 100,000 deep
        // would overflow the stack when merged into the arguments, in the
        // sidecar and in the gateway's bridge (ow_web.h) alike
        JsonError why = JsonError::none;
        body = json_parse_bounded(req.body, &why);
        if (body.is_discarded()) {
            std::string detail = why == JsonError::too_deep || why == JsonError::too_large
                                     ? json_error_text(why) : "expected a JSON value.";
            *err = web_error(400, std::string(kMalformed) + detail, tid);
            return false;
        }
    } else if (has_body && !w.raw_http && mt == "application/x-www-form-urlencoded") {
        body = parse_pairs(req.body);
    } else if (has_body) {
        // the legacy rule: a raw JSON body is base64 too
        bool binary = !media_is_text(mt, charset) || mt == "application/json";
        body = binary ? base64_encode(req.body) : req.body;
    }
    // a JSON body that is not an object (even "null") goes in __ow_body
    bool body_fields = !w.raw_http && body.is_object();

    nlohmann::json query = w.raw_http ? nlohmann::json(t.query) : parse_pairs(t.query);

    if (!w.raw_http) {
        static const char *const reserved[] = {"__ow_method", "__ow_headers", "__ow_path",
                                               "__ow_user", "__ow_query", "__ow_body"};
        auto refused = [&](const std::string &k) {
            for (const char *r : reserved)
                if (k == r) return true;
            return final_params && (run_params.contains(k) || init_params.contains(k));
        };
        bool bad = false;
        for (auto it = query.begin(); it != query.end() && !bad; ++it) bad = refused(it.key());
        if (body_fields)
            for (auto it = body.begin(); it != body.end() && !bad; ++it) bad = refused(it.key());
        if (bad) {
            *err = web_error(400, kFinalError, tid);
            return false;
        }
    }

    *args = run_params;
    (*args)["__ow_method"] = lower(req.method);
    (*args)["__ow_headers"] = std::move(headers);
    (*args)["__ow_path"] = t.path;
    if (!req.user.empty()) (*args)["__ow_user"] = req.user;
    if (w.raw_http) {
        (*args)["__ow_query"] = query;
        (*args)["__ow_body"] = has_body ? body : nlohmann::json("");
    } else {
        for (auto it = query.begin(); it != query.end(); ++it) (*args)[it.key()] = it.value();
        if (body_fields) {
            for (auto it = body.begin(); it != body.end(); ++it) (*args)[it.key()] = it.value();
        } else if (has_body) {
            (*args)["__ow_body"] = body;
        }
    }
    return true;
}

WebResponse web_response(const WebTarget &t, int status_code, const nlohmann::json &result,
                         const std::string &tid) {
    if (status_code != 0 && status_code != 1) return web_error(400, kErrorProcessing, tid);
    // success: the result (projected by the rest of the path, except for
    // .http); an application error: its "error" value
    std::vector<std::string> path;
    if (status_code == 1) {
        path.push_back("error");
    } else if (t.ext != WebExt::http) {
        size_t i = 0;
        while (i < t.path.size()) {
            size_t j = t.path.find('/', i);
            if (j == std::string::npos) j = t.path.size();
            if (j > i) path.push_back(pct_decode(t.path.substr(i, j - i), false));
            i = j + 1;
        }
    }
    const nlohmann::json *v = &result;
    for (const auto &k : path) {
        if (!v->is_object()) return web_error(404, kPropertyNotFound, tid);
        auto it = v->find(k);
        if (it == v->end()) return web_error(404, kPropertyNotFound, tid);
        v = &*it;
    }
    switch (t.ext) {
    case WebExt::json:
        if (!v->is_object() && !v->is_array())
            return web_error(400, "Response is not valid 'application/json'.", tid);
        return content(200, "application/json", json_dump(*v));
    case WebExt::html:
        return as_markup(*v, "html", "text/html; charset=UTF-8", "text/html", tid);
    case WebExt::svg:
        return as_markup(*v, "svg", "image/svg+xml", "image/svg+xml", tid);
    case WebExt::text:
        return as_text(*v, tid);
    case WebExt::http:
        break;
    }
    return as_http(*v, tid);
}

WebExchange::WebExchange(const WebRequest &req, const nlohmann::json &annotations,
                         const nlohmann::json &run_params, const nlohmann::json &init_params,
                         bool final_params, std::string tid)
    : tid_(std::move(tid)) {
    if (!parse_web_uri(req.uri, &target_)) {
        answer(web_error(404, kNotFound, tid_));
        return;
    }
    WebAnnotations w = web_annotations(annotations);
    if (w.exported && !w.custom_options) cors_ = web_cors_headers(req.headers);
    WebResponse early;
    if (web_precheck(w, req, tid_, &early) ||
        !web_arguments(run_params, init_params, final_params, w, req, target_, tid_, &args_,
                       &early)) {
        answer(std::move(early));
        return;
    }
    runs_ = true;
}

void WebExchange::finish(int status_code, const nlohmann::json &result) {
    answer(web_response(target_, status_code, result, tid_));
}

void WebExchange::fail(int status, const std::string &msg) {
    answer(web_error(status, msg, tid_));
}

void WebExchange::answer(WebResponse r) {
    response_.status = r.status;
    response_.headers = cors_;
    for (auto &kv : r.headers) response_.headers.push_back(std::move(kv));
    response_.body = std::move(r.body);
}

}  // namespace ow
