/*
 * ow_secrets.c: the secret files' formats, the constant-time compare and
 * the Basic and Bearer credentials' rules (ow_secrets.h).
 */

#include <string.h>

#include "ow_secrets.h"

static int
ow_secret_visible(const char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if ((unsigned char) p[i] < 0x21 || (unsigned char) p[i] > 0x7e) {
            return 0;
        }
    }
    return 1;
}

/* the line without its trailing "\n" or "\r\n", if any */
static size_t
ow_secret_line(const char *buf, size_t len)
{
    if (len > OW_SECRET_FILE_MAX) {
        return 0;
    }
    if (len && buf[len - 1] == '\n') {
        len--;
        if (len && buf[len - 1] == '\r') {
            len--;
        }
    }
    return len;
}

size_t
ow_secret_token(const char *buf, size_t len)
{
    len = ow_secret_line(buf, len);
    return ow_secret_visible(buf, len) ? len : 0;
}

int
ow_secret_equal(const char *given, size_t given_len, const char *expected,
    size_t expected_len)
{
    size_t         i;
    unsigned char  diff;

    if (expected_len == 0 || given_len != expected_len) {
        return 0;
    }

    /* every byte is looked at, whatever the first difference */
    diff = 0;
    for (i = 0; i < expected_len; i++) {
        diff |= (unsigned char) given[i] ^ (unsigned char) expected[i];
    }
    return diff == 0;
}

int
ow_secret_bearer(const char *value, size_t len, const char *expected,
    size_t expected_len)
{
    static const char  scheme[] = "bearer";
    size_t             i;

    if (len <= sizeof(scheme) - 1) {
        return 0;
    }

    for (i = 0; i < sizeof(scheme) - 1; i++) {
        if ((value[i] | 0x20) != scheme[i]) {
            return 0;
        }
    }

    if (value[i] != ' ') {
        return 0;
    }
    while (i < len && value[i] == ' ') {
        i++;
    }

    return ow_secret_equal(value + i, len - i, expected, expected_len);
}

int
ow_secret_credentials(const char *buf, size_t len, size_t *user_len,
    const char **pass, size_t *pass_len)
{
    const char  *sp;

    len = ow_secret_line(buf, len);

    sp = memchr(buf, ' ', len);
    if (sp == NULL || sp == buf || sp == buf + len - 1) {
        return -1;
    }

    /* one space only: the rest must be visible, so no second field */
    if (!ow_secret_visible(buf, sp - buf)
        || !ow_secret_visible(sp + 1, buf + len - (sp + 1)))
    {
        return -1;
    }

    *user_len = sp - buf;
    *pass = sp + 1;
    *pass_len = buf + len - *pass;
    return 0;
}

static int
ow_basic_no_controls(const char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if ((unsigned char) p[i] < 0x20 || (unsigned char) p[i] == 0x7f) {
            return 0;
        }
    }
    return 1;
}

int
ow_basic_split(const char *dec, size_t len, size_t *uuid_len,
    const char **key, size_t *key_len)
{
    const char  *colon;

    colon = memchr(dec, ':', len);
    if (colon == NULL || colon == dec) {
        return -1;
    }

    *uuid_len = colon - dec;
    *key = colon + 1;
    *key_len = dec + len - *key;

    if (*key_len != 64 || *uuid_len > 64
        || !ow_basic_no_controls(dec, len))
    {
        return -1;
    }
    return 0;
}
