/*
 * ow_web.h: web actions (openwhisk-api.md §7) for C callers: the gateway's
 * compose driver, which runs web-exported sequences and conductor actions
 * itself (modules/gateway/ngx_http_ow_compose_module.c). The C face of
 * libow/web_action.h, so that the sidecar (plain actions) and the gateway
 * shape a web request into arguments, and a result into the HTTP answer, by
 * the same code. No exception leaves these functions; every string they
 * take is (pointer, length) and need not be NUL-terminated.
 */

#ifndef OW_WEB_H
#define OW_WEB_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char  *name;
    size_t       name_len;
    const char  *value;
    size_t       value_len;
} ow_web_header_t;

typedef struct {
    const char             *method;    /* the client's, e.g. "GET" */
    size_t                  method_len;
    const char             *uri;       /* raw: /api/v1/web/ns/pkg/a.ext/r?q */
    size_t                  uri_len;
    const ow_web_header_t  *headers;   /* the client's */
    size_t                  nheaders;
    const char             *body;
    size_t                  body_len;
    const char             *user;      /* caller's namespace; 0: anonymous */
    size_t                  user_len;
    const char             *tid;       /* the "code" of error bodies */
    size_t                  tid_len;
} ow_web_request_t;

typedef struct {
    int                     status;
    const ow_web_header_t  *headers;   /* Content-Type and CORS included */
    size_t                  nheaders;
    const char             *body;
    size_t                  body_len;
} ow_web_response_t;

typedef struct ow_web_s  ow_web_t;

/*
 * A web request for an action whose facts are
 * {"annotations": [...], "parameters": [...]} (JSON text: the action's
 * annotations, and the parameter arrays of its package, binding and itself
 * concatenated in that order, later keys winning). NULL only when out of
 * memory. Then ow_web_runs() says what to do.
 */
ow_web_t *ow_web_prepare(const ow_web_request_t *req, const char *facts,
    size_t facts_len);

/*
 * 1: run the action with ow_web_arguments() and give its outcome to
 * ow_web_finish(); 0: answer ow_web_response() without running (not
 * exported or a bad URI 404, OPTIONS 200, require-whisk-auth unmet 401, a
 * reserved or final parameter overridden or a malformed JSON body 400).
 */
int ow_web_runs(const ow_web_t *w);

/*
 * The arguments the request makes, a JSON object as text (valid until
 * free): the action's parameters are not among them (they count for
 * `final`, but are merged where the action runs: a conductor action's own
 * container; a sequence has none).
 */
const char *ow_web_arguments(const ow_web_t *w, size_t *len);

/*
 * The activation's status code (0 success, 1 application error, 2 developer
 * error, 3 whisk error) and result (JSON text) -> the response: projection
 * by the rest of the path, then the extension's rules.
 */
void ow_web_finish(ow_web_t *w, int status_code, const char *result,
    size_t len);

/* the response is {"error": msg, "code": tid} with this status */
void ow_web_fail(ow_web_t *w, int status, const char *msg);

/* the answer to send (valid until ow_web_free or the next finish/fail) */
void ow_web_response(const ow_web_t *w, ow_web_response_t *out);

void ow_web_free(ow_web_t *w);

#ifdef __cplusplus
}
#endif

#endif /* OW_WEB_H */
