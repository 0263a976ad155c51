/*
 * The served-certificate check: resolve, connect, TLS handshake through
 * memory BIOs on a libuv TCP handle, read the leaf, compare its SHA-256.
 * Each attempt holds one of the pool's slots only while it runs; between
 * attempts (a server still reloading) the check waits on its own timer.
 */
#include "engine/rollout/verify.h"
#include "engine/base/container_of.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One attempt gives up after this long, the check goes on until its own
 * timeout; attempts start again after RETRY_MS, doubling to RETRY_MAX_MS. */
#define ATTEMPT_MS 5000
#define RETRY_MS 200
#define RETRY_MAX_MS 1000
#define DEFAULT_IN_FLIGHT 8

struct verify_pool {
	uv_loop_t *loop;
	SSL_CTX *ctx;
	int max_in_flight;
	int in_flight;
	int checks;                 /* checks not yet freed */
	struct check *head, *tail;  /* attempts waiting for a slot */
};

struct check {
	struct verify_pool *pool;
	struct check *next;
	char *address;
	char *sni;
	char port[8];
	char expected[65];
	uint64_t deadline;
	unsigned retry_ms;
	verify_cb cb;
	void *arg;

	uv_timer_t timer;           /* the attempt's limit, or the retry wait */
	uv_getaddrinfo_t gai;
	uv_tcp_t tcp;
	uv_connect_t conn;
	bool tcp_open;
	bool attempt_over;          /* the attempt's outcome is decided */
	SSL *ssl;
	BIO *rbio;                  /* what the server sent, for OpenSSL */
	BIO *wbio;                  /* what OpenSSL sends to the server */

	int status;                 /* the last attempt's outcome */
	char served[65];
	char msg[512];
	char seen[65];              /* the last leaf any attempt was served */
};

struct write_req {
	uv_write_t req;
	char data[];
};

static void attempt_start(struct check *c);

static void pool_pump(struct verify_pool *p)
{
	struct check *c;

	while (p->in_flight < p->max_in_flight && p->head != NULL) {
		c = p->head;
		p->head = c->next;
		if (p->head == NULL)
			p->tail = NULL;
		c->next = NULL;
		p->in_flight++;
		attempt_start(c);
	}
}

static void pool_queue(struct check *c)
{
	struct verify_pool *p = c->pool;

	if (p->tail != NULL)
		p->tail->next = c;
	else
		p->head = c;
	p->tail = c;
	pool_pump(p);
}

static void check_freed(uv_handle_t *h)
{
	struct check *c = container_of((uv_timer_t *)h, struct check, timer);

	c->pool->checks--;
	free(c->address);
	free(c->sni);
	free(c);
}

/* The check is over: its callback, then its timer goes. An attempt cut
 * short by the deadline does not hide what an earlier one was served. */
static void check_end(struct check *c)
{
	if (c->status != 0 && c->served[0] == '\0' && c->seen[0] != '\0') {
		c->status = CF_ECHAIN;
		memcpy(c->served, c->seen, sizeof c->served);
		snprintf(c->msg, sizeof c->msg, "%s:%s served SHA-256 %s, "
		    "expected %s", c->address, c->port, c->served,
		    c->expected);
	}
	c->cb(c->arg, c->status, c->served, c->msg);
	uv_close((uv_handle_t *)&c->timer, check_freed);
}

static void on_retry(uv_timer_t *t)
{
	pool_queue(container_of(t, struct check, timer));
}

/* The attempt's handles are closed: its slot goes to the next, and the
 * check ends or tries again. */
static void attempt_closed(struct check *c)
{
	struct verify_pool *p = c->pool;
	uint64_t now = uv_now(p->loop), wait;

	SSL_free(c->ssl);           /* frees both BIOs */
	c->ssl = NULL;
	p->in_flight--;
	if (c->status == 0 || now >= c->deadline) {
		check_end(c);
	} else {
		wait = c->retry_ms;
		if (now + wait > c->deadline)
			wait = c->deadline - now;
		c->retry_ms = c->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS :
		    c->retry_ms * 2;
		uv_timer_start(&c->timer, on_retry, wait, 0);
	}
	pool_pump(p);
}

static void on_tcp_closed(uv_handle_t *h)
{
	attempt_closed(container_of((uv_tcp_t *)h, struct check, tcp));
}

/* Decides the attempt once; later events of the same attempt (a read
 * after a timeout) find attempt_over and do nothing. */
static void attempt_over(struct check *c, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void attempt_over(struct check *c, int status, const char *fmt, ...)
{
	va_list ap;

	if (c->attempt_over)
		return;
	c->attempt_over = true;
	c->status = status;
	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof c->msg, fmt, ap);
	va_end(ap);
	uv_timer_stop(&c->timer);
	if (c->tcp_open) {
		c->tcp_open = false;
		uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
	} else {
		attempt_closed(c);
	}
}

static void on_written(uv_write_t *req, int status)
{
	(void)status;               /* a failed write shows as a failed read */
	free(container_of(req, struct write_req, req));
}

/* Sends what OpenSSL has written to its BIO. */
static int flush_out(struct check *c)
{
	size_t n = BIO_ctrl_pending(c->wbio);
	struct write_req *w;
	uv_buf_t buf;

	if (n == 0)
		return 0;
	w = malloc(sizeof *w + n);
	if (w == NULL)
		return CF_ENOMEM;
	if (BIO_read(c->wbio, w->data, (int)n) != (int)n) {
		free(w);
		return CF_EINTERNAL;
	}
	buf = uv_buf_init(w->data, (unsigned)n);
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1,
	    on_written) != 0) {
		free(w);
		return CF_ETRANSPORT;
	}
	return 0;
}

static void compare_leaf(struct check *c)
{
	X509 *leaf = SSL_get0_peer_certificate(c->ssl);

	if (leaf == NULL || crypto_fingerprint_sha256(leaf, c->served) != 0) {
		c->served[0] = '\0';
		attempt_over(c, CF_ETRANSPORT, "%s:%s presented no "
		    "certificate", c->address, c->port);
		return;
	}
	memcpy(c->seen, c->served, sizeof c->seen);
	if (strcasecmp(c->served, c->expected) == 0)
		attempt_over(c, 0, "%s:%s serves SHA-256 %s", c->address,
		    c->port, c->served);
	else
		attempt_over(c, CF_ECHAIN, "%s:%s served SHA-256 %s, "
		    "expected %s", c->address, c->port, c->served,
		    c->expected);
}

static void handshake_step(struct check *c)
{
	int r = SSL_do_handshake(c->ssl), e;
	char why[256];

	if (flush_out(c) != 0) {
		attempt_over(c, CF_ETRANSPORT, "cannot send to %s:%s",
		    c->address, c->port);
		return;
	}
	if (r == 1) {
		compare_leaf(c);
		return;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		return;
	ERR_error_string_n(ERR_peek_last_error(), why, sizeof why);
	ERR_clear_error();
	attempt_over(c, CF_ETRANSPORT, "TLS handshake with %s:%s failed: %s",
	    c->address, c->port, why);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	(void)h;
	buf->base = malloc(hint);
	buf->len = buf->base ? hint : 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct check *c = container_of((uv_tcp_t *)s, struct check, tcp);

	if (n > 0 && !c->attempt_over) {
		BIO_write(c->rbio, buf->base, (int)n);
		handshake_step(c);
	} else if (n < 0) {
		attempt_over(c, CF_ETRANSPORT, "%s:%s closed the connection "
		    "during the TLS handshake", c->address, c->port);
	}
	free(buf->base);
}

/* SNI carries host names only (RFC 6066), never an address literal. */
static bool is_ip_literal(const char *s)
{
	unsigned char buf[16];

	return uv_inet_pton(AF_INET, s, buf) == 0 ||
	    uv_inet_pton(AF_INET6, s, buf) == 0;
}

static void on_connected(uv_connect_t *req, int status)
{
	struct check *c = container_of(req, struct check, conn);

	if (c->attempt_over)
		return;
	if (status != 0) {
		attempt_over(c, CF_ETRANSPORT, "cannot connect to %s:%s: %s",
		    c->address, c->port, uv_strerror(status));
		return;
	}
	c->ssl = SSL_new(c->pool->ctx);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		attempt_over(c, CF_ENOMEM, "out of memory");
		return;
	}
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_connect_state(c->ssl);
	if (c->sni != NULL && !is_ip_literal(c->sni))
		SSL_set_tlsext_host_name(c->ssl, c->sni);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	handshake_step(c);
}

static void on_resolved(uv_getaddrinfo_t *req, int status,
    struct addrinfo *res)
{
	struct check *c = container_of(req, struct check, gai);
	int rc;

	c->gai.data = NULL;
	if (c->attempt_over) {
		/* The attempt timed out while resolving: its end waited. */
		uv_freeaddrinfo(res);
		attempt_closed(c);
		return;
	}
	if (status != 0) {
		uv_freeaddrinfo(res);
		attempt_over(c, CF_ETRANSPORT, "cannot resolve '%s': %s",
		    c->address, uv_strerror(status));
		return;
	}
	uv_tcp_init(c->pool->loop, &c->tcp);
	c->tcp_open = true;
	rc = uv_tcp_connect(&c->conn, &c->tcp, res->ai_addr, on_connected);
	uv_freeaddrinfo(res);
	if (rc != 0)
		attempt_over(c, CF_ETRANSPORT, "cannot connect to %s:%s: %s",
		    c->address, c->port, uv_strerror(rc));
}

static bool resolving;

static void on_attempt_timeout(uv_timer_t *t)
{
	struct check *c = container_of(t, struct check, timer);

	if (c->gai.data == &resolving) {
		/* getaddrinfo cannot be stopped: on_resolved ends it. */
		c->attempt_over = true;
		c->status = CF_ETIMEDOUT;
		snprintf(c->msg, sizeof c->msg, "cannot resolve '%s' in time",
		    c->address);
		return;
	}
	attempt_over(c, CF_ETIMEDOUT, "no TLS handshake with %s:%s in time",
	    c->address, c->port);
}

static void attempt_start(struct check *c)
{
	struct addrinfo hints;
	uint64_t now = uv_now(c->pool->loop), limit = ATTEMPT_MS;
	int rc;

	c->attempt_over = false;
	c->served[0] = '\0';
	if (c->deadline > now && c->deadline - now < limit)
		limit = c->deadline - now;
	uv_timer_start(&c->timer, on_attempt_timeout, limit ? limit : 1, 0);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	c->gai.data = &resolving;
	rc = uv_getaddrinfo(c->pool->loop, &c->gai, on_resolved, c->address,
	    c->port, &hints);
	if (rc != 0)
		attempt_over(c, CF_ETRANSPORT, "cannot resolve '%s': %s",
		    c->address, uv_strerror(rc));
}

struct verify_pool *verify_pool_new(uv_loop_t *loop, int max_in_flight)
{
	struct verify_pool *p = calloc(1, sizeof *p);

	if (p == NULL)
		return NULL;
	p->ctx = SSL_CTX_new(TLS_client_method());
	if (p->ctx == NULL) {
		free(p);
		return NULL;
	}
	/* What is served is compared byte for byte with what was assigned;
	 * trust was settled by the chain check. */
	SSL_CTX_set_verify(p->ctx, SSL_VERIFY_NONE, NULL);
	p->loop = loop;
	p->max_in_flight = max_in_flight > 0 ? max_in_flight :
	    DEFAULT_IN_FLIGHT;
	return p;
}

void verify_pool_free(struct verify_pool *p)
{
	if (p == NULL)
		return;
	SSL_CTX_free(p->ctx);
	free(p);
}

int verify_start(struct verify_pool *p, const struct verify_req *rq,
    verify_cb cb, void *arg, char *msg, size_t msgsz)
{
	struct check *c;

	if (rq->address == NULL || rq->address[0] == '\0' || rq->port < 1 ||
	    rq->port > 65535 || rq->expected == NULL ||
	    strlen(rq->expected) != 64)
		return cf_error(msg, msgsz, CF_EINVAL, "verify: invalid "
		    "request");
	c = calloc(1, sizeof *c);
	if (c == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	c->address = strdup(rq->address);
	c->sni = rq->sni && rq->sni[0] ? strdup(rq->sni) : NULL;
	if (c->address == NULL || (rq->sni && rq->sni[0] && !c->sni)) {
		free(c->address);
		free(c->sni);
		free(c);
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	}
	c->pool = p;
	snprintf(c->port, sizeof c->port, "%d", rq->port);
	memcpy(c->expected, rq->expected, 65);
	c->deadline = uv_now(p->loop) + rq->timeout_ms;
	c->retry_ms = RETRY_MS;
	c->cb = cb;
	c->arg = arg;
	uv_timer_init(p->loop, &c->timer);
	p->checks++;
	pool_queue(c);
	return 0;
}
