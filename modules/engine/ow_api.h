/*
 * ow_api.h: the OpenWhisk management API as an nginx-free engine: a
 * request becomes an ow_op_t (ow_op.h), which ow_api_start() routes to
 * its collection's handler (ow_api_handlers.h); the glue then runs its
 * steps with ow_api_resume().
 */

#ifndef OW_API_H
#define OW_API_H

#include "ow_op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* route the request; returns OW_STEP_DONE or OW_STEP_REDIS */
int ow_api_start(ow_op_t *op);

#ifdef __cplusplus
}
#endif

#endif /* OW_API_H */
