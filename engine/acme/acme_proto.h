/*
 * RFC 8555 objects as C structs: the directory, accounts, orders,
 * authorizations with their challenges, problem documents (RFC 7807), and
 * the JSON payloads certfleet sends (newAccount, newOrder with DNS and IP
 * identifiers per RFC 8738, finalize). Pure functions over jansson: no
 * I/O, no signing (jws.h), no state. Every parser treats its input as
 * hostile: wrong types, missing members, unknown statuses, oversized
 * arrays, bad URLs and unsafe tokens are refused with a message, and text
 * from the CA is cleaned of control characters before it is kept.
 */
#ifndef CF_ACME_PROTO_H
#define CF_ACME_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define ACME_MAX_IDENTIFIERS 100    /* per order (Let's Encrypt: 100) */
#define ACME_MAX_CHALLENGES 16      /* per authorization */
#define ACME_MAX_SUBPROBLEMS 100    /* kept; more are dropped */
#define ACME_MAX_URL 4096
#define ACME_MAX_DETAIL 1024        /* problem detail, bytes kept */

#define ACME_ERROR_PREFIX "urn:ietf:params:acme:error:"

/* The content type of every signed ACME POST. */
#define ACME_JOSE_JSON "application/jose+json"
/* The payload that tells the CA a challenge is ready (RFC 8555 7.5.1). */
#define ACME_CHALLENGE_READY "{}"

enum acme_status {
	ACME_PENDING,
	ACME_READY,                 /* order only */
	ACME_PROCESSING,            /* order, challenge */
	ACME_VALID,
	ACME_INVALID,
	ACME_DEACTIVATED,           /* account, authorization */
	ACME_EXPIRED,               /* authorization */
	ACME_REVOKED                /* account, authorization */
};

/* "pending", "ready"...; "unknown" for anything else. */
const char *acme_status_name(enum acme_status s);

struct acme_directory {
	char *new_nonce;            /* required */
	char *new_account;          /* required */
	char *new_order;            /* required */
	char *revoke_cert;          /* NULL when absent */
	char *key_change;           /* NULL when absent */
	char *new_authz;            /* NULL when absent (pre-authorization) */
	char *terms_of_service;     /* meta.termsOfService, or NULL; any
	                               scheme (Pebble: data:), never fetched */
	char *website;              /* meta.website, or NULL */
	bool eab_required;          /* meta.externalAccountRequired */
};

struct acme_identifier {
	char *type;                 /* "dns", "ip" */
	char *value;
};

/* A problem document; subproblems carry the identifier they are about. */
struct acme_problem {
	char *type;                 /* "about:blank" when absent */
	char *detail;               /* "" when absent; cleaned, clipped */
	int status;                 /* HTTP status in the document, or 0 */
	struct acme_identifier identifier;  /* subproblems; NULLs if none */
	struct acme_problem *sub;
	size_t nsub;
};

struct acme_account {
	enum acme_status status;    /* valid, deactivated or revoked */
	char *orders;               /* NULL when absent */
};

struct acme_order {
	enum acme_status status;    /* pending ready processing valid invalid */
	char *expires;              /* NULL when absent */
	struct acme_identifier *identifiers;
	size_t nidentifiers;        /* 1..ACME_MAX_IDENTIFIERS */
	char **authorizations;      /* URLs */
	size_t nauthorizations;
	char *finalize;
	char *certificate;          /* set when valid, else NULL */
	struct acme_problem *error; /* NULL when absent */
};

struct acme_challenge {
	char *type;                 /* "http-01", "dns-01", ... */
	char *url;
	char *token;                /* base64url; NULL for unknown types */
	enum acme_status status;    /* pending processing valid invalid */
	struct acme_problem *error; /* NULL when absent */
};

struct acme_authz {
	enum acme_status status;    /* pending valid invalid deactivated
	                               expired revoked */
	struct acme_identifier identifier;
	char *expires;              /* NULL when absent */
	bool wildcard;
	struct acme_challenge *challenges;
	size_t nchallenges;
};

/*
 * Each parser reads len bytes of JSON into *out (zeroed first; release it
 * either way) and returns 0, CF_ENOMEM, or CF_EINVAL with msg beginning
 * "malformed <object>: ".
 */
int acme_directory_parse(const char *json, size_t len,
    struct acme_directory *out, char *msg, size_t msgsz);
int acme_account_parse(const char *json, size_t len,
    struct acme_account *out, char *msg, size_t msgsz);
int acme_order_parse(const char *json, size_t len, struct acme_order *out,
    char *msg, size_t msgsz);
int acme_authz_parse(const char *json, size_t len, struct acme_authz *out,
    char *msg, size_t msgsz);
int acme_problem_parse(const char *json, size_t len,
    struct acme_problem *out, char *msg, size_t msgsz);

void acme_directory_release(struct acme_directory *d);
void acme_account_release(struct acme_account *a);
void acme_order_release(struct acme_order *o);
void acme_authz_release(struct acme_authz *a);
void acme_problem_release(struct acme_problem *p);

/* The first challenge of type (e.g. "http-01") in a, or NULL. */
const struct acme_challenge *acme_authz_challenge(const struct acme_authz *a,
    const char *type);

/* True when p's type is ACME_ERROR_PREFIX name ("badNonce",
 * "rateLimited", "userActionRequired", ...). */
bool acme_problem_is(const struct acme_problem *p, const char *name);

/*
 * Writes p for a person into buf: "rateLimited: too many orders" and each
 * subproblem as "; dns a.test: rejectedIdentifier: ...". Returns buf.
 */
const char *acme_problem_describe(const struct acme_problem *p, char *buf,
    size_t bufsz);

/* True when a Replay-Nonce value is usable (non-empty base64url). */
bool acme_nonce_valid(const char *nonce);

/*
 * The newAccount payload (RFC 8555 7.3): contact URLs ("mailto:..."),
 * termsOfServiceAgreed and onlyReturnExisting when true, and eab (from
 * jws_eab; borrowed) when not NULL. Returns 0 and JSON text in a new
 * string in *out (caller frees), or a CF_E* code with msg.
 */
int acme_new_account_payload(const char *const *contact, size_t ncontact,
    bool tos_agreed, bool only_return_existing, const json_t *eab,
    char **out, char *msg, size_t msgsz);

/*
 * The newOrder payload from SAN strings ("DNS:name", "IP:addr"; see
 * san.h): one identifier each, duplicates dropped, IP addresses in their
 * canonical text form (RFC 8738 3). Other SAN types are refused, as is an
 * empty list. Returns 0 and JSON text in *out (caller frees) or a CF_E*
 * code with msg.
 */
int acme_new_order_payload(char *const *sans, size_t nsan, char **out,
    char *msg, size_t msgsz);

/* The finalize payload {"csr": base64url(der)}; *out as above. */
int acme_finalize_payload(const unsigned char *der, size_t len, char **out,
    char *msg, size_t msgsz);

#endif
