/*
 * libcurl's multi interface on the run's libuv loop (the shape of curl's
 * docs/examples/multi-uv.c): one CURLM per client, one uv_timer_t for
 * curl's timeout, one uv_poll_t per socket curl asks us to watch. Finished
 * transfers are drained in one place (drain) which copies the result out,
 * removes and frees the easy handle and only then calls back. This file
 * must never turn TLS verification off, follow redirects, speak anything
 * but http/https, buffer a body past max_body, or call a callback from
 * inside http_request or http_close.
 */
#include "engine/acme/http.h"
#include "engine/base/container_of.h"
#include "engine/base/err.h"
#include "engine/base/path.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HEADER_BYTES (64 * 1024)
#define MAX_LINKS 64

/* One request from http_request to its callback. */
struct http_xfer {
	struct http *h;
	struct http_xfer *prev, *next;  /* h->active, h->queue, h->cancelled */
	CURL *easy;
	struct curl_slist *headers;
	char *body;                     /* the POST body, ours */
	http_done_cb cb;
	void *arg;
	struct http_resp resp;
	size_t body_cap;
	size_t header_bytes;
	bool too_big;
	bool headers_too_big;
	char errbuf[CURL_ERROR_SIZE];
};

/* One socket curl watches; freed in its poll's close callback. A few at
 * most, so a singly linked list does. */
struct http_sock {
	struct http *h;
	struct http_sock *next;
	curl_socket_t fd;
	uv_poll_t poll;
};

static void drain(struct http *h);
static void finish_close(struct http *h);

/* ---- lists ---- */

static void list_push(struct http_xfer **head, struct http_xfer *x)
{
	x->prev = NULL;
	x->next = *head;
	if (*head != NULL)
		(*head)->prev = x;
	*head = x;
}

static void list_remove(struct http_xfer **head, struct http_xfer *x)
{
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		*head = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
}

static void queue_push(struct http *h, struct http_xfer *x)
{
	x->next = NULL;
	x->prev = h->queue_tail;
	if (h->queue_tail != NULL)
		h->queue_tail->next = x;
	else
		h->queue = x;
	h->queue_tail = x;
}

static struct http_xfer *queue_pop(struct http *h)
{
	struct http_xfer *x = h->queue;

	if (x != NULL && x == h->queue_tail)
		h->queue_tail = NULL;
	if (x != NULL)
		list_remove(&h->queue, x);
	return x;
}

/* ---- responses ---- */

void http_resp_release(struct http_resp *r)
{
	size_t i;

	free(r->url);
	free(r->replay_nonce);
	free(r->location);
	free(r->retry_after);
	free(r->content_type);
	for (i = 0; i < r->nlinks; i++) {
		free(r->links[i].url);
		free(r->links[i].rel);
	}
	free(r->links);
	free(r->body);
	memset(r, 0, sizeof *r);
}

/* Empties what a failed transfer may have half-collected. */
static void resp_strip(struct http_resp *r)
{
	char *url = r->url;
	long status = r->status;

	r->url = NULL;
	http_resp_release(r);
	r->url = url;
	r->status = status;
}

static void xfer_free(struct http_xfer *x)
{
	if (x->easy != NULL)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	free(x->body);
	http_resp_release(&x->resp);
	free(x);
}

const char *http_link_find(const struct http_resp *r, const char *rel)
{
	size_t i, n = strlen(rel);
	const char *p;

	for (i = 0; i < r->nlinks; i++) {
		/* rel may list several relation types, space-separated. */
		for (p = r->links[i].rel; *p != '\0'; ) {
			size_t len = strcspn(p, " \t");

			if (len == n && strncasecmp(p, rel, n) == 0)
				return r->links[i].url;
			p += len;
			p += strspn(p, " \t");
		}
	}
	return NULL;
}

/* ---- curl callbacks for one transfer ---- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_xfer *x = arg;
	size_t len = size * nmemb, cap;
	char *p;

	if (len > x->h->max_body - x->resp.body_len) {
		x->too_big = true;
		return 0;               /* aborts with CURLE_WRITE_ERROR */
	}
	if (x->resp.body_len + len + 1 > x->body_cap) {
		cap = x->body_cap > 0 ? x->body_cap : 4096;
		while (cap < x->resp.body_len + len + 1)
			cap *= 2;
		if (cap > x->h->max_body + 1)
			cap = x->h->max_body + 1;
		if ((p = realloc(x->resp.body, cap)) == NULL)
			return 0;
		x->resp.body = p;
		x->body_cap = cap;
	}
	memcpy(x->resp.body + x->resp.body_len, data, len);
	x->resp.body_len += len;
	x->resp.body[x->resp.body_len] = '\0';
	return len;
}

/* A copy of s[0..len) without surrounding whitespace. */
static char *dup_trim(const char *s, size_t len)
{
	char *out;

	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
	    s[len - 1] == '\r' || s[len - 1] == '\n'))
		len--;
	if ((out = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(out, s, len);
	out[len] = '\0';
	return out;
}

/*
 * Location and Link may be relative (RFC 9110 10.2.2); resolve those
 * against the request URL. Absolute ones are kept byte for byte: ACME
 * compares URLs (kid, url) as strings.
 */
static char *resolve(const char *base, char *ref)
{
	char *out = NULL, *copy;
	CURLU *u;

	if (ref == NULL || strncasecmp(ref, "https://", 8) == 0 ||
	    strncasecmp(ref, "http://", 7) == 0)
		return ref;
	if ((u = curl_url()) == NULL)
		return ref;
	if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, ref, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK &&
	    (copy = strdup(out)) != NULL) {
		free(ref);
		ref = copy;
	}
	curl_free(out);
	curl_url_cleanup(u);
	return ref;
}

/* Appends one link to x's response. Returns false when out of memory. */
static bool link_add(struct http_xfer *x, const char *url, size_t ulen,
    const char *rel, size_t rlen)
{
	struct http_resp *r = &x->resp;
	struct http_link *v;

	if (r->nlinks >= MAX_LINKS)
		return true;
	if ((v = realloc(r->links, (r->nlinks + 1) * sizeof *v)) == NULL)
		return false;
	r->links = v;
	v[r->nlinks].url = resolve(r->url, dup_trim(url, ulen));
	v[r->nlinks].rel = dup_trim(rel, rlen);
	if (v[r->nlinks].url == NULL || v[r->nlinks].rel == NULL) {
		free(v[r->nlinks].url);
		free(v[r->nlinks].rel);
		return false;
	}
	r->nlinks++;
	return true;
}

/*
 * Parses one Link header value (RFC 8288): link-values separated by
 * commas, each <uri> then ;param=value pairs, of which rel is kept.
 * Quoted rel values lose their quotes; escapes are not expected in rel
 * types. Stops at the first malformed entry.
 */
static bool parse_link(struct http_xfer *x, const char *p, const char *end)
{
	const char *url, *uend, *rel, *rend, *name;
	size_t nlen;

	for (;;) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		if (p >= end || *p != '<')
			return true;
		url = ++p;
		while (p < end && *p != '>')
			p++;
		if (p >= end)
			return true;
		uend = p++;
		rel = rend = "";
		for (;;) {
			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
			if (p >= end || *p != ';')
				break;
			p++;
			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
			name = p;
			while (p < end && *p != '=' && *p != ';' && *p != ',' &&
			    *p != ' ' && *p != '\t')
				p++;
			nlen = (size_t)(p - name);
			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
			if (p < end && *p == '=') {
				const char *v, *vend;

				p++;
				while (p < end && (*p == ' ' || *p == '\t'))
					p++;
				if (p < end && *p == '"') {
					v = ++p;
					while (p < end && *p != '"')
						p += *p == '\\' && p + 1 < end ?
						    2 : 1;
					vend = p;
					if (p < end)
						p++;
				} else {
					v = p;
					while (p < end && *p != ';' &&
					    *p != ',')
						p++;
					vend = p;
				}
				if (nlen == 3 && strncasecmp(name, "rel", 3) ==
				    0 && rel[0] == '\0') {
					rel = v;
					rend = vend;
				}
			}
		}
		if (!link_add(x, url, (size_t)(uend - url), rel,
		    (size_t)(rend - rel)))
			return false;
	}
}

/* Replaces *field with a trimmed copy of value. */
static bool set_field(char **field, const char *v, size_t len)
{
	char *s = dup_trim(v, len);

	if (s == NULL)
		return false;
	free(*field);
	*field = s;
	return true;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_xfer *x = arg;
	struct http_resp *r = &x->resp;
	size_t len = size * nmemb, nlen;
	const char *colon, *v, *end = data + len;
	bool ok = true;

	x->header_bytes += len;
	if (x->header_bytes > MAX_HEADER_BYTES) {
		x->headers_too_big = true;
		return 0;
	}
	/* A status line starts a response: forget any 1xx interim one. */
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		resp_strip(r);
		x->body_cap = 0;
		return len;
	}
	if ((colon = memchr(data, ':', len)) == NULL)
		return len;
	nlen = (size_t)(colon - data);
	v = colon + 1;
#define IS(name) (nlen == sizeof(name) - 1 && \
	strncasecmp(data, name, sizeof(name) - 1) == 0)
	if (IS("Replay-Nonce"))
		ok = set_field(&r->replay_nonce, v, (size_t)(end - v));
	else if (IS("Location")) {
		ok = set_field(&r->location, v, (size_t)(end - v));
		if (ok)
			r->location = resolve(r->url, r->location);
	} else if (IS("Retry-After"))
		ok = set_field(&r->retry_after, v, (size_t)(end - v));
	else if (IS("Content-Type"))
		ok = set_field(&r->content_type, v, (size_t)(end - v));
	else if (IS("Link"))
		ok = parse_link(x, v, end);
#undef IS
	return ok ? len : 0;
}

/* ---- the multi handle on the loop ---- */

static void on_timer(uv_timer_t *t)
{
	struct http *h = container_of(t, struct http, timer);
	int running;

	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	drain(h);
}

/* CURLMOPT_TIMERFUNCTION: -1 stops, 0 becomes 1 ms so that curl is never
 * re-entered from inside its own callback. */
static int timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct http *h = arg;

	(void)multi;
	if (h->closing)
		return 0;
	if (timeout_ms < 0)
		uv_timer_stop(&h->timer);
	else
		uv_timer_start(&h->timer, on_timer, timeout_ms == 0 ? 1 :
		    (uint64_t)timeout_ms, 0);
	return 0;
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct http_sock *s = container_of(p, struct http_sock, poll);
	struct http *h = s->h;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	else {
		if (events & UV_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	curl_multi_socket_action(h->multi, s->fd, flags, &running);
	drain(h);
}

static void on_sock_close(uv_handle_t *handle)
{
	struct http_sock *s = container_of((uv_poll_t *)handle,
	    struct http_sock, poll);
	struct http *h = s->h;

	free(s);
	h->handles--;
	finish_close(h);
}

/* Stops watching s, forgets it and closes its poll (freed later). */
static void sock_close(struct http *h, struct http_sock *s)
{
	struct http_sock **pp;

	uv_poll_stop(&s->poll);
	if (!h->cleaning)
		curl_multi_assign(h->multi, s->fd, NULL);
	for (pp = &h->socks; *pp != s; pp = &(*pp)->next)
		;
	*pp = s->next;
	uv_close((uv_handle_t *)&s->poll, on_sock_close);
}

/* CURLMOPT_SOCKETFUNCTION: watch, re-arm or forget one socket. */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *arg,
    void *socketp)
{
	struct http *h = arg;
	struct http_sock *s = socketp;
	int events = 0;

	(void)easy;
	if (h->cleaning)
		return 0;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL)
			sock_close(h, s);
		return 0;
	}
	if (h->closing)
		return 0;
	if (s == NULL) {
		if ((s = calloc(1, sizeof *s)) == NULL)
			return -1;
		if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
			free(s);
			return -1;
		}
		s->h = h;
		s->fd = fd;
		s->next = h->socks;
		h->socks = s;
		h->handles++;
		curl_multi_assign(h->multi, fd, s);
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		events |= UV_READABLE;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		events |= UV_WRITABLE;
	if (uv_poll_start(&s->poll, events, on_poll) != 0)
		return -1;
	return 0;
}

/* ---- starting and finishing transfers ---- */

/* Adds x to the multi handle. Returns 0 or CF_EINTERNAL with msg. */
static int start(struct http *h, struct http_xfer *x, char *msg,
    size_t msgsz)
{
	CURLMcode mc = curl_multi_add_handle(h->multi, x->easy);

	if (mc != CURLM_OK)
		return cf_error(msg, msgsz, CF_EINTERNAL, "cannot start "
		    "request to '%s': %s", x->resp.url,
		    curl_multi_strerror(mc));
	list_push(&h->active, x);
	h->in_flight++;
	return 0;
}

/* Takes x out of the multi handle and the active list; its easy handle
 * goes with it. */
static void detach(struct http *h, struct http_xfer *x)
{
	curl_multi_remove_handle(h->multi, x->easy);
	curl_easy_cleanup(x->easy);
	x->easy = NULL;
	list_remove(&h->active, x);
	h->in_flight--;
}

/* Calls x back with status and msg, then frees it. */
static void respond(struct http_xfer *x, int status, const char *msg)
{
	if (status != 0)
		resp_strip(&x->resp);
	x->cb(x->arg, status, &x->resp, msg);
	xfer_free(x);
}

/* Fills queue slots; a transfer curl refuses is answered at once (this
 * only runs on the loop, from drain). */
static void pump(struct http *h)
{
	struct http_xfer *x;
	char msg[CURL_ERROR_SIZE + 512];

	while (!h->closing && h->in_flight < h->max_in_flight &&
	    (x = queue_pop(h)) != NULL)
		if (start(h, x, msg, sizeof msg) != 0)
			respond(x, CF_EINTERNAL, msg);
}

/* The message for a transfer that ended with res; returns its code. */
static int describe(struct http_xfer *x, CURLcode res, char *msg,
    size_t msgsz)
{
	const char *why = x->errbuf[0] != '\0' ? x->errbuf :
	    curl_easy_strerror(res);
	const char *url = x->resp.url;

	/* CF_EINVAL: the peer answered, with something we refuse. */
	if (x->too_big || res == CURLE_FILESIZE_EXCEEDED)
		return cf_error(msg, msgsz, CF_EINVAL, "response from '%s' is "
		    "larger than %zu bytes", url, x->h->max_body);
	if (x->headers_too_big)
		return cf_error(msg, msgsz, CF_EINVAL, "response headers from "
		    "'%s' are larger than %d bytes", url, MAX_HEADER_BYTES);
	switch (res) {
	case CURLE_OPERATION_TIMEDOUT:
		return cf_error(msg, msgsz, CF_ETIMEDOUT, "request to '%s' "
		    "timed out after %ld ms", url, x->h->timeout_ms);
	case CURLE_PEER_FAILED_VERIFICATION:
		return cf_error(msg, msgsz, CF_EIO, "cannot verify the TLS "
		    "certificate of '%s': %s", url, why);
	case CURLE_SSL_CACERT_BADFILE:
		return cf_error(msg, msgsz, CF_EIO, "cannot use CA file '%s' "
		    "for '%s': %s", x->h->ca_file != NULL ? x->h->ca_file :
		    "(system)", url, why);
	case CURLE_SSL_CONNECT_ERROR:
		return cf_error(msg, msgsz, CF_EIO, "TLS with '%s' failed: %s",
		    url, why);
	case CURLE_UNSUPPORTED_PROTOCOL:
		return cf_error(msg, msgsz, CF_EIO, "cannot request '%s': "
		    "only http and https are allowed", url);
	default:
		return cf_error(msg, msgsz, CF_EIO, "request to '%s' failed: "
		    "%s", url, why);
	}
}

/*
 * Drains curl's finished transfers: copies the result out of each
 * message, removes and frees the easy handle (the message dies with it),
 * refills the slots, and only then calls back. Stops when a callback
 * closes the client.
 */
static void drain(struct http *h)
{
	char msg[CURL_ERROR_SIZE + 512];
	struct http_xfer *x;
	CURLMsg *m;
	CURLcode res;
	void *priv;
	long code;
	int left, status;

	while (!h->closing && (m = curl_multi_info_read(h->multi, &left)) !=
	    NULL) {
		CURL *easy = m->easy_handle;

		if (m->msg != CURLMSG_DONE)
			continue;
		res = m->data.result;
		priv = NULL;
		code = 0;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
		/* m is not to be touched after this point. */
		x = priv;
		detach(h, x);
		x->resp.status = code;
		status = res == CURLE_OK && !x->too_big && !x->headers_too_big
		    ? 0 : describe(x, res, msg, sizeof msg);
		/* An empty body is "", never NULL. */
		if (status == 0 && x->resp.body == NULL &&
		    (x->resp.body = calloc(1, 1)) == NULL)
			status = cf_error(msg, sizeof msg, CF_ENOMEM, "out of "
			    "memory reading '%s'", x->resp.url);
		pump(h);
		respond(x, status, status == 0 ? NULL : msg);
	}
}

#define SETOPT(easy, opt, val) do { \
	if ((rc = curl_easy_setopt(easy, opt, val)) != CURLE_OK) \
		goto setopt_failed; \
} while (0)

/* A new easy handle for req with every option checked. */
static int easy_new(struct http *h, struct http_xfer *x,
    const struct http_req *req, char *msg, size_t msgsz)
{
	CURL *e;
	CURLcode rc;
	struct curl_slist *l;
	char ct[256];

	if ((e = x->easy = curl_easy_init()) == NULL)
		return CF_ENOMEM;
	SETOPT(e, CURLOPT_URL, req->url);
	SETOPT(e, CURLOPT_PRIVATE, (void *)x);
	SETOPT(e, CURLOPT_ERRORBUFFER, x->errbuf);
	SETOPT(e, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	SETOPT(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	SETOPT(e, CURLOPT_REDIR_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SETOPT(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SETOPT(e, CURLOPT_TIMEOUT_MS, h->timeout_ms);
	SETOPT(e, CURLOPT_USERAGENT, h->user_agent);
	if (h->ca_file != NULL)
		SETOPT(e, CURLOPT_CAINFO, h->ca_file);
	SETOPT(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->max_body);
	SETOPT(e, CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(e, CURLOPT_WRITEDATA, (void *)x);
	SETOPT(e, CURLOPT_HEADERFUNCTION, on_header);
	SETOPT(e, CURLOPT_HEADERDATA, (void *)x);
	switch (req->method) {
	case HTTP_GET:
		SETOPT(e, CURLOPT_HTTPGET, 1L);
		break;
	case HTTP_HEAD:
		SETOPT(e, CURLOPT_NOBODY, 1L);
		break;
	case HTTP_POST:
		if ((x->body = strdup(req->body != NULL ? req->body : "")) ==
		    NULL)
			return CF_ENOMEM;
		SETOPT(e, CURLOPT_POST, 1L);
		SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)strlen(x->body));
		SETOPT(e, CURLOPT_POSTFIELDS, x->body);
		/* No "Expect: 100-continue" round trip. */
		if ((l = curl_slist_append(x->headers, "Expect:")) == NULL)
			return CF_ENOMEM;
		x->headers = l;
		if (req->content_type != NULL) {
			snprintf(ct, sizeof ct, "Content-Type: %s",
			    req->content_type);
			if ((l = curl_slist_append(x->headers, ct)) == NULL)
				return CF_ENOMEM;
			x->headers = l;
		}
		SETOPT(e, CURLOPT_HTTPHEADER, x->headers);
		break;
	}
	return 0;
setopt_failed:
	return cf_error(msg, msgsz, CF_EINTERNAL, "cannot set up request to "
	    "'%s': %s", req->url, curl_easy_strerror(rc));
}

int http_request(struct http *h, const struct http_req *req,
    http_done_cb cb, void *arg, char *msg, size_t msgsz)
{
	struct http_xfer *x;
	int rc;

	if (h->closing)
		return cf_error(msg, msgsz, CF_EINVAL, "cannot request '%s': "
		    "the HTTP client is closing", req->url != NULL ? req->url :
		    "");
	if (req->url == NULL || req->url[0] == '\0')
		return cf_error(msg, msgsz, CF_EINVAL, "no URL to request");
	if (req->method != HTTP_GET && req->method != HTTP_HEAD &&
	    req->method != HTTP_POST)
		return cf_error(msg, msgsz, CF_EINVAL, "unknown method for "
		    "'%s'", req->url);
	if (req->content_type != NULL && str_has_control(req->content_type))
		return cf_error(msg, msgsz, CF_EINVAL, "invalid content type "
		    "for '%s'", req->url);
	if (req->content_type != NULL && strlen(req->content_type) > 200)
		return cf_error(msg, msgsz, CF_EINVAL, "content type for '%s' "
		    "is too long", req->url);
	if ((x = calloc(1, sizeof *x)) == NULL)
		return CF_ENOMEM;
	x->h = h;
	x->cb = cb;
	x->arg = arg;
	rc = (x->resp.url = strdup(req->url)) == NULL ? CF_ENOMEM :
	    easy_new(h, x, req, msg, msgsz);
	/* Behind the queue when it is full or others wait already. */
	if (rc == 0 && h->in_flight < h->max_in_flight && h->queue == NULL)
		rc = start(h, x, msg, msgsz);
	else if (rc == 0)
		queue_push(h, x);
	if (rc != 0)
		xfer_free(x);
	return rc;
}

#define MSETOPT(opt, val) do { \
	if ((mc = curl_multi_setopt(h->multi, opt, val)) != CURLM_OK) \
		goto setopt_failed; \
} while (0)

int http_init(struct http *h, uv_loop_t *loop, const struct http_config *cfg,
    char *msg, size_t msgsz)
{
	static const struct http_config defaults;
	static bool global_done;
	CURLMcode mc;
	int rc;

	memset(h, 0, sizeof *h);
	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return cf_error(msg, msgsz, CF_EINTERNAL, "cannot "
			    "initialise libcurl");
		global_done = true;
	}
	if (cfg == NULL)
		cfg = &defaults;
	h->loop = loop;
	h->max_body = cfg->max_body > 0 ? cfg->max_body :
	    HTTP_MAX_BODY_DEFAULT;
	h->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms :
	    HTTP_TIMEOUT_DEFAULT_MS;
	h->max_in_flight = cfg->max_in_flight > 0 ? cfg->max_in_flight :
	    HTTP_MAX_IN_FLIGHT_DEFAULT;
	if ((h->user_agent = strdup(cfg->user_agent != NULL ?
	    cfg->user_agent : "certfleet")) == NULL)
		return CF_ENOMEM;
	if (cfg->ca_file != NULL &&
	    (h->ca_file = strdup(cfg->ca_file)) == NULL) {
		rc = CF_ENOMEM;
		goto fail;
	}
	if ((h->multi = curl_multi_init()) == NULL) {
		rc = cf_error(msg, msgsz, CF_ENOMEM, "cannot create the "
		    "HTTP client");
		goto fail;
	}
	MSETOPT(CURLMOPT_SOCKETFUNCTION, socket_cb);
	MSETOPT(CURLMOPT_SOCKETDATA, (void *)h);
	MSETOPT(CURLMOPT_TIMERFUNCTION, timer_cb);
	MSETOPT(CURLMOPT_TIMERDATA, (void *)h);
	MSETOPT(CURLMOPT_MAX_HOST_CONNECTIONS, (long)h->max_in_flight);
	if ((rc = uv_timer_init(loop, &h->timer)) != 0) {
		rc = cf_error(msg, msgsz, CF_EINTERNAL, "cannot create the "
		    "HTTP timer: %s", uv_strerror(rc));
		goto fail;
	}
	h->handles = 1;
	return 0;
setopt_failed:
	rc = cf_error(msg, msgsz, CF_EINTERNAL, "cannot set up the HTTP "
	    "client: %s", curl_multi_strerror(mc));
fail:
	if (h->multi != NULL)
		curl_multi_cleanup(h->multi);
	free(h->user_agent);
	free(h->ca_file);
	memset(h, 0, sizeof *h);
	return rc;
}

static void on_timer_close(uv_handle_t *handle)
{
	struct http *h = container_of((uv_timer_t *)handle, struct http,
	    timer);

	h->handles--;
	finish_close(h);
}

/* Runs once the last handle is closed: curl goes, the cancelled hear
 * about it, and the owner last. */
static void finish_close(struct http *h)
{
	struct http_xfer *x;
	http_close_cb cb;
	char msg[1024];

	if (!h->closing || h->handles > 0)
		return;
	h->cleaning = true;
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
	while ((x = h->cancelled) != NULL) {
		list_remove(&h->cancelled, x);
		snprintf(msg, sizeof msg, "request to '%s' cancelled: the HTTP "
		    "client is closing", x->resp.url);
		respond(x, CF_EIO, msg);
	}
	free(h->user_agent);
	free(h->ca_file);
	h->user_agent = h->ca_file = NULL;
	cb = h->close_cb;
	if (cb != NULL)
		cb(h);
}

void http_close(struct http *h, http_close_cb cb)
{
	struct http_xfer *x;

	if (h->closing)
		return;
	h->closing = true;
	h->close_cb = cb;
	/* Removing a transfer may close its socket: socket_cb still closes
	 * the poll on CURL_POLL_REMOVE while closing. */
	while ((x = h->active) != NULL) {
		detach(h, x);
		list_push(&h->cancelled, x);
	}
	while ((x = queue_pop(h)) != NULL)
		list_push(&h->cancelled, x);
	uv_timer_stop(&h->timer);
	uv_close((uv_handle_t *)&h->timer, on_timer_close);
	while (h->socks != NULL)
		sock_close(h, h->socks);
}

/* ---- Retry-After ---- */

static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May",
    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", NULL };
static const char *const days[] = { "Mon", "Tue", "Wed", "Thu", "Fri",
    "Sat", "Sun", NULL };
static const char *const long_days[] = { "Monday", "Tuesday", "Wednesday",
    "Thursday", "Friday", "Saturday", "Sunday", NULL };

/* The index of s in the NULL-ended names, or -1. */
static int name_index(const char *const *names, const char *s)
{
	int i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

/* Parses the three HTTP-date forms (RFC 9110 5.6.7) into *t (UTC). */
static bool http_date(const char *v, time_t now, time_t *t)
{
	char wd[16], mon[8];
	int day, year, hh, mm, ss, n = -1;
	struct tm tm;

	memset(&tm, 0, sizeof tm);
	/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
	if (sscanf(v, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n",
	    wd, &day, mon, &year, &hh, &mm, &ss, &n) == 7 && n > 0 &&
	    v[n] == '\0' && name_index(days, wd) >= 0) {
		/* nothing more */
	} else if (n = -1, sscanf(v, "%9[A-Za-z], %2d-%3[A-Za-z]-%2d "
	    "%2d:%2d:%2d GMT%n", wd, &day, mon, &year, &hh, &mm, &ss, &n) ==
	    7 && n > 0 && v[n] == '\0' && name_index(long_days, wd) >= 0) {
		/* RFC 850: a two-digit year more than 50 years ahead is in
		 * the past century (RFC 9110 5.6.7). */
		struct tm nt;
		int cy;

		gmtime_r(&now, &nt);
		cy = nt.tm_year + 1900;
		year += cy / 100 * 100;
		if (year > cy + 50)
			year -= 100;
	} else if (n = -1, sscanf(v, "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d "
	    "%4d%n", wd, mon, &day, &hh, &mm, &ss, &year, &n) == 7 &&
	    n > 0 && v[n] == '\0' && name_index(days, wd) >= 0) {
		/* asctime: Sun Nov  6 08:49:37 1994 */
	} else {
		return false;
	}
	if ((tm.tm_mon = name_index(months, mon)) < 0 || day < 1 || day > 31 ||
	    year < 1970 || year > 9999 || hh < 0 || hh > 23 || mm < 0 ||
	    mm > 59 || ss < 0 || ss > 60)
		return false;
	tm.tm_mday = day;
	tm.tm_year = year - 1900;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	*t = timegm(&tm);
	return *t != (time_t)-1;
}

int http_retry_after(const char *value, time_t now, int *seconds)
{
	const char *p;
	long long v = 0;
	time_t t;
	double d;

	*seconds = 0;
	if (value == NULL)
		return CF_EINVAL;
	while (*value == ' ' || *value == '\t')
		value++;
	if (*value >= '0' && *value <= '9') {
		for (p = value; *p >= '0' && *p <= '9'; p++)
			if (v <= HTTP_RETRY_AFTER_MAX)
				v = v * 10 + (*p - '0');
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '\0')
			return CF_EINVAL;
		*seconds = v > HTTP_RETRY_AFTER_MAX ? HTTP_RETRY_AFTER_MAX :
		    (int)v;
		return 0;
	}
	if (!http_date(value, now, &t))
		return CF_EINVAL;
	d = difftime(t, now);
	*seconds = d <= 0 ? 0 : d >= HTTP_RETRY_AFTER_MAX ?
	    HTTP_RETRY_AFTER_MAX : (int)d;
	return 0;
}
