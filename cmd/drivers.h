/*
 * The drivers a fleet file names, chosen from tables: the CA driver of
 * its `ca` (local, acme, command), and the transport of each server
 * (local, ssh). Shared by run, plan, assign and show.
 */
#ifndef CF_CMD_DRIVERS_H
#define CF_CMD_DRIVERS_H

#include "engine/ca/ca.h"
#include "engine/transport/transport.h"

#include <stddef.h>
#include <uv.h>

struct fleet;
struct server;

/* Opens the CA driver fleet f names, on loop. 0 or a CF_E* code with
 * msg. */
int cmd_ca_open(const struct fleet *f, uv_loop_t *loop,
    struct ca_driver **ca, char *msg, size_t msgsz);

/* Opens server s's transport on loop. 0 or a CF_E* code with msg. */
int cmd_transport_open(const struct server *s, uv_loop_t *loop,
    struct transport **out, char *msg, size_t msgsz);

#endif
