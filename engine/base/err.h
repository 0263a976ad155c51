/*
 * Error codes shared by every layer, and the one helper that formats a
 * message for the user. Nothing here prints or exits: cmd/ decides that.
 */
#ifndef CF_ERR_H
#define CF_ERR_H

#include <stddef.h>

/* Codes are negative, 0 is success, as libuv returns negative errno values. */
#define CF_ERRNO_MAP(XX)                                        \
	XX(ENOMEM, "out of memory")                             \
	XX(EINVAL, "invalid argument")                          \
	XX(ECONFIG, "configuration error")                      \
	XX(EIO, "input/output error")                           \
	XX(ENOENT, "not found")                                 \
	XX(EEXIST, "already exists")                            \
	XX(ECRYPTO, "cryptographic operation failed")           \
	XX(ECHAIN, "certificate chain is not valid")            \
	XX(EDENIED, "request denied by the CA")                 \
	XX(EPENDING, "request pending at the CA")               \
	XX(ELOCKED, "another run holds the lock")               \
	XX(ETRANSPORT, "transport failed")                      \
	XX(EDB, "journal error")                                \
	XX(ETIMEDOUT, "timed out")                              \
	XX(EINTERNAL, "internal error")

enum cf_err {
	CF_OK = 0,
	CF_ERR_BASE = -1000,
#define XX(code, _) CF_##code,
	CF_ERRNO_MAP(XX)
#undef XX
	CF_ERR_END
};

/* Returns a static description of code; never NULL. */
const char *cf_strerror(int code);

/*
 * Formats fmt into msg (when msg is not NULL) and returns code, so that a
 * function can report and return in one line: return cf_error(...).
 */
int cf_error(char *msg, size_t msgsz, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The CF_E* code for an errno value from a file operation: CF_ENOENT,
 * CF_ENOMEM, else CF_EIO. */
int cf_errno_code(int e);

#endif
