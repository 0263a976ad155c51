/*
 * The chain check (see chain.h for the decisions): verify a leaf against a
 * server's own stores the way `openssl verify` does, then walk the CA path
 * the issuing CA returned and name every CA the server lacks.
 *
 * Never prints, never touches a private key (key PEM blocks in a store are
 * skipped and wiped unread), and never reads files except in
 * cert_store_load_path.
 */
#include "engine/chain/chain.h"
#include "engine/chain/sigcache.h"
#include "engine/base/certcache.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"
#include "engine/base/reqspec.h"
#include "engine/base/str.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

/* A store file larger than this is not a certificate store. */
#define STORE_FILE_MAX (64L * 1024 * 1024)

/* ---- stores ---- */

void cert_store_init(struct cert_store *s)
{
	s->certs = NULL;
}

void cert_store_release(struct cert_store *s)
{
	sk_X509_pop_free(s->certs, X509_free);
	s->certs = NULL;
}

size_t cert_store_count(const struct cert_store *s)
{
	if (s == NULL || s->certs == NULL)
		return 0;
	return (size_t)sk_X509_num(s->certs);
}

int cert_store_add_cert(struct cert_store *s, X509 *x)
{
	int i;

	if (s->certs == NULL && (s->certs = sk_X509_new_null()) == NULL)
		return CF_ENOMEM;
	for (i = 0; i < sk_X509_num(s->certs); i++)
		if (X509_cmp(sk_X509_value(s->certs, i), x) == 0)
			return 0;
	if (!X509_up_ref(x))
		return CF_ENOMEM;
	if (sk_X509_push(s->certs, x) <= 0) {
		X509_free(x);
		return CF_ENOMEM;
	}
	return 0;
}

static int is_blank(const char *data, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!isspace((unsigned char)data[i]))
			return 0;
	return 1;
}

/* The certificate (with its trust settings when aux) that fills all of
 * der, or NULL. */
static X509 *whole_cert(const unsigned char *der, long len, int aux)
{
	const unsigned char *p = der;
	long used = 0;
	X509 *x;

	/* A store's CAs are the same on every server: parsed once. */
	if (aux) {
		x = d2i_X509_AUX(NULL, &p, len);
		used = (long)(p - der);
	} else {
		x = certcache_d2i(der, len, &used);
	}
	if (x != NULL && used != len) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

/* Adds x and lets go of the caller's reference. */
static int add_own(struct cert_store *s, X509 *x, char *msg, size_t msgsz)
{
	int rc = cert_store_add_cert(s, x);

	X509_free(x);
	return rc != 0 ? cf_error(msg, msgsz, rc, "out of memory") : 0;
}

int cert_store_add_pem(struct cert_store *s, const char *data, size_t len,
    const char *source, char *msg, size_t msgsz)
{
	BIO *b;
	int nblocks = 0, rc = 0;
	X509 *x;

	if (len > INT_MAX)
		return cf_error(msg, msgsz, CF_EINVAL,
		    "cannot read certificates from '%s': too large", source);
	if ((b = BIO_new_mem_buf(data, (int)len)) == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	ERR_set_mark();
	for (;;) {
		char *name = NULL, *hdr = NULL;
		unsigned char *der = NULL;
		long dlen = 0;
		int aux, cert;
		unsigned long e;

		if (!PEM_read_bio(b, &name, &hdr, &der, &dlen)) {
			e = ERR_peek_last_error();
			if (ERR_GET_LIB(e) != ERR_LIB_PEM ||
			    ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
				rc = cf_error(msg, msgsz, CF_EINVAL,
				    "malformed PEM block %d in '%s'",
				    nblocks + 1, source);
			break;
		}
		nblocks++;
		aux = strcmp(name, PEM_STRING_X509_TRUSTED) == 0;
		cert = aux || strcmp(name, PEM_STRING_X509) == 0 ||
		    strcmp(name, PEM_STRING_X509_OLD) == 0;
		x = cert ? whole_cert(der, dlen, aux) : NULL;
		/* Wipe what is not a certificate: it may be a key. */
		OPENSSL_free(name);
		OPENSSL_free(hdr);
		OPENSSL_clear_free(der, (size_t)dlen);
		if (!cert)
			continue;
		if (x == NULL) {
			rc = cf_error(msg, msgsz, CF_EINVAL,
			    "malformed certificate in PEM block %d of '%s'",
			    nblocks, source);
			break;
		}
		if ((rc = add_own(s, x, msg, msgsz)) != 0)
			break;
	}
	BIO_free(b);
	/* No PEM block at all: a lone DER certificate filling all of data. */
	if (rc == 0 && nblocks == 0 && !is_blank(data, len)) {
		if (len < 2 || (unsigned char)data[0] != 0x30 ||
		    (x = whole_cert((const unsigned char *)data, (long)len,
		    0)) == NULL)
			rc = cf_error(msg, msgsz, CF_EINVAL,
			    "no certificate in '%s': neither PEM nor DER",
			    source);
		else
			rc = add_own(s, x, msg, msgsz);
	}
	ERR_pop_to_mark();
	return rc;
}

/* "permission denied", not "Permission denied": messages are lower case. */
static int io_error(char *msg, size_t msgsz, int code, const char *path,
    int err)
{
	char why[128];

	if (strerror_r(err, why, sizeof why) != 0)
		snprintf(why, sizeof why, "error %d", err);
	why[0] = (char)tolower((unsigned char)why[0]);
	return cf_error(msg, msgsz, code, "cannot read '%s': %s", path, why);
}

static int load_file(struct cert_store *s, const char *path, char *msg,
    size_t msgsz)
{
	struct stat st;
	char *buf = NULL;
	size_t len;
	int fd, rc;

	/* O_NONBLOCK: a FIFO swapped in after the stat must not hang us. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return io_error(msg, msgsz, CF_EIO, path, errno);
	if (fstat(fd, &st) != 0)
		rc = io_error(msg, msgsz, CF_EIO, path, errno);
	else if (!S_ISREG(st.st_mode))
		rc = cf_error(msg, msgsz, CF_EINVAL, "cannot read '%s': not a "
		    "regular file", path);
	else if ((rc = fsio_read_fd(fd, STORE_FILE_MAX, &buf, &len)) == 0)
		rc = cert_store_add_pem(s, buf, len, path, msg, msgsz);
	else if (rc == CF_EIO)
		rc = io_error(msg, msgsz, CF_EIO, path, errno);
	else if (rc == CF_ENOMEM)
		rc = cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	else
		rc = cf_error(msg, msgsz, CF_EINVAL, "cannot read '%s': larger "
		    "than 64 MiB", path);
	close(fd);
	free(buf);
	return rc;
}

static int not_hidden(const struct dirent *de)
{
	return de->d_name[0] != '.';
}

static int load_dir(struct cert_store *s, const char *dir, char *msg,
    size_t msgsz)
{
	struct dirent **names;
	struct stat st;
	char *path;
	int n, i, rc = 0;

	/* alphasort is strcmp order: certfleet keeps the C locale. */
	if ((n = scandir(dir, &names, not_hidden, alphasort)) < 0)
		return errno == ENOMEM ? cf_error(msg, msgsz, CF_ENOMEM,
		    "out of memory") : io_error(msg, msgsz, CF_EIO, dir, errno);
	for (i = 0; i < n && rc == 0; i++) {
		path = cf_asprintf("%s/%s", dir, names[i]->d_name);
		/* stat follows symlinks; dangling ones and dirs are skipped. */
		if (path == NULL)
			rc = cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
		else if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			rc = load_file(s, path, msg, msgsz);
		free(path);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int cert_store_load_path(struct cert_store *s, const char *path, char *msg,
    size_t msgsz)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return io_error(msg, msgsz, CF_EIO, path, errno);
	}
	if (S_ISDIR(st.st_mode))
		return load_dir(s, path, msg, msgsz);
	if (S_ISREG(st.st_mode))
		return load_file(s, path, msg, msgsz);
	return cf_error(msg, msgsz, CF_EINVAL,
	    "cannot read '%s': not a file or directory", path);
}

/* ---- verdicts ---- */

const char *chain_status_name(enum chain_status st)
{
	static const char *const names[] = {
		[CHAIN_OK] = "ok", [CHAIN_MISSING_CA] = "missing_ca",
		[CHAIN_INVALID] = "invalid", [CHAIN_UNKNOWN] = "unknown",
	};

	return (unsigned)st < sizeof names / sizeof names[0] ? names[st] :
	    "unknown";
}

const char *chain_kind_name(enum chain_kind kind)
{
	return kind == CHAIN_KIND_ROOT ? "root" : "intermediate";
}

void chain_verdict_init(struct chain_verdict *v)
{
	v->status = CHAIN_UNKNOWN;
	v->missing = NULL;
	v->nmissing = 0;
	v->detail = NULL;
}

const char *chain_verdict_detail(const struct chain_verdict *v)
{
	return v->detail ? v->detail : "";
}

int chain_verdict_set_detail(struct chain_verdict *v, const char *text)
{
	char *d = NULL;

	if (text && *text && (d = strdup(text)) == NULL)
		return CF_ENOMEM;
	free(v->detail);
	v->detail = d;
	return 0;
}

void chain_verdict_release(struct chain_verdict *v)
{
	size_t i;

	for (i = 0; i < v->nmissing; i++) {
		free(v->missing[i].subject);
		free(v->missing[i].reason);
	}
	free(v->missing);
	free(v->detail);
	chain_verdict_init(v);
}

static void set_detail(struct chain_verdict *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_detail(struct chain_verdict *v, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	/* Out of memory leaves no detail; the status still says it all. */
	chain_verdict_set_detail(v, buf);
}

/* "CN=Contoso Root CA, O=Contoso" (RFC 4514 order, UTF-8 kept), or NULL. */
static char *name_str(const X509_NAME *name)
{
	const unsigned long flags = XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_DN_REV |
	    XN_FLAG_FN_SN | XN_FLAG_DUMP_UNKNOWN_FIELDS |
	    ASN1_STRFLGS_ESC_2253 | ASN1_STRFLGS_ESC_CTRL |
	    ASN1_STRFLGS_UTF8_CONVERT | ASN1_STRFLGS_DUMP_UNKNOWN |
	    ASN1_STRFLGS_DUMP_DER;
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *s = NULL;
	long n;

	if (b == NULL)
		return NULL;
	if (X509_NAME_print_ex(b, name, 0, flags) >= 0) {
		n = BIO_get_mem_data(b, &p);
		if (n >= 0 && (s = malloc((size_t)n + 1)) != NULL) {
			if (n > 0)
				memcpy(s, p, (size_t)n);
			s[n] = '\0';
		}
	}
	BIO_free(b);
	return s;
}

/* The subject for a message: never NULL, may be cut. */
static const char *subject_of(X509 *x, char *buf, size_t bufsz)
{
	char *s = name_str(X509_get_subject_name(x));

	snprintf(buf, bufsz, "%s", s ? s : "?");
	free(s);
	return buf;
}

static void date_of(const ASN1_TIME *t, char buf[16])
{
	struct tm tm;

	if (!ASN1_TIME_to_tm(t, &tm) ||
	    strftime(buf, 16, "%Y-%m-%d", &tm) == 0)
		snprintf(buf, 16, "?");
}

/* <0 not yet valid, >0 expired, 0 valid at now (as OpenSSL counts). */
static int time_state(X509 *x, time_t now)
{
	time_t t = now;

	if (X509_cmp_time(X509_get0_notBefore(x), &t) >= 0)
		return -1;
	if (X509_cmp_time(X509_get0_notAfter(x), &t) <= 0)
		return 1;
	return 0;
}

static STACK_OF(X509) *certs_of(const struct cert_store *s)
{
	return s != NULL ? s->certs : NULL;
}

/*
 * Whether issuer issued x: by name and key identifiers, and, when
 * check_sig, by verifying the signature (the costly part, skipped once the
 * verifier has already proven the signatures on the path).
 */
static int signed_by(X509 *issuer, X509 *x, int *name_fits, int check_sig)
{
	int ok;

	if (X509_cmp(issuer, x) == 0 || X509_check_issued(issuer, x) !=
	    X509_V_OK)
		return 0;
	*name_fits = 1;
	if (!check_sig)
		return 1;
	ERR_set_mark();
	ok = X509_verify(x, X509_get0_pubkey(issuer)) == 1;
	ERR_pop_to_mark();
	return ok;
}

/*
 * The issuer of x in sk, preferring one valid at now; NULL when none. Sets
 * *bad_sig when a certificate fits by name but did not sign x.
 */
static X509 *find_issuer(STACK_OF(X509) *sk, X509 *x, time_t now,
    int *bad_sig, X509 **bad_by, int check_sig)
{
	X509 *c, *found = NULL;
	int i, fits;

	for (i = 0; i < sk_X509_num(sk); i++) {
		c = sk_X509_value(sk, i);
		fits = 0;
		if (signed_by(c, x, &fits, check_sig)) {
			if (time_state(c, now) == 0)
				return c;
			if (found == NULL)
				found = c;
		} else if (fits && bad_sig != NULL) {
			*bad_sig = 1;
			*bad_by = c;
		}
	}
	return found;
}

/* Same DER, or same subject and public key. */
static int same_ca(X509 *a, X509 *b)
{
	if (X509_cmp(a, b) == 0)
		return 1;
	return X509_NAME_cmp(X509_get_subject_name(a),
	    X509_get_subject_name(b)) == 0 &&
	    EVP_PKEY_eq(X509_get0_pubkey(a), X509_get0_pubkey(b)) == 1;
}

/*
 * A copy of ca in sk (same DER, or same subject and key), preferring one
 * valid at now; NULL when none. *state gets that copy's time_state.
 */
static X509 *find_copy(STACK_OF(X509) *sk, X509 *ca, time_t now, int *state)
{
	X509 *c, *found = NULL;
	int i, st;

	for (i = 0; i < sk_X509_num(sk); i++) {
		c = sk_X509_value(sk, i);
		if (!same_ca(c, ca))
			continue;
		st = time_state(c, now);
		if (st == 0) {
			*state = 0;
			return c;
		}
		if (found == NULL) {
			found = c;
			*state = st;
		}
	}
	return found;
}

static int add_missing(struct chain_verdict *v, enum chain_kind kind,
    enum chain_why why, const X509_NAME *subject, X509 *ca,
    const char *reason)
{
	struct chain_missing *m, *grown;

	grown = realloc(v->missing, (v->nmissing + 1) * sizeof(*grown));
	if (grown == NULL)
		return CF_ENOMEM;
	v->missing = grown;
	m = &v->missing[v->nmissing];
	memset(m, 0, sizeof(*m));
	m->kind = kind;
	m->why = why;
	if (ca != NULL && crypto_thumbprint(ca, m->sha1) != 0)
		return CF_ECRYPTO;
	m->subject = name_str(subject);
	m->reason = strdup(reason);
	if (m->subject == NULL || m->reason == NULL) {
		free(m->subject);
		free(m->reason);
		return CF_ENOMEM;
	}
	v->nmissing++;
	return 0;
}

/* Records ca when its own store lacks a copy valid at now. */
static int check_placement(struct chain_verdict *v, X509 *ca,
    enum chain_kind kind, const struct cert_store *roots,
    const struct cert_store *inters, time_t now)
{
	STACK_OF(X509) *own, *other;
	X509 *copy;
	int st = 0;
	char date[16], reason[64];

	own = certs_of(kind == CHAIN_KIND_ROOT ? roots : inters);
	other = certs_of(kind == CHAIN_KIND_ROOT ? inters : roots);
	if ((copy = find_copy(own, ca, now, &st)) != NULL) {
		if (st == 0)
			return 0;
		if (st > 0) {
			date_of(X509_get0_notAfter(copy), date);
			snprintf(reason, sizeof reason, "expired on %s", date);
			return add_missing(v, kind, CHAIN_WHY_EXPIRED,
			    X509_get_subject_name(ca), ca, reason);
		}
		date_of(X509_get0_notBefore(copy), date);
		snprintf(reason, sizeof reason, "not valid before %s", date);
		return add_missing(v, kind, CHAIN_WHY_NOT_YET_VALID,
		    X509_get_subject_name(ca), ca, reason);
	}
	if (find_copy(other, ca, now, &st) != NULL)
		return add_missing(v, kind, CHAIN_WHY_MISPLACED,
		    X509_get_subject_name(ca), ca,
		    kind == CHAIN_KIND_ROOT ?
		    "found only in the intermediate store" :
		    "found only in the root store");
	return add_missing(v, kind, CHAIN_WHY_ABSENT,
	    X509_get_subject_name(ca), ca, "absent");
}

/* Every EKU in need that the leaf's extendedKeyUsage leaves out. */
static unsigned eku_lacking(X509 *leaf, unsigned need)
{
	static const struct {
		unsigned eku;
		uint32_t xku;
	} map[] = {
		{ EKU_SERVER_AUTH, XKU_SSL_SERVER },
		{ EKU_CLIENT_AUTH, XKU_SSL_CLIENT },
		{ EKU_CODE_SIGNING, XKU_CODE_SIGN },
		{ EKU_EMAIL_PROTECTION, XKU_SMIME },
		{ EKU_TIME_STAMPING, XKU_TIMESTAMP },
	};
	uint32_t have;
	unsigned lacking = 0;
	size_t i;

	if (!(X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE))
		return 0;
	have = X509_get_extended_key_usage(leaf);
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if ((need & map[i].eku) && !(have & map[i].xku))
			lacking |= map[i].eku;
	return lacking;
}

/* Leaf problems that no import can fix. Returns 1 when v got the verdict. */
static int leaf_invalid(X509 *leaf, unsigned eku, time_t now,
    struct chain_verdict *v)
{
	char subj[256], names[128] = "", date[16];
	unsigned lacking = eku_lacking(leaf, eku), f;
	int n = 0;

	subject_of(leaf, subj, sizeof subj);
	if (lacking != 0) {
		for (f = 1; f <= EKU_ALL; f <<= 1) {
			if (!(lacking & f))
				continue;
			snprintf(names + strlen(names),
			    sizeof names - strlen(names), "%s%s",
			    n++ ? " and " : "", eku_name(f));
		}
		set_detail(v, "certificate '%s' lacks extended key usage %s",
		    subj, names);
		return 1;
	}
	switch (time_state(leaf, now)) {
	case 1:
		date_of(X509_get0_notAfter(leaf), date);
		set_detail(v, "certificate '%s' expired on %s", subj, date);
		return 1;
	case -1:
		date_of(X509_get0_notBefore(leaf), date);
		set_detail(v, "certificate '%s' is not valid before %s", subj,
		    date);
		return 1;
	default:
		break;
	}
	if (X509_self_signed(leaf, 0) == 1) {
		set_detail(v, "certificate '%s' is self-signed", subj);
		return 1;
	}
	return 0;
}

/*
 * Runs X509_verify_cert once per TLS purpose asked for (or once without a
 * purpose). Returns 1 when it verifies, 0 with v->detail set when not, or a
 * negative code.
 */
/* Whether any certificate on the path carries trust settings of its own
 * (a "TRUSTED CERTIFICATE"), which only the full verifier interprets. */
static int has_aux_trust(STACK_OF(X509) *chain)
{
	int i;

	for (i = 0; i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);

		if (X509_get0_trust_objects(x) != NULL ||
		    X509_get0_reject_objects(x) != NULL)
			return 1;
	}
	return 0;
}

/*
 * Checks purpose on a path the verifier has built and proven for another
 * purpose, as the verifier's own purpose check does: the leaf must fit
 * outright, a CA must not be excluded. Saves verifying every signature
 * again. Returns 1, or 0 with the detail set.
 */
static int path_fits(STACK_OF(X509) *chain, int purpose, const char *name,
    struct chain_verdict *v)
{
	char subj[256];
	int i;

	for (i = 0; i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);
		int r = X509_check_purpose(x, purpose, i > 0);

		if (i == 0 ? r == 1 : r != 0)
			continue;
		set_detail(v, "%s at depth %d ('%s') checking %s",
		    X509_verify_cert_error_string(X509_V_ERR_INVALID_PURPOSE),
		    i, subject_of(x, subj, sizeof subj), name);
		return 0;
	}
	return 1;
}

static int verify(X509 *leaf, const struct cert_store *roots,
    const struct cert_store *inters, unsigned eku, time_t now,
    struct chain_verdict *v)
{
	static const struct {
		unsigned eku;
		int purpose;
		const char *name;
	} purposes[] = {
		{ EKU_SERVER_AUTH, X509_PURPOSE_SSL_SERVER, "serverAuth" },
		{ EKU_CLIENT_AUTH, X509_PURPOSE_SSL_CLIENT, "clientAuth" },
		{ 0, 0, NULL },
	};
	STACK_OF(X509) *rs = certs_of(roots), *built = NULL;
	X509_STORE *store;
	X509_STORE_CTX *ctx = NULL;
	X509 *at;
	char subj[256];
	int i, ok = 1, err, depth;
	size_t k;
	int ran = 0;

	if ((store = X509_STORE_new()) == NULL)
		return CF_ENOMEM;
	for (i = 0; i < sk_X509_num(rs); i++)
		if (!X509_STORE_add_cert(store, sk_X509_value(rs, i))) {
			ok = CF_ECRYPTO;
			goto out;
		}
	for (k = 0; ok == 1 && k < sizeof(purposes) / sizeof(purposes[0]);
	    k++) {
		if (purposes[k].eku != 0 && !(eku & purposes[k].eku))
			continue;
		if (purposes[k].eku == 0 && ran)
			break;
		ran = 1;
		if (built != NULL && purposes[k].purpose != 0) {
			ok = path_fits(built, purposes[k].purpose,
			    purposes[k].name, v);
			continue;
		}
		/*
		 * On the store, not the context, as `openssl verify -purpose`
		 * does: X509_STORE_CTX_init then derives the trust setting.
		 */
		if (purposes[k].purpose != 0 &&
		    !X509_STORE_set_purpose(store, purposes[k].purpose)) {
			ok = CF_ECRYPTO;
			break;
		}
		if ((ctx = X509_STORE_CTX_new()) == NULL ||
		    !X509_STORE_CTX_init(ctx, store, leaf, certs_of(inters))) {
			ok = CF_ENOMEM;
			break;
		}
		X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), now);
		/* The CA links every server shares are proven once a run. */
		sigcache_attach(ctx);
		if (X509_verify_cert(ctx) != 1) {
			err = X509_STORE_CTX_get_error(ctx);
			depth = X509_STORE_CTX_get_error_depth(ctx);
			at = X509_STORE_CTX_get_current_cert(ctx);
			if (at == NULL)
				at = leaf;
			set_detail(v, "%s at depth %d ('%s')%s%s",
			    X509_verify_cert_error_string(err), depth,
			    subject_of(at, subj, sizeof subj),
			    purposes[k].name ? " checking " : "",
			    purposes[k].name ? purposes[k].name : "");
			ok = 0;
		} else if ((built = X509_STORE_CTX_get1_chain(ctx)) != NULL &&
		    has_aux_trust(built)) {
			/* Trust settings differ per purpose: verify fully. */
			sk_X509_pop_free(built, X509_free);
			built = NULL;
		}
		X509_STORE_CTX_free(ctx);
		ctx = NULL;
	}
	X509_STORE_CTX_free(ctx);
	sk_X509_pop_free(built, X509_free);
out:
	X509_STORE_free(store);
	return ok;
}

/* Whether the CA sent any certificate besides the leaf itself. */
static int sent_cas(STACK_OF(X509) *ca_chain, X509 *leaf)
{
	int i;

	for (i = 0; i < sk_X509_num(ca_chain); i++)
		if (X509_cmp(sk_X509_value(ca_chain, i), leaf) != 0)
			return 1;
	return 0;
}

static int diagnose(X509 *leaf, STACK_OF(X509) *ca_chain,
    const struct cert_store *roots, const struct cert_store *intermediates,
    unsigned eku_needed, time_t now, struct chain_verdict *out, char *msg,
    size_t msgsz)
{
	X509 *path[CHAIN_MAX_DEPTH], *cur, *iss, *bad_by = NULL;
	size_t n = 0, i, j;
	int rc, ok, bad_sig, store_bad_sig = 0, unresolved = 0, loop;
	int check_sig;
	char a[256], b[256];

	chain_verdict_release(out);
	if (leaf == NULL || (eku_needed & ~(unsigned)EKU_ALL) != 0)
		return cf_error(msg, msgsz, CF_EINVAL,
		    "chain check: invalid argument");
	if (leaf_invalid(leaf, eku_needed, now, out)) {
		out->status = CHAIN_INVALID;
		return 0;
	}
	/* The verifier first: when it succeeds, the signatures on the path
	 * are proven and the walk below need not check them again. */
	if ((ok = verify(leaf, roots, intermediates, eku_needed, now,
	    out)) < 0) {
		rc = ok;
		goto fail;
	}
	check_sig = !ok;

	/*
	 * The path the leaf needs: issuers from the CA's chain first, then,
	 * above the last one the CA sent, from the server's stores.
	 */
	for (cur = leaf;;) {
		bad_sig = 0;
		iss = find_issuer(ca_chain, cur, now, &bad_sig, &bad_by,
		    check_sig);
		if (iss == NULL && bad_sig) {
			out->status = CHAIN_INVALID;
			set_detail(out, "certificate signature failure: '%s' "
			    "was not signed by the key of '%s'",
			    subject_of(cur, a, sizeof a),
			    subject_of(bad_by, b, sizeof b));
			return 0;
		}
		if (iss == NULL && cur == leaf && sent_cas(ca_chain, leaf)) {
			char *want = name_str(X509_get_issuer_name(leaf));

			out->status = CHAIN_INVALID;
			set_detail(out, "certificate '%s' was not issued by "
			    "this CA: its issuer '%s' is not in the chain the "
			    "CA returned", subject_of(leaf, a, sizeof a),
			    want ? want : "?");
			free(want);
			return 0;
		}
		if (iss == NULL)
			iss = find_issuer(certs_of(roots), cur, now,
			    &store_bad_sig, &bad_by, check_sig);
		if (iss == NULL)
			iss = find_issuer(certs_of(intermediates), cur, now,
			    &store_bad_sig, &bad_by, check_sig);
		if (iss == NULL) {
			unresolved = 1;
			break;
		}
		for (loop = 0, j = 0; j < n; j++)
			loop |= X509_cmp(path[j], iss) == 0;
		if (loop) {
			unresolved = 1;
			break;
		}
		if (n == CHAIN_MAX_DEPTH) {
			out->status = CHAIN_INVALID;
			set_detail(out, "chain of '%s' is longer than %d CAs",
			    subject_of(leaf, a, sizeof a), CHAIN_MAX_DEPTH);
			return 0;
		}
		path[n++] = iss;
		if (sigcache_self_signed(iss) == 1)
			break;
		cur = iss;
	}

	for (i = 0; i < n; i++) {
		rc = check_placement(out, path[i], i + 1 == n && !unresolved ?
		    CHAIN_KIND_ROOT : CHAIN_KIND_INTERMEDIATE, roots,
		    intermediates, now);
		if (rc != 0)
			goto fail;
	}
	/* The CA did not send the root and the server has no copy. */
	if (unresolved && n > 0) {
		rc = add_missing(out, CHAIN_KIND_ROOT, CHAIN_WHY_ABSENT,
		    X509_get_issuer_name(path[n - 1]), NULL, "absent");
		if (rc != 0)
			goto fail;
	}

	if (ok) {
		out->status = CHAIN_OK;
		chain_verdict_set_detail(out, NULL);
	} else if (out->nmissing > 0) {
		out->status = CHAIN_MISSING_CA;
	} else if (unresolved && n == 0 && !store_bad_sig) {
		char *want = name_str(X509_get_issuer_name(leaf));

		out->status = CHAIN_UNKNOWN;
		set_detail(out, "cannot name the missing CA: the CA sent no "
		    "chain and issuer '%s' of '%s' is in neither store",
		    want ? want : "?", subject_of(leaf, a, sizeof a));
		free(want);
	} else {
		out->status = CHAIN_INVALID;
	}
	return 0;
fail:
	chain_verdict_release(out);
	return cf_error(msg, msgsz, rc, "chain check of '%s': %s",
	    subject_of(leaf, a, sizeof a), cf_strerror(rc));
}

int chain_diagnose(X509 *leaf, STACK_OF(X509) *ca_chain,
    const struct cert_store *roots, const struct cert_store *intermediates,
    unsigned eku_needed, time_t now, struct chain_verdict *out, char *msg,
    size_t msgsz)
{
	int rc;

	/* Leave the caller's OpenSSL error queue as it was. */
	ERR_set_mark();
	rc = diagnose(leaf, ca_chain, roots, intermediates, eku_needed, now,
	    out, msg, msgsz);
	ERR_pop_to_mark();
	return rc;
}

/* The verdict on a chain ca_chain of n CAs into out; or a CF_E* code. */
static int preflight(STACK_OF(X509) *ca_chain, int n,
    const struct cert_store *roots, const struct cert_store *intermediates,
    time_t now, struct chain_verdict *out)
{
	X509 *top = sk_X509_value(ca_chain, n - 1), *bad_by = NULL;
	int i, rc, ok, bad_sig = 0;

	for (i = 0; i < n; i++) {
		X509 *ca = sk_X509_value(ca_chain, i);

		rc = check_placement(out, ca, X509_self_signed(ca, 0) == 1 ?
		    CHAIN_KIND_ROOT : CHAIN_KIND_INTERMEDIATE, roots,
		    intermediates, now);
		if (rc != 0)
			return rc;
	}
	if (X509_self_signed(top, 0) != 1 &&
	    find_issuer(certs_of(roots), top, now, &bad_sig, &bad_by, 1) == NULL &&
	    (rc = add_missing(out, CHAIN_KIND_ROOT, CHAIN_WHY_ABSENT,
	    X509_get_issuer_name(top), NULL, "absent")) != 0)
		return rc;
	/* A CA absent from both stores (or out of date) is missing whatever
	 * the verifier says: verifying the issuing CA itself does not need
	 * it in the intermediate store, but every leaf below it will. */
	for (i = 0; i < (int)out->nmissing; i++)
		if (out->missing[i].why != CHAIN_WHY_MISPLACED) {
			out->status = CHAIN_MISSING_CA;
			return 0;
		}
	/* Only misplaced copies: the verifier decides, as for a leaf. */
	if ((ok = verify(sk_X509_value(ca_chain, 0), roots, intermediates, 0,
	    now, out)) < 0)
		return ok;
	if (ok) {
		out->status = CHAIN_OK;
		chain_verdict_set_detail(out, NULL);
	} else {
		out->status = out->nmissing ? CHAIN_MISSING_CA : CHAIN_INVALID;
	}
	return 0;
}

int chain_preflight(STACK_OF(X509) *ca_chain, const struct cert_store *roots,
    const struct cert_store *intermediates, time_t now,
    struct chain_verdict *out, char *msg, size_t msgsz)
{
	int n = ca_chain ? sk_X509_num(ca_chain) : 0, rc;

	chain_verdict_release(out);
	if (n == 0)
		return cf_error(msg, msgsz, CF_EINVAL,
		    "chain preflight: the CA sent no chain");
	ERR_set_mark();
	rc = preflight(ca_chain, n, roots, intermediates, now, out);
	ERR_pop_to_mark();
	if (rc != 0)
		return cf_error(msg, msgsz, rc, "chain preflight: %s",
		    cf_strerror(rc));
	return 0;
}

/* Appends to buf like snprintf at its end; returns 0 or 1 when cut. */
static int append(char *buf, size_t bufsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int append(char *buf, size_t bufsz, const char *fmt, ...)
{
	size_t len = strlen(buf);
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + len, bufsz - len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= bufsz - len;
}

static int describe_one(const struct chain_missing *m, char *buf,
    size_t bufsz)
{
	const char *kind = chain_kind_name(m->kind);
	char sha[64] = "";

	if (m->sha1[0] != '\0')
		snprintf(sha, sizeof sha, " (sha1 %s)", m->sha1);
	switch (m->why) {
	case CHAIN_WHY_EXPIRED:
	case CHAIN_WHY_NOT_YET_VALID:
		return append(buf, bufsz, "%s CA '%s'%s in the %s store: %s",
		    kind, m->subject, sha, kind, m->reason);
	case CHAIN_WHY_MISPLACED:
		return append(buf, bufsz,
		    "missing %s CA '%s'%s from the %s store (%s)", kind,
		    m->subject, sha, kind, m->reason);
	case CHAIN_WHY_ABSENT:
		break;
	}
	return append(buf, bufsz, "missing %s CA '%s'%s from the %s store",
	    kind, m->subject, sha, kind);
}

int chain_verdict_describe(const struct chain_verdict *v, char *buf,
    size_t bufsz)
{
	size_t i;
	int cut = 0;

	if (buf == NULL || bufsz == 0)
		return CF_EINVAL;
	buf[0] = '\0';
	switch (v->status) {
	case CHAIN_OK:
		cut |= append(buf, bufsz, "chain ok");
		for (i = 0; i < v->nmissing; i++) {
			cut |= append(buf, bufsz, i ? "; " : "; note: ");
			cut |= describe_one(&v->missing[i], buf, bufsz);
		}
		break;
	case CHAIN_MISSING_CA:
		for (i = 0; i < v->nmissing; i++) {
			if (i)
				cut |= append(buf, bufsz, "; ");
			cut |= describe_one(&v->missing[i], buf, bufsz);
		}
		cut |= append(buf, bufsz, "; import %s, then run certfleet "
		    "assign", v->nmissing > 1 ? "them" : "it");
		break;
	case CHAIN_INVALID:
		cut |= append(buf, bufsz, "chain invalid: %s",
		    chain_verdict_detail(v));
		break;
	case CHAIN_UNKNOWN:
		if (v->detail == NULL)
			cut |= append(buf, bufsz, "chain not checked");
		else
			cut |= append(buf, bufsz, "chain not verified: %s",
			    v->detail);
		break;
	}
	return cut ? CF_EINVAL : 0;
}

bool chain_sent_reaches(STACK_OF(X509) *sent, const struct cert_store *roots)
{
	X509 *top = sk_X509_value(sent, sk_X509_num(sent) - 1), *r;
	EVP_PKEY *pub;
	int i;

	for (i = 0; top && roots->certs && i < sk_X509_num(roots->certs);
	    i++) {
		r = sk_X509_value(roots->certs, i);
		if (X509_cmp(r, top) == 0)
			return true;
		pub = X509_get0_pubkey(r);
		if (X509_check_issued(r, top) == X509_V_OK && pub &&
		    X509_verify(top, pub) == 1)
			return true;
	}
	return false;
}
