/*
 * ow_op.h: one request of the management API (ow_api.h) as it moves
 * through the engine: the op, its steps and the helpers every handler
 * answers with (ow_op.c).
 *
 * A request becomes an ow_op_t. The engine answers it in steps: each step
 * either finishes (status + body) or asks for one Redis command and names
 * the function that takes the reply. The nginx glue
 * (ngx_http_ow_api_module.c) only runs those commands asynchronously; unit
 * tests can run them synchronously. Writes are Lua scripts (ow_scripts.h),
 * so every step is one round trip and every change is atomic.
 */

#ifndef OW_OP_H
#define OW_OP_H

#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "ow_limits.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OW_STEP_DONE   0    /* op->status and op->body hold the response */
#define OW_STEP_REDIS  1    /* run op->cmd, pass the reply to ow_api_resume */

typedef enum {
    OW_GET = 0,
    OW_PUT,
    OW_POST,
    OW_DELETE,
    OW_HEAD,
    OW_OPTIONS,
    OW_OTHER
} ow_method_e;

typedef struct ow_op_s ow_op_t;
typedef int (*ow_step_pt)(ow_op_t *op, const redisReply *reply);

typedef struct {
    json_t         *runtimes;      /* "runtimes" of the info document */
    json_t         *kinds;         /* object: kind -> {default, image,..} */
    json_t         *family_default;/* object: "nodejs" -> "nodejs:20" */
    ow_limits_t     system_limits; /* defaults, overridden per namespace */
    int64_t         clock_offset_ms; /* added to now_ms for the per-minute
                                        windows (ow_limit_clock_offset) */
    const char     *build;         /* "build" of GET /api/v1 */
    const char     *api_host;      /* scheme://host:port used in docs */
} ow_config_t;

typedef struct {
    const char     *name;
    const char     *body;          /* Lua source */
    char            sha[41];       /* SHA-1 hex, filled by ow_scripts_init */
} ow_script_t;

struct ow_op_s {
    /* request: filled by the caller before ow_api_start() */
    ow_method_e         method;
    const char         *uri;       /* path, no query string */
    size_t              uri_len;
    int                 uri_decoded;  /* uri is already percent-decoded */
    const char         *args;      /* raw query string (may be NULL) */
    size_t              args_len;
    const char         *body;      /* request body (may be NULL) */
    size_t              body_len;
    const char         *subject;   /* identity from auth, NULL if none */
    const char         *auth_ns;   /* the key's namespace */
    int64_t             now_ms;
    const ow_config_t  *conf;

    /* parsed request (ow_api_start) */
    char               *ns;        /* namespace, '_' resolved */
    char               *coll;      /* "actions", "packages", ... */
    char               *path;      /* "name", "pkg/name", "pkg/" or NULL */
    json_t             *query;     /* decoded query arguments */
    json_t             *json;      /* parsed body, when the op needs one */

    /* continuation */
    ow_step_pt          next;
    char               *cmd;       /* RESP-formatted command to run */
    int                 cmd_len;
    const ow_script_t  *script;    /* script of cmd, for NOSCRIPT retry */
    char              **script_argv;
    size_t             *script_argvlen;
    int                 script_argc;
    int                 script_nkeys;

    /* response */
    int                 status;
    json_t             *out;       /* JSON body, or NULL */
    char               *text;      /* text body (when out is NULL) */
    size_t              text_len;
    int                 text_is_json;
    /*
     * Not answered here: the sidecar of this container (a warm table id)
     * answers, given the request (a WebSocket connection's, which that
     * sidecar holds: ow_api_connections.c)
     */
    char               *forward;

    /* scratch kept across steps, released by ow_op_free() */
    json_t             *keep;      /* object: name -> value */
    const struct ow_coll_s *cd;    /* collection of an entity op */
    json_t             *old;       /* stored doc read before an update */
    ow_step_pt          then;      /* continuation after a helper step */
    ow_limits_t         limits;    /* effective namespace limits */
    int64_t             rev;       /* revision read in an earlier step */
    int                 flags;

    /* an action's code moving in pieces (ow_code.h) */
    char               *code_key;
    const char         *code_src;  /* upload: the code, kept by op->keep */
    char               *code_buf;  /* download */
    size_t              code_len;
    size_t              code_chunks;
    size_t              code_next;
    int                 code_rereads;
    ow_step_pt          code_then;
    ow_step_pt          code_reread;

    /*
     * The op moves megabytes (a big body, an attachment): the glue runs
     * its steps and its answer's serialization off the event loop.
     */
    int                 heavy;
};

/* lifecycle */
ow_op_t *ow_op_create(void);
void ow_op_free(ow_op_t *op);

/*
 * Give the reply of op->cmd (NULL when Redis failed or timed out).
 * Returns OW_STEP_DONE or OW_STEP_REDIS.
 */
int ow_api_resume(ow_op_t *op, const redisReply *reply);

/*
 * The response body (caller frees): op->out serialized, or op->text handed
 * over; "code" is added to error bodies.
 */
char *ow_op_response_body(ow_op_t *op, const char *request_id, size_t *len);

/* ---- helpers for the handlers (ow_api_*.c, ow_entity.c, ow_code.c) ---- */

/* finish with a JSON body (steals the reference) */
int ow_done(ow_op_t *op, int status, json_t *body);
/* finish with {"error": message} */
int ow_error(ow_op_t *op, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int ow_done_text(ow_op_t *op, int status, const char *text);
/* finish with JSON that is already serialized (copied) */
int ow_done_json_text(ow_op_t *op, int status, const char *json, size_t len);

/* ask for a command; argv strings are copied */
int ow_redis(ow_op_t *op, ow_step_pt next, int argc, const char **argv,
    const size_t *argvlen);
int ow_redisf(ow_op_t *op, ow_step_pt next, const char *fmt, ...);
/* EVALSHA script (EVAL on NOSCRIPT); argv = keys then args */
int ow_script(ow_op_t *op, ow_step_pt next, const ow_script_t *s,
    int nkeys, int argc, const char **argv, const size_t *argvlen);

/* an error reply whose first word is code (see ow_scripts.h) */
int ow_reply_is(const redisReply *r, const char *code);

/* key built from a schema pattern; caller frees */
char *ow_key(const char *fmt, const char *ns, const char *rest);

/* the query string's arguments, percent-decoded, as a new object */
json_t *ow_parse_query(const char *args, size_t len);

/* query helpers */
const char *ow_query(ow_op_t *op, const char *name);
int ow_query_bool(ow_op_t *op, const char *name, int dflt);

/*
 * Parse the body as a JSON object into op->json. Returns 0, or finishes the
 * op with 400 "The request content was malformed:..." and returns -1.
 */
int ow_parse_body(ow_op_t *op, int required);

/*
 * Read the namespace's limit overrides into op->limits (starting from the
 * system limits), then call then(op, NULL).
 */
int ow_load_limits(ow_op_t *op, ow_step_pt then);

/* common messages (openwhisk-api.md §0) */
#define OW_MSG_NOT_FOUND   "The requested resource does not exist."
#define OW_MSG_EXISTS      "resource already exists"
#define OW_MSG_CONFLICT    "Concurrent modification to resource detected."
#define OW_MSG_WRONG_COLL \
    "Resource by this name exists but is not in this collection."
#define OW_MSG_BAD_NAME \
    "The name of the entity contains illegal characters."
#define OW_MSG_MALFORMED   "The request content was malformed:\n"
#define OW_MSG_UNAVAILABLE \
    "The server is currently unavailable. Please try again later."

int ow_forbidden(ow_op_t *op);
int ow_not_found(ow_op_t *op);

/*
 * The list query of §0: limit (default 30, 0 = 200, > 200 is 400), skip,
 * count. Returns 0, or finishes the op with 400 and returns -1.
 */
int ow_list_params(ow_op_t *op, const char *coll, long *limit, long *skip,
    int *count);

#ifdef __cplusplus
}
#endif

#endif /* OW_OP_H */
