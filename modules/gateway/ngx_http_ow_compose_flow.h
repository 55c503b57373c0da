/*
 * ngx_http_ow_compose_flow.h: what the files of ngx_http_ow_compose_module
 * share: the module's form and the start of a flow
 * (ngx_http_ow_compose_module.c), the flow itself
 * (ngx_http_ow_compose_flow.c). Other modules use ngx_http_ow_compose.h.
 */

#ifndef NGX_HTTP_OW_COMPOSE_FLOW_H
#define NGX_HTTP_OW_COMPOSE_FLOW_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ow_compose.h"
#include "libow/ow_web.h"

typedef struct {
    ngx_str_t                     uri;         /* component proxy prefix */
    time_t                        retention;
} ngx_http_ow_compose_main_conf_t;


typedef struct {
    ngx_http_request_t           *request;
    ngx_str_t                     action;      /* "ns/path" */
    ngx_uint_t                    kind;
    json_t                       *doc;         /* the sequence's facts */
    json_t                       *components;  /* borrowed from doc */
    ngx_uint_t                    next;
    char                         *ns;
    char                         *subject;

    ow_compose_t                  acc;
    ngx_uint_t                    acc_init;

    /* conductor: what the next call is */
    ngx_uint_t                    call_conductor;
    char                         *component;   /* malloc'ed */
    json_t                       *params;

    u_char                        id[33];
    u_char                        cause[33];
    u_char                        count[NGX_INT_T_LEN];
    size_t                        count_len;
    ngx_uint_t                    plain;       /* the call runs it plain */

    ngx_uint_t                    blocking;
    ngx_uint_t                    result_only;
    ngx_uint_t                    nested;
    ngx_uint_t                    answered;
    ngx_uint_t                    done;
    ngx_msec_t                    wait;
    int64_t                       start;
    int64_t                       accept;

    /* the last call's answer: its body copied as it passes (r->pool) */
    ngx_http_request_t           *call;        /* the call's subrequest */
    ngx_int_t                     status;
    u_char                       *body;
    size_t                        body_len;
    size_t                        body_size;
    ngx_uint_t                    too_big;
    u_char                        answer_id[33];
    ngx_int_t                     answer_count;

    ngx_uint_t                    calling;     /* a call is in flight */

    /* a web request (openwhisk-api.md §7): shaped by libow/ow_web.h */
    ow_web_t                     *web;
    u_char                       *web_facts;   /* r->pool */
    size_t                        web_facts_len;

    ngx_event_t                   timer;       /* the blocking wait */
    ngx_event_t                   step;        /* the next step, posted */
    ngx_int_t                     rc;          /* of the answer's output */
} ngx_http_ow_compose_flow_t;

extern ngx_module_t  ngx_http_ow_compose_module;

/* ngx_http_ow_compose_flow.c */
int64_t ngx_http_ow_compose_now(void);
ngx_uint_t ngx_http_ow_compose_id_valid(ngx_str_t *s);
void ngx_http_ow_compose_accepted(ngx_http_ow_compose_flow_t *f);
void ngx_http_ow_compose_call_conductor(ngx_http_ow_compose_flow_t *f,
    json_t *params);
void ngx_http_ow_compose_next(ngx_http_ow_compose_flow_t *f);
void ngx_http_ow_compose_release(ngx_http_ow_compose_flow_t *f);
ngx_int_t ngx_http_ow_compose_send_web(ngx_http_request_t *r, ow_web_t *web,
    u_char *id);
void ngx_http_ow_compose_stepped(ngx_event_t *ev);
ngx_int_t ngx_http_ow_compose_init_filters(ngx_conf_t *cf);
void ngx_http_ow_compose_wait_expired(ngx_event_t *ev);

#endif /* NGX_HTTP_OW_COMPOSE_FLOW_H */
