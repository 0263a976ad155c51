/*
 * The ssh transport: a server reached through the OpenSSH client the ops
 * team already trusts (agents, jump hosts, known_hosts, ssh_config). One
 * `ssh ... -- HOST 'sh -s'` per server carries every operation of its
 * job: it is fed engine/transport/ssh_remote.sh once, then the operations
 * one at a time, every value base64-encoded: no inventory value reaches
 * the remote shell, or a local one, as code.
 */
#ifndef CF_TRANSPORT_SSH_H
#define CF_TRANSPORT_SSH_H

#include "engine/transport/transport.h"

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

/* How to reach one server. Strings are copied by transport_ssh_open. */
struct ssh_target {
	const char *address;        /* host name or IP, checked by inventory */
	const char *user;           /* NULL: ssh's default */
	int port;                   /* 0: ssh's default */
	const char *identity_file;  /* NULL: ssh's default */
	const char *ssh_config;     /* -F FILE, or NULL */
	const char *known_hosts;    /* UserKnownHostsFile, or NULL */
	bool accept_new;            /* StrictHostKeyChecking=accept-new */
	int connect_timeout;        /* seconds; 0: 10 */
	const char *root;           /* base of server paths; NULL: "/" */
};

/*
 * Opens a transport for server name reached as tg says. Nothing connects
 * until the first operation. Returns 0 with *out (closed with
 * (*out)->ops->close, which also ends the session), or CF_EINVAL /
 * CF_ENOMEM with msg.
 */
int transport_ssh_open(struct transport **out, uv_loop_t *loop,
    const char *server, const struct ssh_target *tg, char *msg,
    size_t msgsz);

#endif
