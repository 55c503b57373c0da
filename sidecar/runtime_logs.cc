// runtime_logs.cc: see runtime_logs.h.
#include "sidecar/runtime_logs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "libow/runtime_log_wrapper.h"

namespace ow::sidecar {

void RuntimeLogFifos::close_all() {
    for (int i = 0; i < 2; i++) {
        if (fd[i] >= 0) close(fd[i]);
        fd[i] = -1;
    }
}

static bool make_fifo(const std::string &path, int *rfd, std::string *err) {
    // a file, link or FIFO the runtime left there is not ours to trust
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
        *err = path + ": " + strerror(errno);
        return false;
    }
    if (mkfifo(path.c_str(), 0600) != 0) {
        *err = "mkfifo " + path + ": " + strerror(errno);
        return false;
    }
    *rfd = open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (*rfd < 0 || fstat(*rfd, &st) != 0 || !S_ISFIFO(st.st_mode)) {
        *err = "open " + path + ": " + (*rfd < 0 ? strerror(errno) : "not a FIFO");
        return false;
    }
    // by descriptor, not name (the name may be someone else's by now);
    // 0622: the runtime runs as a uid of its own
    if (fchmod(*rfd, 0622) != 0) {
        *err = "chmod " + path + ": " + strerror(errno);
        return false;
    }
    return true;
}

bool open_runtime_log_fifos(const std::string &dir, RuntimeLogFifos *out, std::string *err) {
    // stderr last: the runtime's wrapper waits for it
    static const char *names[2] = {"stdout", "stderr"};
    for (int i = 0; i < 2; i++) {
        if (!make_fifo(dir + "/" + names[i], &out->fd[i], err)) {
            out->close_all();
            return false;
        }
    }
    return true;
}

void mark_sidecar_exited(const std::string &dir) {
    // O_NOFOLLOW: a link the runtime put there is not followed
    int fd = open((dir + "/" + ow::kSidecarExitedFile).c_str(),
                  O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd >= 0) close(fd);
}

}  // namespace ow::sidecar
