// names_fuzz.cc: the engine's name rules on any string (modules/
// ow_names.h; the name parsers of ow_exec.h, ow_compose.h, ow_entity.h):
// entity names and paths, percent-decoding, fully qualified names as
// rules, sequences and conductors write them, semantic versions.
//
// Beyond sanitizers, what the headers promise: a parsed name is made of
// valid names; what one parser produces, the others read back the same;
// a normalized version is a fixed point.
//
// Input: the string itself (a C string: up to the first NUL; the
// length-taking functions see all of it).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "fuzz/fuzz_input.h"
#include "ow_compose.h"
#include "ow_entity.h"
#include "ow_exec.h"
#include "ow_names.h"

namespace {

bool valid(const char *s) { return s && ow_name_valid(s, strlen(s)); }

void check_fqn(const std::string &s) {
    ow_fqn_t f;
    if (ow_fqn_parse(s.c_str(), "guest", &f) != 0) {
        FUZZ_CHECK(f.ns == nullptr && f.pkg == nullptr && f.name == nullptr);
        return;
    }
    FUZZ_CHECK(valid(f.ns) && valid(f.name) && (f.pkg == nullptr || valid(f.pkg)));
    char *path = ow_fqn_path(&f);
    FUZZ_CHECK(path && ow_name_path_valid(path));

    // "/ns/path" names the same entity
    std::string abs = std::string("/") + f.ns + "/" + path;
    ow_fqn_t g;
    FUZZ_CHECK(ow_fqn_parse(abs.c_str(), "other", &g) == 0);
    FUZZ_CHECK(strcmp(f.ns, g.ns) == 0 && strcmp(f.name, g.name) == 0);
    FUZZ_CHECK((f.pkg == nullptr) == (g.pkg == nullptr));
    FUZZ_CHECK(f.pkg == nullptr || strcmp(f.pkg, g.pkg) == 0);

    // the compose driver's internal path for it
    char buf[1024];
    FUZZ_CHECK(ow_compose_component_path(abs.c_str(), "other", buf, sizeof(buf)) == 0);
    std::string want = std::string(f.ns) + "/actions/" + path;
    FUZZ_CHECK(want == buf);
    char tiny[8];
    if (want.size() >= sizeof(tiny))
        FUZZ_CHECK(ow_compose_component_path(abs.c_str(), "other", tiny, sizeof(tiny)) == -1);

    free(path);
    ow_fqn_free(&g);
    ow_fqn_free(&f);
}

void check_component(const std::string &s) {
    const char *why = nullptr;
    char *c = ow_exec_component(s.c_str(), "guest", &why);
    if (c == nullptr) {
        FUZZ_CHECK(why != nullptr && why[0] != '\0');
        return;
    }
    // "/ns/a" or "/ns/pkg/a", every part a name: the fqn parser agrees
    FUZZ_CHECK(c[0] == '/');
    ow_fqn_t f;
    FUZZ_CHECK(ow_fqn_parse(c, "other", &f) == 0);
    char *again = ow_exec_component(c, "other", &why);
    FUZZ_CHECK(again && strcmp(again, c) == 0);
    free(again);
    ow_fqn_free(&f);
    free(c);
}

void check_version(const std::string &s) {
    char out[40], twice[40];
    if (ow_version_parse(s.c_str(), out, sizeof(out)) != 0) return;
    FUZZ_CHECK(ow_version_parse(out, twice, sizeof(twice)) == 0);
    FUZZ_CHECK(strcmp(out, twice) == 0);
    // the next (an update without a version); past 2^31 - 1 it is no
    // version OpenWhisk reads either, so only its making is checked
    char *next = ow_version_next(out);
    FUZZ_CHECK(next != nullptr);
    free(next);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *bytes = reinterpret_cast<const char *>(data);
    std::string s(bytes, strnlen(bytes, size));

    int v = ow_name_valid(bytes, size);
    if (v) FUZZ_CHECK(size >= 1 && size <= 256 && s.size() == size);
    if (v) FUZZ_CHECK(ow_name_path_valid(s.c_str()));
    (void)ow_name_path_valid(s.c_str());

    char *u = ow_unescape(bytes, size);
    if (u) {
        // shorter or the same, and no NUL smuggled in ("%00" is refused)
        FUZZ_CHECK(strlen(u) <= size);
        std::string un(u);
        free(u);
        check_fqn(un);
    }

    check_fqn(s);
    check_component(s);
    check_version(s);
    (void)ow_exec_is_binary(bytes, size);
    return 0;
}
