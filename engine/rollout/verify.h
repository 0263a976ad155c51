/*
 * Proof that a server serves the certificate it was given: a TLS handshake
 * with the server's address and port, SNI set, on the run's libuv loop
 * (never blocking it), and the SHA-256 of the leaf it presents compared
 * with the one expected. Reloads are asynchronous, so a check retries until
 * its timeout. It checks what is served, not whether a client would trust
 * it: the chain check has done that, and the comparison pins the exact
 * certificate. At most max_in_flight handshakes run at once per pool; the
 * rest wait in a queue.
 */
#ifndef CF_VERIFY_H
#define CF_VERIFY_H

#include <stddef.h>
#include <uv.h>

struct verify_pool;

/* What one check connects to and expects. verify_start copies it. */
struct verify_req {
	const char *address;        /* host name or IP address */
	int port;
	const char *sni;            /* server name sent; NULL or "": none */
	const char *expected;       /* SHA-256, 64 hex digits */
	unsigned timeout_ms;        /* retry until then */
};

/*
 * The answer: status 0 when the served leaf is the one expected; CF_ECHAIN
 * when another is served (served holds its SHA-256, msg says both);
 * CF_ETRANSPORT or CF_ETIMEDOUT when no handshake completed in time (msg:
 * the last connection error). served is "" when nothing was served.
 */
typedef void (*verify_cb)(void *arg, int status, const char *served,
    const char *msg);

/* A pool on loop; NULL when out of memory. max_in_flight < 1 means 8. */
struct verify_pool *verify_pool_new(uv_loop_t *loop, int max_in_flight);

/* Frees p once no check is in flight or queued (the caller waits for
 * every callback first). p may be NULL. */
void verify_pool_free(struct verify_pool *p);

/*
 * Starts one check; cb runs once, later, from the loop. Returns 0, or
 * CF_EINVAL / CF_ENOMEM with msg (cb is then not called).
 */
int verify_start(struct verify_pool *p, const struct verify_req *rq,
    verify_cb cb, void *arg, char *msg, size_t msgsz);

#endif
