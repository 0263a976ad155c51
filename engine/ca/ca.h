/*
 * The CA driver interface: where requests go. The engine submits a CSR and
 * hears back later, on the loop thread, with what the CA returned: issued,
 * pending (ask again later), denied, or an error. It never knows whether
 * the embedded CA or an ACME server is behind it.
 */
#ifndef CF_CA_H
#define CF_CA_H

#include "engine/base/reqspec.h"

#include <stdbool.h>
#include <stddef.h>

enum ca_answer {
	CA_ISSUED,
	CA_PENDING,
	CA_DENIED,
	CA_ERROR
};

/* Whether a request waits for 'certfleet approve' (the embedded CA only):
 * as the CA is set up, or as the server's own setting says. */
enum ca_approval {
	CA_APPROVAL_DEFAULT,
	CA_APPROVAL_AUTO,
	CA_APPROVAL_MANUAL
};

/* Called once a publisher's put or remove is done; status 0 or CF_E*. */
typedef void (*ca_done_cb)(void *arg, int status, const char *msg);

/*
 * What a driver may do on the server's behalf while a submit or poll runs.
 * put and remove: how a CA that wants proof of control of a name (ACME
 * http-01) reaches the server, files under its webroot written and removed
 * through its transport; put is NULL when the server has no webroot. rel is
 * a relative path without ".." (".well-known/acme-challenge/T"). note:
 * each status the CA reports on the way ("order ready"), journaled before
 * the reply; may be NULL.
 */
struct ca_hooks {
	int (*put)(void *ctx, const char *rel, const char *data, size_t len,
	    ca_done_cb cb, void *arg);
	int (*remove)(void *ctx, const char *rel, ca_done_cb cb, void *arg);
	void (*note)(void *ctx, const char *status_text);
	void *ctx;
};

/* One request, as the engine hands it over; the driver copies what it
 * keeps, so the caller may free it once submit or poll has returned. The
 * hooks' ctx stays valid until the reply. */
struct ca_request {
	const char *server;
	const char *csr_pem;
	const struct req_spec *spec;
	const char *ref;            /* poll: the CA's handle from a reply */
	bool approved;              /* poll: approval recorded in the journal */
	struct ca_hooks hooks;
	const char *previous_pem;   /* the certificate the server holds now
	                               (a renewal), or NULL */
	enum ca_approval approval;  /* the server's own, or the CA's */
};

/* What the CA returned. Every string is owned by the reply; a callback
 * that keeps one takes it and sets the field to NULL. */
struct ca_reply {
	enum ca_answer answer;
	char *ref;                  /* the CA's handle for the request */
	char *cert_pem;             /* issued: leaf, then the chain */
	char *status_text;          /* the CA's own word, for the journal */
	char *detail;               /* denied or error: why */
	int retry_after;            /* pending: seconds; -1 not in this run */
	char **alt_pem;             /* issued: other chains for the same leaf
	                               (leaf first), NULL-ended, or NULL */
	bool preferred;             /* cert_pem's chain is the preferred one */
};

struct ca_driver;

/* Called once per submit or poll, on the loop thread; reply is freed after
 * the callback returns. */
typedef void (*ca_reply_cb)(void *arg, struct ca_reply *reply);

struct ca_ops {
	/* Sends a new request. Returns 0 (cb will run) or a CF_E* code. */
	int (*submit)(struct ca_driver *ca, const struct ca_request *req,
	    ca_reply_cb cb, void *arg);
	/* Asks again about a request answered pending (req->ref). */
	int (*poll)(struct ca_driver *ca, const struct ca_request *req,
	    ca_reply_cb cb, void *arg);
	/* Would the CA's policy take a request like spec? 0, or CF_EDENIED
	 * with the reason in msg (plan's would_deny). NULL: it cannot tell
	 * before it is asked. */
	int (*precheck)(struct ca_driver *ca, const struct req_spec *spec,
	    char *msg, size_t msgsz);
	/* The chain above every leaf (issuing CA first) as PEM, for plan's
	 * preflight; *out is the caller's to free. */
	int (*chain_pem)(struct ca_driver *ca, char **out, char *msg,
	    size_t msgsz);
	/* Frees the driver; only once no submit or poll is outstanding.
	 * It may finish on the loop: the caller runs the loop after. */
	void (*free)(struct ca_driver *ca);
};

struct ca_driver {
	const struct ca_ops *ops;
	const char *type;           /* "local", "acme" */
	const char *id;             /* which CA of its type, stable across
	                               runs (the issuing CA's SHA-256, the
	                               ACME directory URL); owned by the
	                               driver */
};

/* Frees what a reply holds (not the struct). */
void ca_reply_release(struct ca_reply *r);

#endif
