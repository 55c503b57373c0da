/*
 * ow_compose.h: the nginx-free logic of sequences and conductor actions
 * (openwhisk-api.md §4 "Sequences", §5), driven by
 * ngx_http_ow_compose_module.c: what one component's answer means for the
 * run (accounting, as OpenWhisk's SequenceActions / PrimitiveActions do it),
 * the conductor protocol (action, params, state), the activation record of
 * the sequence or composition (tools/owx/activation.py shape), the answer
 * to the client, and the Redis command that stores the record.
 */

#ifndef OW_COMPOSE_H
#define OW_COMPOSE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* OpenWhisk's limit_sequence_max_length: atomic actions after inlining */
#define OW_COMPOSE_MAX_ATOMIC       50

/* a component list longer than this is not remembered by the router */
#define OW_COMPOSE_COMPONENTS_MAX   16384

/*
 * How records and answers are serialised (tools/owx/activation.py's
 * float precision), by the compose driver too: the record it stores is
 * the answer it gives
 */
#define OW_COMPOSE_DUMP  (JSON_COMPACT | JSON_REAL_PRECISION(15))

#define OW_MSG_SEQ_TOO_LONG     "Too many actions in the sequence."
#define OW_MSG_SEQ_NOT_FOUND    "Sequence component does not exist."
#define OW_MSG_SEQ_FAILED       "Sequence failed."
#define OW_MSG_COMP_TOO_LONG    "Too many actions in the composition."
#define OW_MSG_COMP_FAILED      "Activation failure during composition."


/* what a sequence or a composition has done so far */
typedef struct {
    json_t     *logs;          /* component activation ids (strings) */
    json_t     *response;      /* the last {status, success, result, ...} */
    int64_t     duration;      /* sum of the components' durations */
    int64_t     max_memory;    /* of the components' limits; -1: none */
    int         atomic;        /* atomic actions run (sequences) */
    int         components;    /* component invocations (compositions) */
    int         conductors;    /* conductor invocations (compositions) */
    int         status_code;   /* of response: 0..3 */
    /* from the first conductor activation: the conductor's own facts */
    char        version[32];
    json_t     *limits;        /* the conductor's limits annotation */
    json_t     *state;         /* conductor state for the next call */
} ow_compose_t;

/* input: the payload of the first component (object); atomic: count so far */
int ow_compose_init(ow_compose_t *c, json_t *input, int atomic);
void ow_compose_free(ow_compose_t *c);

/* the input of the next component: the last result (borrowed) */
json_t *ow_compose_input(ow_compose_t *c);

/* a failure of the run itself: response = {"error": msg}, status 1 or 3 */
void ow_compose_fail(ow_compose_t *c, int status_code, const char *msg,
    const char *activation_id);

/*
 * One component's answer (the internal invoke's HTTP status, body and
 * x-openwhisk-activation-id header; nested: the X-OW-Atomic-Count the
 * answer carried, or -1). Updates the accounting. Returns 1 when the run
 * goes on, 0 when it stops (the component failed: its response is the
 * run's). sequence: 1 for sequence messages and atomic counting, 0 for
 * composition messages.
 */
int ow_compose_step(ow_compose_t *c, int sequence, int http_status,
    const char *body, size_t len, const char *activation_id, int nested);

/*
 * After a conductor activation (ow_compose_step returned 1 for it): what
 * next. Returns 1 and sets *next ("/ns/[pkg/]name", malloc'ed) and *params
 * (new reference) to invoke a component; 0 when the composition is done
 * (c->response is its answer); -1 when the conductor must be called again
 * with *params (an {"error": ...} object, new reference).
 * ns: the caller's namespace (relative names resolve to it).
 */
int ow_compose_conductor(ow_compose_t *c, const char *ns, char **next,
    json_t **params);

/* the conductor's input: params plus the saved state (new reference) */
json_t *ow_compose_conductor_input(ow_compose_t *c, json_t *params);

typedef struct {
    const char  *ns;           /* the caller's namespace (record's) */
    const char  *subject;
    const char  *action;       /* "ns/[pkg/]name" */
    const char  *version;      /* the sequence's; NULL: "0.0.1" */
    json_t      *limits;       /* the sequence's limits, or NULL */
    const char  *activation_id;
    const char  *cause;        /* NULL when topmost */
    int64_t      start, end;
    int64_t      wait_time;    /* conductor records only; -1: none */
    int          conductor;
} ow_compose_record_in_t;

/* the record of the sequence or composition (new reference) */
json_t *ow_compose_record(ow_compose_t *c, const ow_compose_record_in_t *in);

/*
 * The §5 answer to a blocking invoke: *status (200, 502 or 500) and the
 * body (malloc'ed): the record, or its result when result_only; an array
 * result whatever result_only says.
 */
char *ow_compose_answer(json_t *record, int result_only, int *status);

/* the per-name index of a record (activation.py index_name) */
void ow_compose_index_name(json_t *record, char *buf, size_t size);

/* the same from the record's "path" annotation (NULL: none) and name */
void ow_compose_index_name_of(const char *path, size_t path_len,
    const char *name, size_t name_len, char *buf, size_t size);

/*
 * The RESP command storing a record (EVAL of OW_LUA_WRITE_ACTIVATION (ow_schema.h) with the
 * keys of docs/redis-schema.md), malloc'ed, its length in *len.
 */
char *ow_compose_write_command(json_t *record, int64_t retention_ms,
    size_t *len);

/* the same with the record as it was answered (dumped: its JSON, stored
 * byte for byte; the keys are read from record) */
char *ow_compose_write_command_as(json_t *record, const char *dumped,
    int64_t retention_ms, size_t *len);

/* one record of a batch: its id, start (ms) and JSON, as stored */
typedef struct {
    const char  *id;
    size_t       id_len;
    int64_t      start;
    const char  *json;
    size_t       json_len;
} ow_compose_batch_record_t;

/*
 * The RESP command storing n records of namespace ns listed under the
 * per-name index index_name (ow_compose_index_name), from the JSON they
 * were built as, never parsed (the response cache's hits, made by the
 * thousand a second): each stored as ow_compose_write_command's would be,
 * in one script run. An EVALSHA: a Redis that answers NOSCRIPT (restarted,
 * its script cache empty) is sent ow_compose_write_batch_eval's copy.
 * malloc'ed; NULL: no memory, or a name too long for a key.
 */
char *ow_compose_write_batch_command(const char *ns, size_t ns_len,
    const char *index_name, size_t index_len,
    const ow_compose_batch_record_t *recs, size_t n, int64_t retention_ms,
    size_t *len);

/* that command as EVAL of the script, malloc'ed (NULL: not one, no memory) */
char *ow_compose_write_batch_eval(const char *cmd, size_t len,
    size_t *out_len);

/*
 * "/ns/[pkg/]name" (or "ns/..."; "_" is the caller's namespace) -> the
 * internal invoke path "ns/actions/[pkg/]name" in buf. 0, or -1 when the
 * name is not one.
 */
int ow_compose_component_path(const char *name, const char *ns, char *buf,
    size_t size);

#ifdef __cplusplus
}
#endif

#endif /* OW_COMPOSE_H */
