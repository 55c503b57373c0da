/*
 * ow_secrets.h: the installation's secret files (the internal token, the
 * metrics token, the Redis credentials), the client's Basic credentials and
 * a scraper's Bearer token, checked without nginx. None of these functions
 * copies, logs or reports a secret's bytes: the callers only ever say which
 * rule was broken.
 */

#ifndef OW_SECRETS_H
#define OW_SECRETS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* a secret file is small: anything longer is not one of ours */
#define OW_SECRET_FILE_MAX  1024

/*
 * The internal token file: one line of visible ASCII (0x21-0x7e), its
 * trailing "\n" (or "\r\n") optional. Returns the token's length (it starts
 * at buf[0]), or 0 when the file is malformed.
 */
size_t ow_secret_token(const char *buf, size_t len);

/*
 * given equals expected, in time that depends only on their lengths (a
 * caller that can measure the answer learns no prefix of the token). An
 * empty expected accepts nothing. Returns 1 when equal, else 0.
 */
int ow_secret_equal(const char *given, size_t given_len, const char *expected,
    size_t expected_len);

/*
 * An Authorization header's value "Bearer <token>" (RFC 6750 2.1: the
 * scheme in any case, one or more spaces, then the token and nothing else)
 * whose token is expected (ow_secret_equal). Returns 1 when it is, else 0.
 */
int ow_secret_bearer(const char *value, size_t len, const char *expected,
    size_t expected_len);

/*
 * A Redis credentials file: one line "USER PASSWORD", the two separated by
 * one space, each non-empty visible ASCII, the trailing "\n" (or "\r\n")
 * optional. The user starts at buf[0]. Returns 0 and the lengths and the
 * password's start, or -1 when the file is malformed.
 */
int ow_secret_credentials(const char *buf, size_t len, size_t *user_len,
    const char **pass, size_t *pass_len);

/*
 * Decoded Basic credentials "uuid:key" (openwhisk-api.md §1): split at the
 * first ':'; the uuid is 1 to 64 bytes, the key exactly 64, and neither
 * holds a control character (a NUL would cut the uuid short in a C string:
 * "uuid\0zz:key" must not pass as "uuid"). Returns 0, or -1 when invalid.
 */
int ow_basic_split(const char *dec, size_t len, size_t *uuid_len,
    const char **key, size_t *key_len);

#ifdef __cplusplus
}
#endif

#endif /* OW_SECRETS_H */
