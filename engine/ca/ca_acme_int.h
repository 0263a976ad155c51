/*
 * Inside the ACME driver: shared by ca_acme.c (the account, nonces and
 * signed requests) and ca_acme_order.c (one order's steps). Nothing
 * outside these two files includes it.
 */
#ifndef CF_CA_ACME_INT_H
#define CF_CA_ACME_INT_H

#include "engine/acme/acme_proto.h"
#include "engine/ca/ca.h"
#include "engine/acme/http.h"

#include <openssl/evp.h>
#include <stdbool.h>

#define ACME_NONCE_POOL 64
#define ACME_BADNONCE_TRIES 30      /* NONCEREJECT=50 stays safe */
#define ACME_MAX_ALTERNATES 4
#define ACME_BACKOFF_MAX 300
#define ACME_QUICK_LOOKS 5          /* short looks at an order per poll, */
#define ACME_QUICK_MS 50            /* after 50, 100, 200, 400, 800 ms */

/* http-01 files one order has published, removed once it moves on. */
struct acme_files {
	char *order;                /* the order URL */
	char **rel;                 /* paths below the webroot */
	size_t n;
	struct acme_files *next;
};

/* Transient failures in a row, per server, for the back-off. */
struct acme_strikes {
	char *server;
	int n;
	struct acme_strikes *next;
};

enum acme_account_state {
	ACME_ACCOUNT_NONE,
	ACME_ACCOUNT_WORKING,
	ACME_ACCOUNT_READY
};

struct acme_op;

/* One step's continuation: status and resp as http_done_cb gives them. */
typedef void (*acme_step)(struct acme_op *op, int status,
    struct http_resp *resp, const char *msg);

struct ca_acme {
	struct ca_driver base;
	uv_loop_t *loop;
	struct http http;
	bool http_open;
	EVP_PKEY *key;
	char *thumbprint;           /* of the account key's JWK */
	char *directory_url;
	char **contact;
	size_t ncontact;
	char *eab_kid;
	char *eab_hmac_key;
	char *preferred_chain;
	struct acme_directory dir;
	enum acme_account_state account;
	char *kid;                  /* the account URL */
	struct acme_op *waiting;    /* ops waiting for the account */
	char *nonces[ACME_NONCE_POOL];
	size_t nnonces;
	struct acme_files *files;
	struct acme_strikes *strikes;
	int ops;                    /* outstanding ops */
};

/* One submit or poll (or the account's own set-up). */
struct acme_op {
	struct ca_acme *a;
	ca_reply_cb cb;
	void *arg;
	bool submit;
	char *server;
	char *csr_pem;
	char **sans;
	size_t nsan;
	char *ref;                  /* the order URL */
	struct ca_hooks hooks;      /* copy; hooks.put NULL: none */
	bool strike;                /* this reply is a transient failure */
	/* the signed request in flight */
	char *url;
	char *payload;              /* NULL: POST-as-GET */
	bool use_jwk;
	int nonce_tries;
	acme_step next;
	/* the order's progress */
	struct acme_order order;
	int retry_after;            /* from the last response, or -1 */
	int quick;                  /* short looks taken in this poll */
	size_t authz_i;
	int authz_pending;          /* pending authorizations seen this look */
	bool scan_invalid;          /* looking for why the order failed */
	char *token_rel;            /* the http-01 file being published */
	char *challenge_url;
	char *chains[1 + ACME_MAX_ALTERNATES];
	bool preferred;             /* chains[0] is preferred_chain's */
	size_t nchains;
	char *alt_urls[ACME_MAX_ALTERNATES];
	size_t nalt_urls;
	size_t file_i;
	void (*after_clean)(struct acme_op *op);
	struct acme_op *next_waiting;
};

/* ca_acme.c */
/* Sends a signed POST of payload (NULL: POST-as-GET) to url and calls
 * next with the answer; badNonce is retried here. */
void acme_post(struct acme_op *op, const char *url, const char *payload,
    acme_step next);
/* Answers the op's caller and frees op; strings are copied. */
void acme_reply(struct acme_op *op, enum ca_answer answer,
    const char *status_text, const char *detail, int retry_after);
/* A 4xx that is not transient: the CA's word for it and its reason,
 * as answer (denied or failed). */
void acme_refused(struct acme_op *op, const struct http_resp *resp,
    const char *what, enum ca_answer answer);
/* Retry-After in seconds (at least 1), or -1 when the CA sent none. */
int acme_retry_of(const struct http_resp *resp);
/*
 * Handles what every step handles alike: no answer or a broken one
 * (pending, back-off), an oversized one (error), 5xx and 429 (pending,
 * Retry-After), all said as what; then, unless refusal is NULL, any
 * status but 200 is acme_refused with refusal and answer. Returns true
 * when it has replied (op is gone).
 */
bool acme_failed(struct acme_op *op, int status, struct http_resp *resp,
    const char *msg, const char *what, const char *refusal,
    enum ca_answer answer);

/* ca_acme_order.c */
void acme_order_open(struct acme_op *op);
void acme_order_poll(struct acme_op *op);
/* Removes the http-01 files the order published (if any). */
void acme_files_drop(struct ca_acme *a, const char *order);

#endif
