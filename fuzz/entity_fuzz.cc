// entity_fuzz.cc: the management API's entity PUT, end to end through the
// nginx-free engine (modules/engine/ow_api.h: ow_api_start / ow_api_resume), as
// the nginx glue drives it, with a stand-in for Redis: routing and names
// (ow_names.h), the query, the body (ow_parse_body), the common fields and
// key-value arrays (ow_entity.c), an action's exec and limits (ow_exec.h,
// ow_limits.h), sequences, packages and bindings, triggers, rules; then the
// document stored and the response. With a second body, the same PUT again
// with ?overwrite=true over the document the first one stored (updates:
// annotation merge, version bump, exec kept, action <-> sequence).
//
// The stand-in answers as Redis and the scripts would (their replies are
// documented beside each script): what it is told by the input's header
// lines, else "does not exist" and "stored". A command it has no answer for
// is a Redis failure (the engine's 503): validation comes first.
//
// Beyond sanitizers: every response body is JSON; no 500 (an internal
// error) for a request the engine could have refused or served.
//
// Input (fuzz/fuzz_input.h):
//   PUT /api/v1/namespaces/_/actions/pkg/a?overwrite=true   request line
//   Limits: {"maxActionMemory":1024}     the namespace's limits (GET)
//   Package: {"binding":{...}}           a package read (HMGET, rule_pkg)
//   Seq: MISSING                         seq_check's answer (integer/error)
//   Store: CONFLICT                      put / rule_put's answer
//   Noscript: 1                          EVALSHA answered NOSCRIPT once
//                                        blank line
//   {"exec":{...}}                       body
//   ----
//   {"limits":{...}}                     optional update body
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "ow_api.h"

namespace {

// the runtimes manifest (images/gateway/runtimes.json and the kinds the
// unit tests use: a deprecated one, one requiring main), as
// ngx_http_ow_api_kinds reads it
const char kRuntimes[] =
    R"({"nodejs":[{"kind":"nodejs:18","default":true,"attached":false},)"
    R"({"kind":"nodejs:20","attached":true}],)"
    R"("python":[{"kind":"python:3.11","default":true,"attached":false}],)"
    R"("java":[{"kind":"java:8","default":true,"requireMain":true}],)"
    R"("php":[{"kind":"php:5","default":true,"deprecated":true}]})";

struct Config {
    ow_config_t conf{};
    Config() {
        ow_limits_default(&conf.system_limits);
        conf.runtimes = json_loads(kRuntimes, 0, nullptr);
        conf.kinds = json_object();
        conf.family_default = json_object();
        const char *family;
        json_t *list;
        json_object_foreach(conf.runtimes, family, list) {
            size_t i;
            json_t *rt;
            json_array_foreach(list, i, rt) {
                const char *kind = json_string_value(json_object_get(rt, "kind"));
                json_object_set(conf.kinds, kind, rt);
                if (json_is_true(json_object_get(rt, "default")))
                    json_object_set_new(conf.family_default, family, json_string(kind));
            }
        }
        conf.build = "owx";
        conf.api_host = "http://localhost:3233";
    }
};

const ow_config_t *config() {
    static Config c;   // built once: the module's configuration
    return &c.conf;
}

// the request line and the stand-in's answers
struct Request {
    ow_method_e method = OW_PUT;
    std::string uri, args;
    std::string limits, package, seq, store;
    bool noscript = false;
    std::string body;
};

Request request_of(std::string_view in) {
    Request r;
    std::string_view line = fuzz::take_line(&in);
    std::string_view m = fuzz::take_word(&line);
    r.method = m == "GET" ? OW_GET : m == "DELETE" ? OW_DELETE : m == "POST" ? OW_POST : OW_PUT;
    std::string target(line);
    size_t qm = target.find('?');
    r.uri = target.substr(0, qm);
    if (qm != std::string::npos) r.args = target.substr(qm + 1);
    while (!in.empty()) {
        line = fuzz::take_line(&in);
        if (line.empty()) break;
        size_t colon = line.find(": ");
        if (colon == std::string_view::npos) continue;
        std::string_view name = line.substr(0, colon), value = line.substr(colon + 2);
        if (name == "Limits") r.limits = value;
        else if (name == "Package") r.package = value;
        else if (name == "Seq") r.seq = value;
        else if (name == "Store") r.store = value;
        else if (name == "Noscript") r.noscript = true;
    }
    r.body = std::string(in);
    return r;
}

// ---- replies (hiredis structures, owned here) ----

struct Replies {
    std::vector<redisReply *> all;
    ~Replies() {
        for (redisReply *r : all) {
            free(r->str);
            free(r->element);
            free(r);
        }
    }
    redisReply *make(int type) {
        redisReply *r = static_cast<redisReply *>(calloc(1, sizeof(redisReply)));
        r->type = type;
        all.push_back(r);
        return r;
    }
    redisReply *str(const std::string &s, int type = REDIS_REPLY_STRING) {
        redisReply *r = make(type);
        r->str = static_cast<char *>(malloc(s.size() + 1));
        memcpy(r->str, s.data(), s.size());
        r->str[s.size()] = '\0';
        r->len = s.size();
        return r;
    }
    redisReply *nil() { return make(REDIS_REPLY_NIL); }
    redisReply *integer(long long n) {
        redisReply *r = make(REDIS_REPLY_INTEGER);
        r->integer = n;
        return r;
    }
    redisReply *array(const std::vector<redisReply *> &v) {
        redisReply *r = make(REDIS_REPLY_ARRAY);
        r->elements = v.size();
        r->element = static_cast<redisReply **>(calloc(v.size() + 1, sizeof(redisReply *)));
        for (size_t i = 0; i < v.size(); i++) r->element[i] = v[i];
        return r;
    }
    // a script's answer: an error when the input names one of the codes
    // the script returns (codes: space-separated), with the text the
    // script gives it (text(code)); an integer otherwise
    template <class Text>
    redisReply *script(const std::string &given, const std::string &codes, long long dflt,
                       Text text) {
        std::string code = given.substr(0, given.find(' '));
        if (!code.empty() && (" " + codes + " ").find(" " + code + " ") != std::string::npos)
            return str(code + " " + text(code), REDIS_REPLY_ERROR);
        char *end = nullptr;
        long long n = strtoll(given.c_str(), &end, 10);
        return integer(given.empty() || *end != '\0' ? dflt : n);
    }
};

// The arguments of a RESP command (the engine formats them with hiredis).
std::vector<std::string> argv_of(const char *cmd, int len) {
    std::vector<std::string> out;
    const char *p = cmd, *end = cmd + len;
    if (p >= end || *p != '*') return out;
    long n = strtol(p + 1, nullptr, 10);
    p = strchr(p, '\n') + 1;
    for (long i = 0; i < n && p < end; i++) {
        long l = strtol(p + 1, nullptr, 10);
        p = strchr(p, '\n') + 1;
        out.emplace_back(p, (size_t)l);
        p += l + 2;
    }
    return out;
}

// What a package read finds: the Package header's document when it is a
// JSON object (the gateway wrote it), else nothing.
bool package_doc(const Request &r, std::string *doc) {
    json_t *j = json_loadb(r.package.data(), r.package.size(), 0, nullptr);
    bool ok = json_is_object(j);
    json_decref(j);
    if (ok) *doc = r.package;
    return ok;
}

struct Stored {
    std::string coll, doc;
};

// Runs one request to its end. stored: in, the entity an overwrite reads
// (empty: none); out, the document the put script was given.
int run(const Request &rq, Stored *stored) {
    Replies replies;
    ow_op_t *op = ow_op_create();
    op->method = rq.method;
    op->uri = rq.uri.data();
    op->uri_len = rq.uri.size();
    op->args = rq.args.empty() ? nullptr : rq.args.data();
    op->args_len = rq.args.size();
    op->body = rq.body.empty() ? nullptr : rq.body.data();
    op->body_len = rq.body.size();
    op->subject = "guest";
    op->auth_ns = "guest";
    op->now_ms = 1700000000000;
    op->conf = config();
    Stored old = *stored;
    *stored = Stored();
    bool noscript = rq.noscript;

    int step = ow_api_start(op);
    for (int n = 0; step == OW_STEP_REDIS; n++) {
        FUZZ_CHECK(n < 32);   // every flow is a few steps
        std::vector<std::string> argv = argv_of(op->cmd, op->cmd_len);
        FUZZ_CHECK(!argv.empty());
        const std::string &c = argv[0];
        redisReply *reply = nullptr;
        std::string doc;
        if (c == "EVALSHA" && noscript) {
            noscript = false;
            reply = replies.str("NOSCRIPT No matching script.", REDIS_REPLY_ERROR);
        } else if ((c == "EVALSHA" || c == "EVAL") && op->script) {
            std::string name = op->script->name;
            int nkeys = op->script_nkeys;
            auto arg = [&](int i) {
                return std::string(op->script_argv[nkeys + i], op->script_argvlen[nkeys + i]);
            };
            if (name == "put") {
                // ARGV coll, rev, doc, ... -> the new revision
                *stored = Stored{arg(0), arg(2)};
                reply = replies.script(rq.store, "EXISTS COLL CONFLICT", 1,
                                       [](const std::string &) { return "entity store"; });
            } else if (name == "rule_put") {
                // ARGV rev, doc, ... -> {rev, status}
                *stored = Stored{"rules", arg(1)};
                reply = replies.script(rq.store, "EXISTS COLL CONFLICT NOTRIGGER NOACTION", 1,
                                       [](const std::string &) { return "rule store"; });
                if (reply->type == REDIS_REPLY_INTEGER)
                    reply = replies.array({reply, replies.str("active")});
            } else if (name == "seq_check") {
                // FORBIDDEN names the component (ARGV[5] on: "/ns/..."),
                // the others say "sequence check" (the script's texts)
                std::string first = op->script_argc > 4 ? arg(4) : std::string("/x/y");
                reply = replies.script(rq.seq, "FORBIDDEN NOTFOUND MISSING CYCLE TOOLONG", 1,
                                       [&](const std::string &code) {
                                           return code == "FORBIDDEN" ? first.substr(1)
                                                                      : std::string("sequence check");
                                       });
            } else if (name == "get") {
                // an entity with its extra hash (a trigger's rules):
                // {coll, doc, rev, extra} or nil; the first request's, if any
                reply = old.doc.empty()
                            ? replies.nil()
                            : replies.array({replies.str(old.coll), replies.str(old.doc),
                                             replies.str("1"), replies.array({})});
            } else if (name == "rule_pkg") {
                // {package coll, package doc, action coll}, '' when missing
                reply = package_doc(rq, &doc)
                            ? replies.array({replies.str("packages"), replies.str(doc),
                                             replies.str("actions")})
                            : replies.array({replies.str(""), replies.str(""), replies.str("")});
            }
        } else if (c == "GET" && argv.size() == 2) {
            // the namespace's limits (OW_KEY_LIMITS)
            reply = rq.limits.empty() ? replies.nil() : replies.str(rq.limits);
        } else if (c == "HMGET" && argv.size() == 5) {
            // the entity itself (coll doc rev): the first request's, if any
            reply = old.doc.empty()
                        ? replies.array({replies.nil(), replies.nil(), replies.nil()})
                        : replies.array({replies.str(old.coll), replies.str(old.doc),
                                         replies.str("1")});
        } else if (c == "HMGET" && argv.size() == 4) {
            // a package (coll doc)
            reply = package_doc(rq, &doc)
                        ? replies.array({replies.str("packages"), replies.str(doc)})
                        : replies.array({replies.nil(), replies.nil()});
        }
        step = ow_api_resume(op, reply);
    }

    int status = op->status;
    size_t len = 0;
    char *body = ow_op_response_body(op, "tid", &len);
    FUZZ_CHECK(body != nullptr);
    json_error_t err;
    json_t *j = json_loadb(body, len, JSON_DECODE_ANY, &err);
    if (j == nullptr) {
        fprintf(stderr, "status %d, body not JSON (%s): %.*s\n", status, err.text,
                (int)std::min<size_t>(len, 300), body);
        FUZZ_CHECK(j != nullptr);
    }
    // FUZZ_VERBOSE=1: each request's answer (to see what a seed reaches)
    static const bool verbose = getenv("FUZZ_VERBOSE") != nullptr;
    if (verbose || status == 500)
        fprintf(stderr, "%s%s -> %d %.*s\n", rq.uri.c_str(), rq.args.empty() ? "" : "?...",
                status, (int)std::min<size_t>(len, 300), body);
    FUZZ_CHECK(status != 500);
    json_decref(j);
    free(body);
    ow_op_free(op);
    return status;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    auto parts = fuzz::sections(std::string_view(reinterpret_cast<const char *>(data), size));
    Request rq = request_of(fuzz::section(parts, 0));
    Stored stored;
    int status = run(rq, &stored);
    FUZZ_CHECK(status >= 200 && status <= 599);

    // the update: the same PUT over what the first one stored
    if (parts.size() > 1 && status == 200 && !stored.doc.empty()) {
        Request up = rq;
        up.body = std::string(parts[1]);
        up.args = "overwrite=true";
        run(up, &stored);
    }
    return 0;
}
