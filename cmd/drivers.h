/*
 * The drivers a fleet file names, chosen from tables: the CA driver of
 * its `ca` (local, acme, command), and the transport of each server
 * (local, ssh), with where ssh keeps its ControlMaster sockets. Shared by
 * run, plan, assign and show.
 */
#ifndef CF_CMD_DRIVERS_H
#define CF_CMD_DRIVERS_H

#include "engine/ca/ca.h"
#include "engine/transport/transport.h"

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct fleet;
struct server;

struct cmd_transports {
	char *control_dir;          /* ssh ControlMaster sockets, or NULL */
	bool control_tmp;           /* made by us in /tmp: removed at release */
};

/*
 * Chooses where ssh sockets live for fleet f: <state_dir>/ssh when that is
 * a short, plain path, else a private directory under /tmp (always, when
 * read_only: plan and show write nothing in the state directory). 0 or a
 * CF_E* code with msg.
 */
int cmd_transports_init(struct cmd_transports *ct, const struct fleet *f,
    bool read_only, char *msg, size_t msgsz);
void cmd_transports_release(struct cmd_transports *ct);

/* Opens the CA driver fleet f names, on loop. 0 or a CF_E* code with
 * msg. */
int cmd_ca_open(const struct fleet *f, uv_loop_t *loop,
    struct ca_driver **ca, char *msg, size_t msgsz);

/* Opens server s's transport on loop. 0 or a CF_E* code with msg. */
int cmd_transport_open(const struct cmd_transports *ct,
    const struct server *s, uv_loop_t *loop, struct transport **out,
    char *msg, size_t msgsz);

#endif
