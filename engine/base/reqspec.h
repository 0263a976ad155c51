/*
 * One server's certificate request after template expansion: what the CA
 * will put in the certificate. The engine sees only this, never the fleet
 * file or the template it came from.
 */
#ifndef CF_REQSPEC_H
#define CF_REQSPEC_H

#include <stddef.h>

enum key_type {
	KEY_EC,
	KEY_RSA,
	KEY_ED25519
};

struct key_spec {
	enum key_type type;
	int bits;                   /* RSA modulus size; EC field size */
	const char *curve;          /* "P-256" or "P-384" for EC, static */
};

enum eku_flags {
	EKU_SERVER_AUTH = 1 << 0,
	EKU_CLIENT_AUTH = 1 << 1,
	EKU_CODE_SIGNING = 1 << 2,
	EKU_EMAIL_PROTECTION = 1 << 3,
	EKU_TIME_STAMPING = 1 << 4,
	EKU_ALL = (1 << 5) - 1
};

struct req_spec {
	char *subject;              /* "CN=..., O=..." (see dn.h) */
	char **san;                 /* "DNS:...", "IP:..." (see san.h) */
	size_t nsan;
	struct key_spec key;
	unsigned eku;               /* enum eku_flags */
	int days;
};

/* Fills rs with an empty spec; req_spec_release frees what it holds. */
void req_spec_init(struct req_spec *rs);
void req_spec_release(struct req_spec *rs);

/* Fills dst (initialised) with a deep copy of src. 0 or CF_ENOMEM, dst
 * then to be released by the caller either way. */
int req_spec_copy(struct req_spec *dst, const struct req_spec *src);

/* Appends a copy of san. Returns 0 or CF_ENOMEM. */
int req_spec_add_san(struct req_spec *rs, const char *san);

/*
 * Fills ks from a key type name ("ec", "rsa", "ed25519"), a curve (EC only,
 * NULL for P-256) and a size (RSA only, 0 for 2048). Returns 0 or CF_EINVAL
 * with the reason in msg.
 */
int key_spec_set(struct key_spec *ks, const char *type, const char *curve,
    int bits, char *msg, size_t msgsz);

/* Writes "ec P-256", "rsa 3072" or "ed25519" into buf. Returns buf. */
const char *key_spec_describe(const struct key_spec *ks, char *buf,
    size_t bufsz);

/*
 * The SHA-256 (upper-case hex) of what rs asks and of which CA (ca_id, a
 * driver's identity): two requests hash the same exactly when a CA would
 * be asked the same thing. A denial is remembered until it changes.
 */
int req_spec_hash(const struct req_spec *rs, const char *ca_id,
    char out[65]);

/* The flag for an EKU name ("serverAuth"...), or 0 when unknown. */
unsigned eku_from_name(const char *name);

/* The name of a single EKU flag, or NULL. */
const char *eku_name(unsigned flag);

#endif
