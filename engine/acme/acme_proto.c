/*
 * RFC 8555 objects with jansson: parsers for what an ACME server sends and
 * builders for what certfleet sends. Everything from the server is
 * hostile until checked: a parser either fills its struct with values of
 * the right type, inside the limits in acme_proto.h, or fails with a
 * message that quotes the offending value cleaned and clipped. No I/O and
 * no signing here.
 */
#include "engine/acme/acme_proto.h"
#include "engine/acme/jws.h"
#include "engine/base/err.h"
#include "engine/base/path.h"
#include "engine/base/san.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bit per status, for what each object may be in. */
#define S(x) (1u << (x))
#define ORDER_STATUSES (S(ACME_PENDING) | S(ACME_READY) | \
	S(ACME_PROCESSING) | S(ACME_VALID) | S(ACME_INVALID))
#define AUTHZ_STATUSES (S(ACME_PENDING) | S(ACME_VALID) | \
	S(ACME_INVALID) | S(ACME_DEACTIVATED) | S(ACME_EXPIRED) | \
	S(ACME_REVOKED))
#define CHALLENGE_STATUSES (S(ACME_PENDING) | S(ACME_PROCESSING) | \
	S(ACME_VALID) | S(ACME_INVALID))
#define ACCOUNT_STATUSES (S(ACME_VALID) | S(ACME_DEACTIVATED) | \
	S(ACME_REVOKED))

static const char *const status_names[] = {
	[ACME_PENDING] = "pending",
	[ACME_READY] = "ready",
	[ACME_PROCESSING] = "processing",
	[ACME_VALID] = "valid",
	[ACME_INVALID] = "invalid",
	[ACME_DEACTIVATED] = "deactivated",
	[ACME_EXPIRED] = "expired",
	[ACME_REVOKED] = "revoked",
};

#define NSTATUS (sizeof status_names / sizeof status_names[0])

const char *acme_status_name(enum acme_status s)
{
	return (size_t)s < NSTATUS ? status_names[s] : "unknown";
}

/* What is being parsed, for messages: "malformed <what>: ...". */
struct ctx {
	const char *what;
	char *msg;
	size_t msgsz;
};

static int bad(struct ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int bad(struct ctx *c, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	return cf_error(c->msg, c->msgsz, CF_EINVAL, "malformed %s: %s",
	    c->what, why);
}

/*
 * Copies at most max bytes of s into out (max + 1 bytes), control
 * characters as '?', never ending inside a UTF-8 sequence. Returns how
 * many bytes it kept: s goes on past them when it was clipped.
 */
static size_t clean_copy(char *out, const char *s, size_t max)
{
	size_t n;

	for (n = 0; n < max && s[n] != '\0'; n++)
		out[n] = (unsigned char)s[n] < 0x20 || s[n] == 0x7f ? '?' :
		    s[n];
	if (s[n] != '\0')
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	out[n] = '\0';
	return n;
}

/* A server value fit for a message: at most 40 bytes, "..." when
 * clipped. */
static const char *clip(const char *s, char buf[48])
{
	if (s[clean_copy(buf, s, 40)] != '\0')
		strcat(buf, "...");
	return buf;
}

/* The name of a JSON value's type, for messages. */
static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* Parses text into an object root (caller decrefs). */
static int load(struct ctx *c, const char *json, size_t len, json_t **root)
{
	json_error_t e;
	char b[48];

	*root = NULL;
	if (json == NULL)
		return bad(c, "no document");
	if ((*root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e)) ==
	    NULL)
		return bad(c, "not JSON (line %d, column %d: %s)", e.line,
		    e.column, clip(e.text, b));
	if (!json_is_object(*root)) {
		int rc = bad(c, "%s, not an object", type_name(*root));

		json_decref(*root);
		*root = NULL;
		return rc;
	}
	return 0;
}

/* Fills the struct at out from the document root. */
typedef int (*fill_fn)(struct ctx *c, const json_t *root, void *out);

/* Zeroes the size bytes at out, loads the document and fills out. */
static int parse(const char *what, fill_fn fill, const char *json,
    size_t len, void *out, size_t size, char *msg, size_t msgsz)
{
	struct ctx c = { what, msg, msgsz };
	json_t *root;
	int rc;

	memset(out, 0, size);
	if ((rc = load(&c, json, len, &root)) != 0)
		return rc;
	rc = fill(&c, root, out);
	json_decref(root);
	return rc;
}

/* A copy of s as clean_copy makes it; NULL when out of memory. */
static char *clean_dup(const char *s, size_t max)
{
	char *out = malloc(strnlen(s, max) + 1);

	if (out != NULL)
		clean_copy(out, s, max);
	return out;
}

/*
 * Member name of o, which must be want ("a string", "an array": as
 * type_name says). Returns 0 with *out (NULL when absent and not
 * required), or the message.
 */
static int get_member(struct ctx *c, const json_t *o, const char *name,
    bool required, const char *want, const json_t **out)
{
	const json_t *v = json_object_get(o, name);

	*out = NULL;
	if (v == NULL)
		return required ? bad(c, "missing '%s'", name) : 0;
	if (strcmp(type_name(v), want) != 0)
		return bad(c, "'%s' is %s, not %s", name, type_name(v), want);
	*out = v;
	return 0;
}

/* True when s is an http(s) URL we are willing to request. */
static bool url_ok(const char *s)
{
	size_t i;

	if (strncasecmp(s, "https://", 8) == 0)
		i = 8;
	else if (strncasecmp(s, "http://", 7) == 0)
		i = 7;
	else
		return false;
	return strlen(s) <= ACME_MAX_URL && s[i] != '\0' && s[i] != '/' &&
	    !str_has_control(s + i) && strchr(s + i, ' ') == NULL;
}

/* What a string member must be besides a string without NUL: anything,
 * a short text kept as is (a type, a token, an identifier, a date), or
 * a URL that url_ok takes. */
enum str_kind { STR_ANY, STR_TEXT, STR_URL };

/* Reads string member name of o into *out (a copy; NULL when absent). */
static int get_string(struct ctx *c, const json_t *o, const char *name,
    bool required, enum str_kind kind, char **out)
{
	const json_t *v;
	const char *s;
	char b[48];
	int rc;

	*out = NULL;
	if ((rc = get_member(c, o, name, required, "a string", &v)) != 0 ||
	    v == NULL)
		return rc;
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
		return bad(c, "'%s' holds a NUL character", name);
	if (kind == STR_TEXT && (str_has_control(s) ||
	    strlen(s) > ACME_MAX_URL))
		return bad(c, "'%s' holds control characters or is too long",
		    name);
	if (kind == STR_URL && !url_ok(s))
		return bad(c, "'%s' is not an http(s) URL: '%s'", name,
		    clip(s, b));
	if ((*out = strdup(s)) == NULL)
		return CF_ENOMEM;
	return 0;
}

/* Reads the status member (required) among the allowed ones. */
static int get_status(struct ctx *c, const json_t *o, unsigned allowed,
    enum acme_status *out)
{
	const json_t *v;
	char b[48];
	size_t i;
	int rc;

	if ((rc = get_member(c, o, "status", true, "a string", &v)) != 0)
		return rc;
	for (i = 0; i < NSTATUS; i++) {
		if ((allowed & S(i)) != 0 &&
		    strcmp(json_string_value(v), status_names[i]) == 0) {
			*out = (enum acme_status)i;
			return 0;
		}
	}
	return bad(c, "unknown status '%s'", clip(json_string_value(v), b));
}

/* Reads an optional boolean member. */
static int get_bool(struct ctx *c, const json_t *o, const char *name,
    bool *out)
{
	const json_t *v;
	int rc = get_member(c, o, name, false, "a boolean", &v);

	*out = json_is_true(v);
	return rc;
}

/* Checks that member name is an array of at most max entries. */
static int get_array(struct ctx *c, const json_t *o, const char *name,
    bool required, size_t max, const json_t **out)
{
	int rc;

	if ((rc = get_member(c, o, name, required, "an array", out)) != 0 ||
	    *out == NULL)
		return rc;
	if (json_array_size(*out) > max) {
		rc = bad(c, "'%s' has %zu entries (at most %zu)", name,
		    json_array_size(*out), max);
		*out = NULL;
	}
	return rc;
}

/* ---- identifiers and problems ---- */

static void identifier_release(struct acme_identifier *id)
{
	free(id->type);
	free(id->value);
	id->type = id->value = NULL;
}

static int identifier_parse(struct ctx *c, const json_t *v,
    struct acme_identifier *id)
{
	int rc;

	if (!json_is_object(v))
		return bad(c, "an identifier is %s, not an object",
		    type_name(v));
	if ((rc = get_string(c, v, "type", true, STR_TEXT, &id->type)) != 0 ||
	    (rc = get_string(c, v, "value", true, STR_TEXT, &id->value)) != 0)
		return rc;
	if (id->type[0] == '\0' || id->value[0] == '\0')
		return bad(c, "an identifier has an empty type or value");
	if (strlen(id->value) > 255 + 2)
		return bad(c, "an identifier's value is too long");
	return 0;
}

void acme_problem_release(struct acme_problem *p)
{
	size_t i;

	if (p == NULL)
		return;
	free(p->type);
	free(p->detail);
	identifier_release(&p->identifier);
	for (i = 0; i < p->nsub; i++)
		acme_problem_release(&p->sub[i]);
	free(p->sub);
	memset(p, 0, sizeof *p);
}

/* Fills p from object v; depth 0 is the document, 1 a subproblem. */
static int problem_fill(struct ctx *c, const json_t *v,
    struct acme_problem *p, int depth)
{
	const json_t *st, *subs, *id, *e;
	char *s;
	size_t i, n;
	int rc;

	if (!json_is_object(v))
		return bad(c, "%s is %s, not an object", depth > 0 ?
		    "a subproblem" : "the problem", type_name(v));
	if ((rc = get_string(c, v, "type", false, STR_ANY, &s)) != 0)
		return rc;
	p->type = s != NULL ? clean_dup(s, 256) : strdup("about:blank");
	free(s);
	if ((rc = get_string(c, v, "detail", false, STR_ANY, &s)) != 0)
		return rc;
	p->detail = clean_dup(s != NULL ? s : "", ACME_MAX_DETAIL);
	free(s);
	if (p->type == NULL || p->detail == NULL)
		return CF_ENOMEM;
	st = json_object_get(v, "status");
	if (st != NULL) {
		if (!json_is_integer(st) || json_integer_value(st) < 100 ||
		    json_integer_value(st) > 599)
			return bad(c, "'status' is not an HTTP status code");
		p->status = (int)json_integer_value(st);
	}
	if (depth > 0) {
		id = json_object_get(v, "identifier");
		if (id != NULL && (rc = identifier_parse(c, id,
		    &p->identifier)) != 0)
			return rc;
		return 0;
	}
	if ((rc = get_member(c, v, "subproblems", false, "an array",
	    &subs)) != 0 || subs == NULL)
		return rc;
	n = json_array_size(subs);
	if (n > ACME_MAX_SUBPROBLEMS)
		n = ACME_MAX_SUBPROBLEMS;
	if (n == 0)
		return 0;
	if ((p->sub = calloc(n, sizeof *p->sub)) == NULL)
		return CF_ENOMEM;
	for (i = 0; i < n; i++) {
		e = json_array_get(subs, i);
		p->nsub = i + 1;
		if ((rc = problem_fill(c, e, &p->sub[i], 1)) != 0)
			return rc;
	}
	return 0;
}

static int problem_doc_fill(struct ctx *c, const json_t *root, void *out)
{
	return problem_fill(c, root, out, 0);
}

int acme_problem_parse(const char *json, size_t len,
    struct acme_problem *out, char *msg, size_t msgsz)
{
	return parse("problem document", problem_doc_fill, json, len, out,
	    sizeof *out, msg, msgsz);
}

/* An embedded "error" member (order, challenge): NULL when absent. */
static int get_problem(struct ctx *c, const json_t *o,
    struct acme_problem **out)
{
	const json_t *v = json_object_get(o, "error");

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if ((*out = calloc(1, sizeof **out)) == NULL)
		return CF_ENOMEM;
	return problem_fill(c, v, *out, 0);
}

static void problem_free(struct acme_problem *p)
{
	acme_problem_release(p);
	free(p);
}

bool acme_problem_is(const struct acme_problem *p, const char *name)
{
	size_t n = sizeof ACME_ERROR_PREFIX - 1;

	return p != NULL && p->type != NULL &&
	    strncmp(p->type, ACME_ERROR_PREFIX, n) == 0 &&
	    strcmp(p->type + n, name) == 0;
}

/* The short form of a problem type: "badNonce" for the ACME URNs. */
static const char *short_type(const char *type)
{
	size_t n = sizeof ACME_ERROR_PREFIX - 1;

	return strncmp(type, ACME_ERROR_PREFIX, n) == 0 ? type + n : type;
}

const char *acme_problem_describe(const struct acme_problem *p, char *buf,
    size_t bufsz)
{
	size_t i, used;
	const struct acme_problem *s;

	if (bufsz == 0)
		return buf;
	if (p->type == NULL || p->detail == NULL) {
		snprintf(buf, bufsz, "about:blank");
		return buf;
	}
	snprintf(buf, bufsz, "%s%s%s", short_type(p->type),
	    p->detail[0] != '\0' ? ": " : "", p->detail);
	for (i = 0; i < p->nsub; i++) {
		s = &p->sub[i];
		if (s->type == NULL || s->detail == NULL)
			continue;
		used = strlen(buf);
		snprintf(buf + used, bufsz - used, "; %s%s%s%s%s%s%s",
		    s->identifier.type != NULL ? s->identifier.type : "",
		    s->identifier.type != NULL ? " " : "",
		    s->identifier.value != NULL ? s->identifier.value : "",
		    s->identifier.type != NULL ? ": " : "",
		    short_type(s->type), s->detail[0] != '\0' ? ": " : "",
		    s->detail);
	}
	return buf;
}

bool acme_nonce_valid(const char *nonce)
{
	return nonce != NULL && strlen(nonce) <= 512 &&
	    jws_b64url_valid(nonce);
}

/* ---- directory and account ---- */

void acme_directory_release(struct acme_directory *d)
{
	free(d->new_nonce);
	free(d->new_account);
	free(d->new_order);
	free(d->revoke_cert);
	free(d->key_change);
	free(d->new_authz);
	free(d->terms_of_service);
	free(d->website);
	memset(d, 0, sizeof *d);
}

static int directory_fill(struct ctx *c, const json_t *root, void *out)
{
	struct acme_directory *d = out;
	const json_t *meta;
	int rc;

	if ((rc = get_string(c, root, "newNonce", true, STR_URL,
	    &d->new_nonce)) ||
	    (rc = get_string(c, root, "newAccount", true, STR_URL,
	    &d->new_account)) ||
	    (rc = get_string(c, root, "newOrder", true, STR_URL,
	    &d->new_order)) ||
	    (rc = get_string(c, root, "revokeCert", false, STR_URL,
	    &d->revoke_cert)) ||
	    (rc = get_string(c, root, "keyChange", false, STR_URL,
	    &d->key_change)) ||
	    (rc = get_string(c, root, "newAuthz", false, STR_URL,
	    &d->new_authz)) ||
	    (rc = get_member(c, root, "meta", false, "an object", &meta)) ||
	    meta == NULL)
		return rc;
	/* Not fetched, only shown: Pebble's terms are a data: URL. */
	if ((rc = get_string(c, meta, "termsOfService", false, STR_TEXT,
	    &d->terms_of_service)) ||
	    (rc = get_string(c, meta, "website", false, STR_TEXT,
	    &d->website)))
		return rc;
	return get_bool(c, meta, "externalAccountRequired", &d->eab_required);
}

int acme_directory_parse(const char *json, size_t len,
    struct acme_directory *out, char *msg, size_t msgsz)
{
	return parse("ACME directory", directory_fill, json, len, out,
	    sizeof *out, msg, msgsz);
}

void acme_account_release(struct acme_account *a)
{
	free(a->orders);
	memset(a, 0, sizeof *a);
}

static int account_fill(struct ctx *c, const json_t *root, void *out)
{
	struct acme_account *a = out;
	int rc;

	if ((rc = get_status(c, root, ACCOUNT_STATUSES, &a->status)) != 0)
		return rc;
	return get_string(c, root, "orders", false, STR_URL, &a->orders);
}

int acme_account_parse(const char *json, size_t len,
    struct acme_account *out, char *msg, size_t msgsz)
{
	return parse("account", account_fill, json, len, out, sizeof *out,
	    msg, msgsz);
}

/* ---- orders ---- */

void acme_order_release(struct acme_order *o)
{
	size_t i;

	free(o->expires);
	for (i = 0; i < o->nidentifiers; i++)
		identifier_release(&o->identifiers[i]);
	free(o->identifiers);
	for (i = 0; i < o->nauthorizations; i++)
		free(o->authorizations[i]);
	free(o->authorizations);
	free(o->finalize);
	free(o->certificate);
	problem_free(o->error);
	memset(o, 0, sizeof *o);
}

static int order_fill(struct ctx *c, const json_t *root, void *out)
{
	struct acme_order *o = out;
	const json_t *ids, *authz, *v;
	char b[48];
	size_t i, n;
	int rc;

	if ((rc = get_status(c, root, ORDER_STATUSES, &o->status)) != 0 ||
	    (rc = get_string(c, root, "expires", false, STR_TEXT,
	    &o->expires)) != 0 ||
	    (rc = get_string(c, root, "finalize", true, STR_URL,
	    &o->finalize)) != 0 ||
	    (rc = get_string(c, root, "certificate", false, STR_URL,
	    &o->certificate)) != 0 ||
	    (rc = get_problem(c, root, &o->error)) != 0)
		return rc;
	/* RFC 8555 7.1.3: the certificate URL comes with status valid. */
	if (o->status == ACME_VALID && o->certificate == NULL)
		return bad(c, "status 'valid' without 'certificate'");
	if ((rc = get_array(c, root, "identifiers", true,
	    ACME_MAX_IDENTIFIERS, &ids)) != 0 ||
	    (rc = get_array(c, root, "authorizations", true,
	    ACME_MAX_IDENTIFIERS, &authz)) != 0)
		return rc;
	if ((n = json_array_size(ids)) == 0)
		return bad(c, "'identifiers' is empty");
	if ((o->identifiers = calloc(n, sizeof *o->identifiers)) == NULL)
		return CF_ENOMEM;
	for (i = 0; i < n; i++) {
		o->nidentifiers = i + 1;
		if ((rc = identifier_parse(c, json_array_get(ids, i),
		    &o->identifiers[i])) != 0)
			return rc;
	}
	if ((n = json_array_size(authz)) == 0)
		return 0;
	if ((o->authorizations = calloc(n, sizeof *o->authorizations)) ==
	    NULL)
		return CF_ENOMEM;
	for (i = 0; i < n; i++) {
		v = json_array_get(authz, i);
		if (!json_is_string(v))
			return bad(c, "authorization %zu is %s, not a string",
			    i, type_name(v));
		if (!url_ok(json_string_value(v)))
			return bad(c, "authorization %zu is not an http(s) "
			    "URL: '%s'", i, clip(json_string_value(v), b));
		if ((o->authorizations[i] = strdup(json_string_value(v))) ==
		    NULL)
			return CF_ENOMEM;
		o->nauthorizations = i + 1;
	}
	return 0;
}

int acme_order_parse(const char *json, size_t len, struct acme_order *out,
    char *msg, size_t msgsz)
{
	return parse("order", order_fill, json, len, out, sizeof *out, msg,
	    msgsz);
}

/* ---- authorizations ---- */

static void challenge_release(struct acme_challenge *ch)
{
	free(ch->type);
	free(ch->url);
	free(ch->token);
	problem_free(ch->error);
	memset(ch, 0, sizeof *ch);
}

void acme_authz_release(struct acme_authz *a)
{
	size_t i;

	identifier_release(&a->identifier);
	free(a->expires);
	for (i = 0; i < a->nchallenges; i++)
		challenge_release(&a->challenges[i]);
	free(a->challenges);
	memset(a, 0, sizeof *a);
}

static int challenge_parse(struct ctx *c, const json_t *v,
    struct acme_challenge *ch)
{
	char b[48], t[48];
	int rc;

	if (!json_is_object(v))
		return bad(c, "a challenge is %s, not an object",
		    type_name(v));
	if ((rc = get_string(c, v, "type", true, STR_TEXT, &ch->type)) != 0 ||
	    (rc = get_string(c, v, "url", true, STR_URL, &ch->url)) != 0 ||
	    (rc = get_status(c, v, CHALLENGE_STATUSES, &ch->status)) != 0 ||
	    (rc = get_string(c, v, "token", false, STR_TEXT,
	    &ch->token)) != 0 ||
	    (rc = get_problem(c, v, &ch->error)) != 0)
		return rc;
	/*
	 * The token names a file under /.well-known/acme-challenge/ and a
	 * DNS record: RFC 8555 8.1 makes it base64url, and anything else
	 * (a "/" or "..") is refused rather than trusted.
	 */
	if (ch->token != NULL && (!jws_b64url_valid(ch->token) ||
	    strlen(ch->token) > 256))
		return bad(c, "challenge '%s' has an unsafe token '%s'",
		    clip(ch->type, t), clip(ch->token, b));
	if (ch->token == NULL && (strcmp(ch->type, "http-01") == 0 ||
	    strcmp(ch->type, "dns-01") == 0 ||
	    strcmp(ch->type, "tls-alpn-01") == 0))
		return bad(c, "challenge '%s' has no token", ch->type);
	return 0;
}

static int authz_fill(struct ctx *c, const json_t *root, void *out)
{
	struct acme_authz *a = out;
	const json_t *id, *chs;
	size_t i, n;
	int rc;

	if ((rc = get_status(c, root, AUTHZ_STATUSES, &a->status)) != 0 ||
	    (rc = get_string(c, root, "expires", false, STR_TEXT,
	    &a->expires)) != 0 ||
	    (rc = get_bool(c, root, "wildcard", &a->wildcard)) != 0)
		return rc;
	if ((id = json_object_get(root, "identifier")) == NULL)
		return bad(c, "missing 'identifier'");
	if ((rc = identifier_parse(c, id, &a->identifier)) != 0 ||
	    (rc = get_array(c, root, "challenges", true, ACME_MAX_CHALLENGES,
	    &chs)) != 0)
		return rc;
	if ((n = json_array_size(chs)) == 0)
		return 0;
	if ((a->challenges = calloc(n, sizeof *a->challenges)) == NULL)
		return CF_ENOMEM;
	for (i = 0; i < n; i++) {
		a->nchallenges = i + 1;
		if ((rc = challenge_parse(c, json_array_get(chs, i),
		    &a->challenges[i])) != 0)
			return rc;
	}
	return 0;
}

int acme_authz_parse(const char *json, size_t len, struct acme_authz *out,
    char *msg, size_t msgsz)
{
	return parse("authorization", authz_fill, json, len, out,
	    sizeof *out, msg, msgsz);
}

const struct acme_challenge *acme_authz_challenge(const struct acme_authz *a,
    const char *type)
{
	size_t i;

	for (i = 0; i < a->nchallenges; i++)
		if (strcmp(a->challenges[i].type, type) == 0)
			return &a->challenges[i];
	return NULL;
}

/* ---- payloads ---- */

/* Dumps o compactly into *out and drops o. */
static int dump(json_t *o, char **out)
{
	*out = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return *out != NULL ? 0 : CF_ENOMEM;
}

/* True when s looks like "scheme:rest" with nothing unprintable. */
static bool contact_ok(const char *s)
{
	const char *p = s;

	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
		return false;
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
	    (*p >= '0' && *p <= '9') || *p == '+' || *p == '.' || *p == '-')
		p++;
	if (*p != ':' || p[1] == '\0')
		return false;
	for (p++; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return false;
	/* RFC 8555 7.3: one address per mailto, no header fields. */
	if (strncasecmp(s, "mailto:", 7) == 0 && strpbrk(s, ",?") != NULL)
		return false;
	return true;
}

int acme_new_account_payload(const char *const *contact, size_t ncontact,
    bool tos_agreed, bool only_return_existing, const json_t *eab,
    char **out, char *msg, size_t msgsz)
{
	json_t *o, *a = NULL;
	char b[48];
	size_t i;

	*out = NULL;
	for (i = 0; i < ncontact; i++)
		if (contact[i] == NULL || !contact_ok(contact[i]))
			return cf_error(msg, msgsz, CF_EINVAL, "invalid ACME "
			    "contact '%s': use mailto:address",
			    contact[i] != NULL ? clip(contact[i], b) : "");
	if (eab != NULL && !json_is_object(eab))
		return cf_error(msg, msgsz, CF_EINVAL, "invalid external "
		    "account binding: not a JWS object");
	if (ncontact > 0 && (a = json_array()) == NULL)
		return CF_ENOMEM;
	for (i = 0; i < ncontact; i++)
		if (json_array_append_new(a, json_string(contact[i])) != 0) {
			json_decref(a);
			return cf_error(msg, msgsz, CF_EINVAL, "invalid ACME "
			    "contact '%s': not UTF-8", clip(contact[i], b));
		}
	/* Members that are NULL (false) stay out. */
	o = json_pack("{s:O*, s:O*, s:O*, s:O*}", "contact", a,
	    "termsOfServiceAgreed", tos_agreed ? json_true() : NULL,
	    "onlyReturnExisting", only_return_existing ? json_true() : NULL,
	    "externalAccountBinding", (json_t *)eab);
	json_decref(a);
	return dump(o, out);
}

int acme_new_order_payload(char *const *sans, size_t nsan, char **out,
    char *msg, size_t msgsz)
{
	char text[INET6_ADDRSTRLEN];
	json_t *ids, *id;
	struct san s;
	size_t i, j;
	bool dup;
	int rc;

	*out = NULL;
	for (i = 0; i < nsan; i++) {
		if ((rc = san_parse(sans[i], &s, msg, msgsz)) != 0)
			return rc;
		if (s.type != SAN_DNS && s.type != SAN_IP)
			return cf_error(msg, msgsz, CF_EINVAL, "cannot "
			    "request SAN '%s' from an ACME CA: only DNS and "
			    "IP names", sans[i]);
	}
	if ((ids = json_array()) == NULL)
		return CF_ENOMEM;
	for (i = 0; i < nsan; i++) {
		for (dup = false, j = 0; j < i && !dup; j++)
			dup = san_equal(sans[i], sans[j]);
		if (dup)
			continue;
		san_parse(sans[i], &s, NULL, 0);
		if (s.type == SAN_IP && inet_ntop(s.iplen == 4 ? AF_INET :
		    AF_INET6, s.ip, text, sizeof text) == NULL) {
			rc = cf_error(msg, msgsz, CF_EINVAL, "malformed SAN "
			    "'%s'", sans[i]);
			goto done;
		}
		id = json_pack("{s:s, s:s}", "type", s.type == SAN_IP ? "ip" :
		    "dns", "value", s.type == SAN_IP ? text : s.value);
		if (id == NULL || json_array_append_new(ids, id) != 0) {
			rc = CF_ENOMEM;
			goto done;
		}
	}
	if (json_array_size(ids) == 0)
		rc = cf_error(msg, msgsz, CF_EINVAL, "no DNS or IP name to "
		    "request from the ACME CA");
	else if (json_array_size(ids) > ACME_MAX_IDENTIFIERS)
		rc = cf_error(msg, msgsz, CF_EINVAL, "%zu names in one "
		    "order: at most %d", json_array_size(ids),
		    ACME_MAX_IDENTIFIERS);
	else
		rc = dump(json_pack("{s:O}", "identifiers", ids), out);
done:
	json_decref(ids);
	return rc;
}

int acme_finalize_payload(const unsigned char *der, size_t len, char **out,
    char *msg, size_t msgsz)
{
	char *b64;
	json_t *o;
	int rc;

	*out = NULL;
	if (der == NULL || len == 0)
		return cf_error(msg, msgsz, CF_EINVAL, "no CSR to finalize "
		    "the order with");
	if ((rc = jws_b64url_encode(der, len, &b64)) != 0)
		return rc;
	o = json_pack("{s:s}", "csr", b64);
	free(b64);
	return dump(o, out);
}
