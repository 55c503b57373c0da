/*
 * ow_api_handlers.h: one handler a collection, one file each, routed to
 * by ow_api_start() (ow_api.c); they answer through ow_op.h and call no
 * one back.
 */

#ifndef OW_API_HANDLERS_H
#define OW_API_HANDLERS_H

#include "ow_op.h"

#ifdef __cplusplus
extern "C" {
#endif

int ow_api_info(ow_op_t *op);                       /* ow_api_info.c */
int ow_api_namespaces(ow_op_t *op);                 /* ow_api_info.c */
int ow_api_limits(ow_op_t *op);                     /* ow_api_info.c */
int ow_api_actions(ow_op_t *op);                    /* ow_api_actions.c */
int ow_api_packages(ow_op_t *op);                   /* ow_api_packages.c */
int ow_api_triggers(ow_op_t *op);                   /* ow_api_triggers.c */
int ow_api_rules(ow_op_t *op);                      /* ow_api_rules.c */
int ow_api_activations(ow_op_t *op);                /* ow_api_activations.c */
int ow_api_connections(ow_op_t *op);                /* ow_api_connections.c */
/* whisk.system/apimgmt/{createApi,getApi,deleteApi}[.ext] (wsk api) */
int ow_api_routes(ow_op_t *op, const char *action); /* ow_api_routes.c */

#ifdef __cplusplus
}
#endif

#endif /* OW_API_HANDLERS_H */
