/*
 * The HTTP client on a real loop: TLS against `openssl s_server -WWW`
 * with a throw-away CA made here, headers and keep-alive against a tiny
 * plain HTTP server on a uv_tcp_t in the same loop, and Retry-After.
 */
/* For posix_spawn_file_actions_addchdir_np, strcasestr and asprintf: the
 * test alone needs them. */
#define _GNU_SOURCE
#include "tests/unit/unit.h"
#include "engine/base/container_of.h"
#include "engine/base/err.h"
#include "engine/acme/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

extern char **environ;

/* ---- the TLS fixture: a CA, a server certificate, s_server -WWW ---- */

static struct {
	char dir[64];               /* mkdtemp: keys, certificates */
	char www[128];              /* served by s_server */
	char ca[128], other_ca[128], cert[128], key[128];
	int port;
	pid_t pid;
} tls;

static long serial = 1;

static void add_ext(X509 *c, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);

	assert_non_null(ext);
	assert_int_equal(X509_add_ext(c, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* A certificate for key named cn, signed by issuer (NULL: self-signed). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer,
    EVP_PKEY *ikey)
{
	X509 *c = X509_new();
	X509_NAME *n;
	X509V3_CTX ctx;

	assert_non_null(c);
	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), serial++);
	X509_gmtime_adj(X509_getm_notBefore(c), -3600);
	X509_gmtime_adj(X509_getm_notAfter(c), 86400);
	X509_set_pubkey(c, key);
	n = X509_get_subject_name(c);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(c, issuer != NULL ?
	    X509_get_subject_name(issuer) : n);
	X509V3_set_ctx(&ctx, issuer != NULL ? issuer : c, c, NULL, NULL, 0);
	add_ext(c, &ctx, NID_subject_key_identifier, "hash");
	if (issuer == NULL) {
		add_ext(c, &ctx, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(c, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(c, &ctx, NID_basic_constraints, "CA:FALSE");
		add_ext(c, &ctx, NID_authority_key_identifier,
		    "keyid:always");
		add_ext(c, &ctx, NID_key_usage, "critical,digitalSignature");
		add_ext(c, &ctx, NID_ext_key_usage, "serverAuth");
		add_ext(c, &ctx, NID_subject_alt_name,
		    "IP:127.0.0.1,DNS:localhost");
	}
	assert_true(X509_sign(c, ikey != NULL ? ikey : key, EVP_sha256()) >
	    0);
	return c;
}

static void write_cert(const char *path, X509 *c)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, c), 1);
	fclose(f);
}

static void write_file(const char *path, size_t size)
{
	FILE *f = fopen(path, "w");
	size_t i;

	assert_non_null(f);
	for (i = 0; i < size; i++)
		fputc('a' + (int)(i % 26), f);
	fclose(f);
}

/* A loopback port nobody listens on (for now). */
static int free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static bool port_open(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), rc;

	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rc = connect(fd, (struct sockaddr *)&a, sizeof a);
	close(fd);
	return rc == 0;
}

static int tls_setup(void **state)
{
	EVP_PKEY *cakey, *otherkey, *key;
	X509 *ca, *other, *cert;
	posix_spawn_file_actions_t fa;
	char accept[64], path[256];
	FILE *f;
	int i;

	(void)state;
	snprintf(tls.dir, sizeof tls.dir, "/tmp/cf-http-XXXXXX");
	assert_non_null(mkdtemp(tls.dir));
	snprintf(tls.www, sizeof tls.www, "%s/www", tls.dir);
	assert_int_equal(mkdir(tls.www, 0700), 0);
	snprintf(tls.ca, sizeof tls.ca, "%s/ca.pem", tls.dir);
	snprintf(tls.other_ca, sizeof tls.other_ca, "%s/other.pem", tls.dir);
	snprintf(tls.cert, sizeof tls.cert, "%s/cert.pem", tls.dir);
	snprintf(tls.key, sizeof tls.key, "%s/key.pem", tls.dir);

	cakey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	otherkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ca = make_cert(cakey, "certfleet test CA", NULL, NULL);
	other = make_cert(otherkey, "certfleet test CA", NULL, NULL);
	cert = make_cert(key, "127.0.0.1", ca, cakey);
	write_cert(tls.ca, ca);
	write_cert(tls.other_ca, other);
	write_cert(tls.cert, cert);
	f = fopen(tls.key, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL,
	    NULL), 1);
	fclose(f);
	X509_free(ca);
	X509_free(other);
	X509_free(cert);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(otherkey);
	EVP_PKEY_free(key);

	f = fopen((snprintf(path, sizeof path, "%s/hello.txt", tls.www),
	    path), "w");
	fputs("hello world\n", f);
	fclose(f);
	snprintf(path, sizeof path, "%s/big.bin", tls.www);
	write_file(path, 200000);
	snprintf(path, sizeof path, "%s/exact.bin", tls.www);
	write_file(path, 65536);

	tls.port = free_port();
	snprintf(accept, sizeof accept, "127.0.0.1:%d", tls.port);
	{
		char *argv[] = { "openssl", "s_server", "-accept", accept,
		    "-cert", tls.cert, "-key", tls.key, "-WWW", "-quiet",
		    NULL };

		assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
		assert_int_equal(posix_spawn_file_actions_addchdir_np(&fa,
		    tls.www), 0);
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
		    O_RDONLY, 0);
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null",
		    O_WRONLY, 0);
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null",
		    O_WRONLY, 0);
		assert_int_equal(posix_spawnp(&tls.pid, "openssl", &fa, NULL,
		    argv, environ), 0);
		posix_spawn_file_actions_destroy(&fa);
	}
	for (i = 0; i < 200 && !port_open(tls.port); i++)
		usleep(25000);
	assert_true(i < 200);
	return 0;
}

static int tls_teardown(void **state)
{
	static const char *const names[] = { "www/hello.txt", "www/big.bin",
	    "www/exact.bin", "www", "ca.pem", "other.pem", "cert.pem",
	    "key.pem" };
	char path[256];
	size_t i;
	int st;

	(void)state;
	if (tls.pid > 0) {
		kill(tls.pid, SIGTERM);
		waitpid(tls.pid, &st, 0);
		tls.pid = 0;
	}
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", tls.dir, names[i]);
		if (remove(path) != 0)
			return -1;
	}
	return rmdir(tls.dir);
}

/* ---- a plain HTTP/1.1 server with canned answers, on the loop ---- */

struct tsrv;

struct tconn {
	uv_tcp_t tcp;
	uv_timer_t delay;
	struct tsrv *s;
	struct tconn *prev, *next;
	char buf[16384];
	size_t len;
	char *pending;              /* an answer waiting for the delay */
	int open;                   /* handles not yet closed */
	bool closing;
};

struct tsrv {
	uv_tcp_t tcp;
	uv_loop_t *loop;
	int port;
	int accepts;
	int outstanding;            /* requests read, not yet answered */
	int max_outstanding;
	struct tconn *conns;
};

static void tconn_closed(uv_handle_t *h)
{
	struct tconn *c = h->data;

	if (--c->open == 0) {
		free(c->pending);
		free(c);
	}
}

static void tconn_close(struct tconn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		c->s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	uv_close((uv_handle_t *)&c->tcp, tconn_closed);
	uv_close((uv_handle_t *)&c->delay, tconn_closed);
}

static void on_written(uv_write_t *w, int status)
{
	(void)status;
	free(w->data);
	free(w);
}

static void send_text(struct tconn *c, char *text)
{
	uv_write_t *w = malloc(sizeof *w);
	uv_buf_t b = uv_buf_init(text, (unsigned)strlen(text));

	assert_non_null(w);
	w->data = text;
	c->s->outstanding--;
	if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
		free(text);
		free(w);
	}
}

static void on_delay(uv_timer_t *t)
{
	struct tconn *c = container_of(t, struct tconn, delay);
	char *text = c->pending;

	c->pending = NULL;
	send_text(c, text);
}

static char *answer(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static char *answer(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;

	va_start(ap, fmt);
	assert_true(vasprintf(&s, fmt, ap) >= 0);
	va_end(ap);
	return s;
}

/* Answers one complete request (head is NUL-terminated). */
static void serve(struct tconn *c, const char *method, const char *path,
    const char *head, const char *body, size_t blen)
{
	char ct[128] = "", *p;
	const char *h;
	bool expect;

	if ((h = strcasestr(head, "\r\nContent-Type:")) != NULL) {
		sscanf(h + 15, " %127[^\r]", ct);
	}
	expect = strcasestr(head, "\r\nExpect:") != NULL;
	if (strcmp(path, "/headers") == 0) {
		send_text(c, answer("HTTP/1.1 201 Created\r\n"
		    "Content-Type: application/json\r\n"
		    "Replay-Nonce: nonce-A_1\r\n"
		    "Location: /acme/order/1\r\n"
		    "link: <https://ca.test/dir>;rel=\"index\"\r\n"
		    "Link: </acme/cert/1/1>;rel=\"alternate\", "
		    "<https://ca.test/acme/cert/1/2> ; rel=alternate\r\n"
		    "Link: <https://ca.test/acme/issuer>; title=\"a;b,c\"; "
		    "rel=\"up\"\r\n"
		    "Link: garbage\r\n"
		    "Retry-After: 30\r\n"
		    "Content-Length: 11\r\n\r\n{\"ok\":true}"));
	} else if (strcmp(path, "/nonce") == 0) {
		send_text(c, answer("HTTP/1.1 200 OK\r\n"
		    "Replay-Nonce: nonce-B\r\nCache-Control: no-store\r\n"
		    "Content-Length: 0\r\n\r\n"));
	} else if (strcmp(path, "/echo") == 0) {
		send_text(c, answer("HTTP/1.1 200 OK\r\nContent-Length: %zu"
		    "\r\n\r\n%s|%s|%s|%.*s", strlen(method) + strlen(ct) +
		    (expect ? 6 : 9) + blen + 3, method, ct, expect ?
		    "expect" : "no-expect", (int)blen, body));
	} else if (strcmp(path, "/problem") == 0) {
		send_text(c, answer("HTTP/1.1 400 Bad Request\r\n"
		    "Content-Type: application/problem+json\r\n"
		    "Replay-Nonce: nonce-C\r\nContent-Length: 2\r\n\r\n{}"));
	} else if (strcmp(path, "/interim") == 0) {
		send_text(c, answer("HTTP/1.1 100 Continue\r\n"
		    "Replay-Nonce: wrong\r\n\r\n"
		    "HTTP/1.1 200 OK\r\nReplay-Nonce: right\r\n"
		    "Content-Length: 2\r\n\r\nok"));
	} else if (strcmp(path, "/big") == 0) {
		/* Only the head: curl must give up on the length alone. */
		send_text(c, answer("HTTP/1.1 200 OK\r\n"
		    "Content-Length: 100000\r\n\r\n"));
	} else if (strcmp(path, "/delay") == 0) {
		c->pending = answer("HTTP/1.1 200 OK\r\nContent-Length: 1"
		    "\r\n\r\nd");
		uv_timer_start(&c->delay, on_delay, 20, 0);
	} else if (strcmp(path, "/slow") == 0) {
		/* Never answers. */
	} else {
		p = answer("HTTP/1.1 404 Not Found\r\nContent-Length: 0"
		    "\r\n\r\n");
		send_text(c, p);
	}
}

/* Serves every complete request in c's buffer. */
static void parse(struct tconn *c)
{
	char method[16], path[256], *end, *cl;
	size_t hlen, blen;

	for (;;) {
		c->buf[c->len] = '\0';
		if ((end = strstr(c->buf, "\r\n\r\n")) == NULL)
			return;
		hlen = (size_t)(end - c->buf) + 4;
		blen = 0;
		if ((cl = strcasestr(c->buf, "\r\nContent-Length:")) != NULL &&
		    cl < end)
			blen = strtoul(cl + 17, NULL, 10);
		if (c->len < hlen + blen)
			return;
		assert_int_equal(sscanf(c->buf, "%15s %255s", method, path),
		    2);
		end[2] = '\0';
		c->s->outstanding++;
		if (c->s->outstanding > c->s->max_outstanding)
			c->s->max_outstanding = c->s->outstanding;
		{
			char *body = malloc(blen + 1);

			memcpy(body, c->buf + hlen, blen);
			body[blen] = '\0';
			serve(c, method, path, c->buf, body, blen);
			free(body);
		}
		memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
		c->len -= hlen + blen;
	}
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct tconn *c = h->data;

	(void)hint;
	b->base = c->buf + c->len;
	b->len = sizeof c->buf - 1 - c->len;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct tconn *c = st->data;

	(void)b;
	if (n < 0) {
		tconn_close(c);
		return;
	}
	c->len += (size_t)n;
	parse(c);
}

static void on_connection(uv_stream_t *l, int status)
{
	struct tsrv *s = container_of((uv_tcp_t *)l, struct tsrv, tcp);
	struct tconn *c;

	assert_int_equal(status, 0);
	c = calloc(1, sizeof *c);
	assert_non_null(c);
	c->s = s;
	uv_tcp_init(s->loop, &c->tcp);
	uv_timer_init(s->loop, &c->delay);
	c->tcp.data = c->delay.data = c;
	c->open = 2;
	assert_int_equal(uv_accept(l, (uv_stream_t *)&c->tcp), 0);
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->accepts++;
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void tsrv_start(struct tsrv *s, uv_loop_t *loop)
{
	struct sockaddr_in a;
	int len = sizeof a;

	memset(s, 0, sizeof *s);
	s->loop = loop;
	assert_int_equal(uv_tcp_init(loop, &s->tcp), 0);
	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &a), 0);
	assert_int_equal(uv_tcp_bind(&s->tcp, (struct sockaddr *)&a, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&s->tcp, 64,
	    on_connection), 0);
	assert_int_equal(uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&a,
	    &len), 0);
	s->port = ntohs(a.sin_port);
}

static void tsrv_close(struct tsrv *s)
{
	while (s->conns != NULL)
		tconn_close(s->conns);
	uv_close((uv_handle_t *)&s->tcp, NULL);
}

/* ---- one test's loop, client and results ---- */

struct env {
	uv_loop_t loop;
	struct http h;
	struct tsrv srv;
	bool with_srv;
	bool closed;
	char base[64];              /* "http://127.0.0.1:PORT" */
};

struct result {
	struct env *e;
	int calls;
	int status;
	char msg[1024];
	struct http_resp resp;      /* taken whole from the callback */
	int *done;                  /* bumped on every call */
	/* Chained requests: how many more to issue from the callback. */
	int more;
	const char *next_url;
};

static bool in_request;         /* callbacks must never run inside */

static void env_start(struct env *e, const struct http_config *cfg,
    bool with_srv)
{
	char msg[256];

	memset(e, 0, sizeof *e);
	assert_int_equal(uv_loop_init(&e->loop), 0);
	assert_int_equal(http_init(&e->h, &e->loop, cfg, msg, sizeof msg),
	    0);
	e->with_srv = with_srv;
	if (with_srv) {
		tsrv_start(&e->srv, &e->loop);
		snprintf(e->base, sizeof e->base, "http://127.0.0.1:%d",
		    e->srv.port);
	}
}

static void on_closed(struct http *h)
{
	struct env *e = container_of(h, struct env, h);

	e->closed = true;
}

static void env_finish(struct env *e)
{
	http_close(&e->h, on_closed);
	assert_false(e->closed);
	if (e->with_srv)
		tsrv_close(&e->srv);
	assert_int_equal(uv_run(&e->loop, UV_RUN_DEFAULT), 0);
	assert_true(e->closed);
	assert_int_equal(uv_loop_close(&e->loop), 0);
}

static void run_until(struct env *e, const int *done, int want)
{
	while (*done < want)
		uv_run(&e->loop, UV_RUN_ONCE);
}

static void start(struct env *e, struct result *r, enum http_method m,
    const char *url, const char *ct, const char *body);

static void on_done(void *arg, int status, struct http_resp *resp,
    const char *msg)
{
	struct result *r = arg;

	assert_false(in_request);
	assert_non_null(resp);
	r->calls++;
	r->status = status;
	snprintf(r->msg, sizeof r->msg, "%s", msg != NULL ? msg : "");
	assert_true(status == 0 ? msg == NULL : msg != NULL);
	http_resp_release(&r->resp);
	r->resp = *resp;
	memset(resp, 0, sizeof *resp);
	if (r->done != NULL)
		(*r->done)++;
	if (r->more > 0) {
		r->more--;
		start(r->e, r, HTTP_GET, r->next_url, NULL, NULL);
	}
}

static void start(struct env *e, struct result *r, enum http_method m,
    const char *url, const char *ct, const char *body)
{
	struct http_req req = { .method = m, .url = url,
	    .content_type = ct, .body = body };
	char msg[256];
	int rc;

	r->e = e;
	in_request = true;
	rc = http_request(&e->h, &req, on_done, r, msg, sizeof msg);
	in_request = false;
	assert_int_equal(rc, 0);
}

static void result_release(struct result *r)
{
	http_resp_release(&r->resp);
}

/* ---- TLS tests against s_server ---- */

static void test_tls_get(void **state)
{
	struct http_config cfg = { .ca_file = tls.ca };
	struct result r = { 0 };
	struct env e;
	char url[128];
	int done = 0;

	(void)state;
	env_start(&e, &cfg, false);
	snprintf(url, sizeof url, "https://127.0.0.1:%d/hello.txt", tls.port);
	r.done = &done;
	start(&e, &r, HTTP_GET, url, NULL, NULL);
	assert_int_equal(r.calls, 0);
	run_until(&e, &done, 1);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.resp.status, 200);
	assert_string_equal(r.resp.url, url);
	assert_int_equal(r.resp.body_len, 12);
	assert_string_equal(r.resp.body, "hello world\n");
	result_release(&r);

	/* The same through the name in the certificate's SAN. */
	snprintf(url, sizeof url, "https://localhost:%d/exact.bin", tls.port);
	start(&e, &r, HTTP_GET, url, NULL, NULL);
	run_until(&e, &done, 2);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.resp.body_len, 65536);
	assert_int_equal(r.resp.body[65536], '\0');
	result_release(&r);
	env_finish(&e);
	assert_int_equal(r.calls, 2);
}

static void test_tls_wrong_ca(void **state)
{
	struct http_config cfg = { .ca_file = tls.other_ca };
	struct result r = { 0 };
	struct env e;
	char url[128], want[256];
	int done = 0;

	(void)state;
	env_start(&e, &cfg, false);
	snprintf(url, sizeof url, "https://127.0.0.1:%d/hello.txt", tls.port);
	r.done = &done;
	start(&e, &r, HTTP_GET, url, NULL, NULL);
	run_until(&e, &done, 1);
	assert_int_equal(r.status, CF_EIO);
	snprintf(want, sizeof want, "cannot verify the TLS certificate of "
	    "'%s': ", url);
	assert_memory_equal(r.msg, want, strlen(want));
	assert_null(r.resp.body);
	assert_int_equal(r.resp.body_len, 0);
	assert_int_equal(r.resp.status, 0);
	result_release(&r);

	/* The system store does not know our throw-away CA either. */
	env_finish(&e);
	cfg.ca_file = NULL;
	env_start(&e, &cfg, false);
	done = 0;
	start(&e, &r, HTTP_GET, url, NULL, NULL);
	run_until(&e, &done, 1);
	assert_int_equal(r.status, CF_EIO);
	assert_null(r.resp.body);
	result_release(&r);
	env_finish(&e);
}

static void test_tls_too_big(void **state)
{
	struct http_config cfg = { .ca_file = tls.ca, .max_body = 65536 };
	struct result r = { 0 };
	struct env e;
	char url[128], want[256];
	int done = 0;

	(void)state;
	env_start(&e, &cfg, false);
	/* s_server sends no Content-Length: the write callback stops it. */
	snprintf(url, sizeof url, "https://127.0.0.1:%d/big.bin", tls.port);
	r.done = &done;
	start(&e, &r, HTTP_GET, url, NULL, NULL);
	run_until(&e, &done, 1);
	assert_int_equal(r.status, CF_EINVAL);
	snprintf(want, sizeof want, "response from '%s' is larger than "
	    "65536 bytes", url);
	assert_string_equal(r.msg, want);
	assert_null(r.resp.body);
	result_release(&r);
	env_finish(&e);
}

static void test_tls_concurrent(void **state)
{
	struct http_config cfg = { .ca_file = tls.ca, .max_in_flight = 2 };
	struct result r[12];
	struct env e;
	char url[128];
	int done = 0, i;

	(void)state;
	memset(r, 0, sizeof r);
	env_start(&e, &cfg, false);
	snprintf(url, sizeof url, "https://127.0.0.1:%d/hello.txt", tls.port);
	for (i = 0; i < 12; i++) {
		r[i].done = &done;
		start(&e, &r[i], HTTP_GET, url, NULL, NULL);
	}
	assert_true(e.h.in_flight <= 2);
	run_until(&e, &done, 12);
	for (i = 0; i < 12; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].status, 0);
		assert_string_equal(r[i].resp.body, "hello world\n");
		result_release(&r[i]);
	}
	env_finish(&e);
}

/* ---- plain HTTP tests against the in-loop server ---- */

static void test_headers(void **state)
{
	struct result r = { 0 };
	struct env e;
	char url[128];
	int done = 0;

	(void)state;
	env_start(&e, NULL, true);
	snprintf(url, sizeof url, "%s/headers", e.base);
	r.done = &done;
	start(&e, &r, HTTP_GET, url, NULL, NULL);
	run_until(&e, &done, 1);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.resp.status, 201);
	assert_string_equal(r.resp.replay_nonce, "nonce-A_1");
	snprintf(url, sizeof url, "%s/acme/order/1", e.base);
	assert_string_equal(r.resp.location, url);
	assert_string_equal(r.resp.retry_after, "30");
	assert_string_equal(r.resp.content_type, "application/json");
	assert_string_equal(r.resp.body, "{\"ok\":true}");
	assert_int_equal(r.resp.nlinks, 4);
	assert_string_equal(r.resp.links[0].url, "https://ca.test/dir");
	assert_string_equal(r.resp.links[0].rel, "index");
	snprintf(url, sizeof url, "%s/acme/cert/1/1", e.base);
	assert_string_equal(r.resp.links[1].url, url);
	assert_string_equal(r.resp.links[1].rel, "alternate");
	assert_string_equal(r.resp.links[2].url,
	    "https://ca.test/acme/cert/1/2");
	assert_string_equal(r.resp.links[2].rel, "alternate");
	assert_string_equal(r.resp.links[3].url,
	    "https://ca.test/acme/issuer");
	assert_string_equal(r.resp.links[3].rel, "up");
	assert_string_equal(http_link_find(&r.resp, "up"),
	    "https://ca.test/acme/issuer");
	assert_string_equal(http_link_find(&r.resp, "ALTERNATE"), url);
	assert_null(http_link_find(&r.resp, "next"));
	result_release(&r);

	/* A problem document is a response, not a transport error. */
	snprintf(url, sizeof url, "%s/problem", e.base);
	start(&e, &r, HTTP_POST, url, "application/jose+json", "{}");
	run_until(&e, &done, 2);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.resp.status, 400);
	assert_string_equal(r.resp.content_type, "application/problem+json");
	assert_string_equal(r.resp.replay_nonce, "nonce-C");
	assert_int_equal(r.resp.nlinks, 0);
	assert_null(r.resp.location);
	result_release(&r);

	/* Headers of an interim 1xx response are forgotten. */
	snprintf(url, sizeof url, "%s/interim", e.base);
	start(&e, &r, HTTP_GET, url, NULL, NULL);
	run_until(&e, &done, 3);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.resp.status, 200);
	assert_string_equal(r.resp.replay_nonce, "right");
	assert_string_equal(r.resp.body, "ok");
	result_release(&r);
	env_finish(&e);
}

static void test_post_and_head(void **state)
{
	struct result r = { 0 };
	struct env e;
	char url[128], *body, *want;
	int done = 0;

	(void)state;
	env_start(&e, NULL, true);
	/* Big enough that curl would otherwise send Expect: 100-continue. */
	body = malloc(4001);
	memset(body, 'x', 4000);
	body[0] = '{';
	body[3999] = '}';
	body[4000] = '\0';
	snprintf(url, sizeof url, "%s/echo", e.base);
	r.done = &done;
	start(&e, &r, HTTP_POST, url, "application/jose+json", body);
	run_until(&e, &done, 1);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.resp.status, 200);
	assert_true(asprintf(&want, "POST|application/jose+json|no-expect|%s",
	    body) > 0);
	assert_string_equal(r.resp.body, want);
	free(want);
	free(body);
	result_release(&r);

	snprintf(url, sizeof url, "%s/nonce", e.base);
	start(&e, &r, HTTP_HEAD, url, NULL, NULL);
	run_until(&e, &done, 2);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.resp.status, 200);
	assert_string_equal(r.resp.replay_nonce, "nonce-B");
	assert_int_equal(r.resp.body_len, 0);
	assert_string_equal(r.resp.body, "");
	result_release(&r);
	env_finish(&e);
}

static void test_keepalive(void **state)
{
	struct result r = { 0 };
	struct env e;
	char url[128];
	int done = 0;

	(void)state;
	env_start(&e, NULL, true);
	snprintf(url, sizeof url, "%s/nonce", e.base);
	r.done = &done;
	r.more = 4;
	r.next_url = url;
	start(&e, &r, HTTP_GET, url, NULL, NULL);
	run_until(&e, &done, 5);
	assert_int_equal(r.calls, 5);
	assert_int_equal(r.status, 0);
	/* Five requests one after the other, one connection. */
	assert_int_equal(e.srv.accepts, 1);
	result_release(&r);
	env_finish(&e);
}

static void test_queue_limit(void **state)
{
	struct http_config cfg = { .max_in_flight = 2 };
	struct result r[20];
	struct env e;
	char url[128];
	int done = 0, i;

	(void)state;
	memset(r, 0, sizeof r);
	env_start(&e, &cfg, true);
	snprintf(url, sizeof url, "%s/delay", e.base);
	for (i = 0; i < 20; i++) {
		r[i].done = &done;
		start(&e, &r[i], HTTP_GET, url, NULL, NULL);
	}
	assert_int_equal(e.h.in_flight, 2);
	run_until(&e, &done, 20);
	for (i = 0; i < 20; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].status, 0);
		assert_string_equal(r[i].resp.body, "d");
		result_release(&r[i]);
	}
	assert_true(e.srv.max_outstanding <= 2);
	assert_true(e.srv.accepts <= 2);
	env_finish(&e);
}

static void test_too_big_by_length(void **state)
{
	struct http_config cfg = { .max_body = 1000 };
	struct result r = { 0 };
	struct env e;
	char url[128], want[256];
	int done = 0;

	(void)state;
	env_start(&e, &cfg, true);
	snprintf(url, sizeof url, "%s/big", e.base);
	r.done = &done;
	start(&e, &r, HTTP_GET, url, NULL, NULL);
	run_until(&e, &done, 1);
	assert_int_equal(r.status, CF_EINVAL);
	snprintf(want, sizeof want, "response from '%s' is larger than 1000 "
	    "bytes", url);
	assert_string_equal(r.msg, want);
	assert_null(r.resp.body);
	result_release(&r);
	env_finish(&e);
}

static void test_timeout(void **state)
{
	struct http_config cfg = { .timeout_ms = 200 };
	struct result r = { 0 };
	struct env e;
	char url[128], want[256];
	int done = 0;

	(void)state;
	env_start(&e, &cfg, true);
	snprintf(url, sizeof url, "%s/slow", e.base);
	r.done = &done;
	start(&e, &r, HTTP_GET, url, NULL, NULL);
	run_until(&e, &done, 1);
	assert_int_equal(r.status, CF_ETIMEDOUT);
	snprintf(want, sizeof want, "request to '%s' timed out after 200 ms",
	    url);
	assert_string_equal(r.msg, want);
	result_release(&r);
	env_finish(&e);
}

static void test_close_cancels(void **state)
{
	struct http_config cfg = { .max_in_flight = 1 };
	struct result r[2];
	struct env e;
	char url[128], want[256], msg[256];
	struct http_req req = { .method = HTTP_GET };

	(void)state;
	memset(r, 0, sizeof r);
	env_start(&e, &cfg, true);
	snprintf(url, sizeof url, "%s/slow", e.base);
	start(&e, &r[0], HTTP_GET, url, NULL, NULL);    /* in flight */
	start(&e, &r[1], HTTP_GET, url, NULL, NULL);    /* queued */
	/* Let the first one reach the server. */
	while (e.srv.outstanding == 0)
		uv_run(&e.loop, UV_RUN_ONCE);
	http_close(&e.h, on_closed);
	assert_int_equal(r[0].calls, 0);
	assert_int_equal(r[1].calls, 0);
	req.url = url;
	assert_int_equal(http_request(&e.h, &req, on_done, &r[0], msg,
	    sizeof msg), CF_EINVAL);
	assert_non_null(strstr(msg, "closing"));
	tsrv_close(&e.srv);
	assert_int_equal(uv_run(&e.loop, UV_RUN_DEFAULT), 0);
	assert_true(e.closed);
	snprintf(want, sizeof want, "request to '%s' cancelled: the HTTP "
	    "client is closing", url);
	assert_int_equal(r[0].calls, 1);
	assert_int_equal(r[0].status, CF_EIO);
	assert_string_equal(r[0].msg, want);
	assert_int_equal(r[1].calls, 1);
	assert_string_equal(r[1].msg, want);
	result_release(&r[0]);
	result_release(&r[1]);
	assert_int_equal(uv_loop_close(&e.loop), 0);
}

static void test_connect_refused(void **state)
{
	struct result r = { 0 };
	struct env e;
	char url[128], want[256];
	int done = 0;

	(void)state;
	env_start(&e, NULL, false);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/", free_port());
	r.done = &done;
	start(&e, &r, HTTP_GET, url, NULL, NULL);
	run_until(&e, &done, 1);
	assert_int_equal(r.status, CF_EIO);
	snprintf(want, sizeof want, "request to '%s' failed: ", url);
	assert_memory_equal(r.msg, want, strlen(want));
	assert_true(strlen(r.msg) > strlen(want));
	assert_int_equal(r.resp.status, 0);
	result_release(&r);
	env_finish(&e);
}

static void test_protocols(void **state)
{
	static const char *const urls[] = { "file:///etc/passwd",
	    "ftp://127.0.0.1/x", "gopher://127.0.0.1/" };
	struct result r = { 0 };
	struct env e;
	char want[256];
	int done = 0;
	size_t i;

	(void)state;
	env_start(&e, NULL, false);
	r.done = &done;
	for (i = 0; i < sizeof urls / sizeof urls[0]; i++) {
		start(&e, &r, HTTP_GET, urls[i], NULL, NULL);
		run_until(&e, &done, (int)i + 1);
		assert_int_equal(r.status, CF_EIO);
		snprintf(want, sizeof want, "cannot request '%s': only http "
		    "and https are allowed", urls[i]);
		assert_string_equal(r.msg, want);
		assert_null(r.resp.body);
		result_release(&r);
	}
	env_finish(&e);
}

static void test_request_refused(void **state)
{
	struct http_req req = { .method = HTTP_POST, .url = NULL };
	struct result r = { 0 };
	struct env e;
	char msg[256];

	(void)state;
	env_start(&e, NULL, false);
	assert_int_equal(http_request(&e.h, &req, on_done, &r, msg,
	    sizeof msg), CF_EINVAL);
	assert_string_equal(msg, "no URL to request");
	req.url = "http://127.0.0.1:1/";
	req.content_type = "text/plain\r\nX-Evil: 1";
	assert_int_equal(http_request(&e.h, &req, on_done, &r, msg,
	    sizeof msg), CF_EINVAL);
	assert_string_equal(msg, "invalid content type for "
	    "'http://127.0.0.1:1/'");
	req.content_type = NULL;
	req.method = (enum http_method)42;
	assert_int_equal(http_request(&e.h, &req, on_done, &r, msg,
	    sizeof msg), CF_EINVAL);
	env_finish(&e);
	assert_int_equal(r.calls, 0);
}

static void test_retry_after(void **state)
{
	/* Wed, 06 Nov 2024 08:49:37 GMT */
	time_t now = 1730882977;
	int s = -1;

	(void)state;
	assert_int_equal(http_retry_after("120", now, &s), 0);
	assert_int_equal(s, 120);
	assert_int_equal(http_retry_after(" 0 ", now, &s), 0);
	assert_int_equal(s, 0);
	assert_int_equal(http_retry_after("99999999999999999999", now, &s),
	    0);
	assert_int_equal(s, HTTP_RETRY_AFTER_MAX);
	assert_int_equal(http_retry_after("Wed, 06 Nov 2024 08:50:07 GMT",
	    now, &s), 0);
	assert_int_equal(s, 30);
	assert_int_equal(http_retry_after("Wed, 06 Nov 2024 08:00:00 GMT",
	    now, &s), 0);
	assert_int_equal(s, 0);
	assert_int_equal(http_retry_after("Thu, 01 Jan 2099 00:00:00 GMT",
	    now, &s), 0);
	assert_int_equal(s, HTTP_RETRY_AFTER_MAX);
	assert_int_equal(http_retry_after(
	    "Wednesday, 06-Nov-24 08:50:37 GMT", now, &s), 0);
	assert_int_equal(s, 60);
	assert_int_equal(http_retry_after("Wed Nov  6 08:51:37 2024", now,
	    &s), 0);
	assert_int_equal(s, 120);

	s = 7;
	assert_int_equal(http_retry_after("", now, &s), CF_EINVAL);
	assert_int_equal(s, 0);
	assert_int_equal(http_retry_after(NULL, now, &s), CF_EINVAL);
	assert_int_equal(http_retry_after("-1", now, &s), CF_EINVAL);
	assert_int_equal(http_retry_after("1.5", now, &s), CF_EINVAL);
	assert_int_equal(http_retry_after("10 s", now, &s), CF_EINVAL);
	assert_int_equal(http_retry_after("soon", now, &s), CF_EINVAL);
	assert_int_equal(http_retry_after("Wed, 32 Nov 2024 08:50:07 GMT",
	    now, &s), CF_EINVAL);
	assert_int_equal(http_retry_after("Wed, 06 Nov 2024 08:50:07 UTC",
	    now, &s), CF_EINVAL);
	assert_int_equal(http_retry_after("Wed, 06 Foo 2024 08:50:07 GMT",
	    now, &s), CF_EINVAL);
	assert_int_equal(http_retry_after("Xyz, 06 Nov 2024 08:50:07 GMT",
	    now, &s), CF_EINVAL);
	assert_int_equal(http_retry_after("Wed, 06 Nov 2024 25:50:07 GMT",
	    now, &s), CF_EINVAL);
	assert_int_equal(http_retry_after("Wed, 06 Nov 2024 08:50:07 GMT x",
	    now, &s), CF_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tls_tests[] = {
		cmocka_unit_test(test_tls_get),
		cmocka_unit_test(test_tls_wrong_ca),
		cmocka_unit_test(test_tls_too_big),
		cmocka_unit_test(test_tls_concurrent),
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_post_and_head),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_queue_limit),
		cmocka_unit_test(test_too_big_by_length),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_close_cancels),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_protocols),
		cmocka_unit_test(test_request_refused),
		cmocka_unit_test(test_retry_after),
	};
	int failed;

	/* The test server writes to sockets curl may have closed. */
	signal(SIGPIPE, SIG_IGN);
	/* A hang is a failure, not a stuck build. */
	alarm(120);
	failed = cmocka_run_group_tests_name("http (tls)", tls_tests,
	    tls_setup, tls_teardown);
	failed += cmocka_run_group_tests_name("http", tests, NULL, NULL);
	return failed;
}
