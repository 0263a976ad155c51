/*
 * HTTP(S) requests on the run's libuv loop: libcurl's multi interface
 * driven by uv_poll and uv_timer, at most max_in_flight transfers at once
 * (the rest wait in a queue), connections kept alive and reused. TLS is
 * always verified; there is no way to turn verification off. Nothing here
 * blocks, sleeps, prints or follows a redirect.
 */
#ifndef CF_HTTP_H
#define CF_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <curl/curl.h>
#include <uv.h>

#define HTTP_MAX_BODY_DEFAULT (1024 * 1024)
#define HTTP_TIMEOUT_DEFAULT_MS 30000
#define HTTP_MAX_IN_FLIGHT_DEFAULT 4
#define HTTP_RETRY_AFTER_MAX (24 * 3600)

struct http_config {
	const char *ca_file;        /* PEM trust anchors; NULL: system store */
	size_t max_body;            /* 0: HTTP_MAX_BODY_DEFAULT */
	long timeout_ms;            /* whole transfer; 0: 30 s */
	int max_in_flight;          /* 0: HTTP_MAX_IN_FLIGHT_DEFAULT */
	const char *user_agent;     /* NULL: "certfleet" */
};

enum http_method {
	HTTP_GET,
	HTTP_HEAD,
	HTTP_POST
};

/* One request; http_request copies what it keeps. */
struct http_req {
	enum http_method method;
	const char *url;            /* http:// or https:// only */
	const char *content_type;   /* POST: e.g. "application/jose+json" */
	const char *body;           /* POST: NUL-terminated; NULL is "" */
};

/* One Link header entry: <url>; rel="..." (url resolved like Location). */
struct http_link {
	char *url;
	char *rel;                  /* "" when the entry has no rel */
};

/*
 * What came back. On success every header we know is a NUL-terminated
 * copy (NULL when absent) and body holds body_len bytes plus a NUL
 * ("" for an empty body, never NULL). On
 * failure only url and status (0 when no response arrived) are set. The
 * response belongs to the client and is freed after the callback returns;
 * a callback that keeps a string takes it and sets the field to NULL.
 */
struct http_resp {
	char *url;                  /* the request URL */
	long status;                /* HTTP status code */
	char *replay_nonce;         /* Replay-Nonce (the last one) */
	char *location;             /* Location, relative ones resolved */
	char *retry_after;          /* Retry-After, raw: http_retry_after */
	char *content_type;         /* Content-Type */
	struct http_link *links;    /* every Link header entry, in order */
	size_t nlinks;
	char *body;
	size_t body_len;
};

/*
 * Called exactly once per accepted request, always from the loop (never
 * from inside http_request or http_close). status is 0 when an HTTP
 * response arrived, whatever its code (resp->status tells); otherwise a
 * CF_E* code (CF_ETIMEDOUT, CF_EIO; CF_EINVAL for a body or headers over
 * the size limit) and msg says what went wrong.
 */
typedef void (*http_done_cb)(void *arg, int status, struct http_resp *resp,
    const char *msg);

struct http;
typedef void (*http_close_cb)(struct http *h);

struct http_xfer;
struct http_sock;

/* One client per run; the caller owns the struct, http_* its contents. */
struct http {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;           /* curl's timeout */
	char *ca_file;
	char *user_agent;
	size_t max_body;
	long timeout_ms;
	int max_in_flight;
	int in_flight;              /* transfers inside the multi handle */
	int handles;                /* open uv handles (timer and polls) */
	bool closing;
	bool cleaning;              /* inside curl_multi_cleanup */
	struct http_xfer *active;   /* in the multi handle */
	struct http_xfer *queue;    /* waiting for a slot, FIFO */
	struct http_xfer *queue_tail;
	struct http_xfer *cancelled;    /* answered when the close ends */
	struct http_sock *socks;    /* one per socket curl watches */
	http_close_cb close_cb;
};

/*
 * Sets h up on loop. Returns 0, or a CF_E* code with msg (nothing to
 * close then). After 0, h must be closed with http_close.
 */
int http_init(struct http *h, uv_loop_t *loop, const struct http_config *cfg,
    char *msg, size_t msgsz);

/*
 * Starts (or queues) req. Returns 0 and cb will run exactly once from the
 * loop, or a CF_E* code with msg and cb will never run.
 */
int http_request(struct http *h, const struct http_req *req,
    http_done_cb cb, void *arg, char *msg, size_t msgsz);

/*
 * Cancels what is outstanding (each callback then runs with CF_EIO,
 * "cancelled"), closes the timer and every poll, then cleans curl up and
 * calls cb from the loop; h may be freed from cb on.
 */
void http_close(struct http *h, http_close_cb cb);

/* The first link whose rel (a space-separated list) holds rel, or NULL. */
const char *http_link_find(const struct http_resp *r, const char *rel);

/* Frees what resp holds (not the struct). */
void http_resp_release(struct http_resp *r);

/*
 * Parses a Retry-After value: delta-seconds or an HTTP-date (IMF-fixdate,
 * also the obsolete RFC 850 and asctime forms) relative to now. Returns 0
 * and *seconds clamped to 0..HTTP_RETRY_AFTER_MAX (a past date gives 0),
 * or CF_EINVAL when value is neither.
 */
int http_retry_after(const char *value, time_t now, int *seconds);

#endif
