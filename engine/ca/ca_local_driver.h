/*
 * The embedded CA as a CA driver on the loop: policy and approval answered
 * at once, signing on the threadpool.
 */
#ifndef CF_CA_LOCAL_DRIVER_H
#define CF_CA_LOCAL_DRIVER_H

#include "engine/ca/ca.h"
#include "engine/ca/ca_local.h"

#include <uv.h>

/*
 * Loads the CA's files and makes a driver on loop. policy is copied (its
 * lists too). Returns 0 with *out (freed by out->ops->free), or a CF_E*
 * code with msg.
 */
int ca_local_driver_new(uv_loop_t *loop, const char *root_cert,
    const char *issuing_cert, const char *issuing_key,
    const struct ca_policy *policy, struct ca_driver **out, char *msg,
    size_t msgsz);

#endif
