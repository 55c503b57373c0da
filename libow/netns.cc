// netns.cc: see netns.h.
#include "libow/netns.h"

#include <cerrno>
#include <cstring>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ow {

bool netns_allowed(std::string *why) {
    pid_t pid = fork();
    if (pid < 0) {
        *why = std::string("fork: ") + strerror(errno);
        return false;
    }
    // the child's exit status is unshare's errno (0: allowed)
    if (pid == 0) _exit(unshare(CLONE_NEWNET) == 0 ? 0 : (errno & 0xff));
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
    *why = WIFEXITED(status) ? strerror(WEXITSTATUS(status)) : "the probe died";
    return false;
}

}  // namespace ow
