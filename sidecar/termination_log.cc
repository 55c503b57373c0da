// termination_log.cc: see termination_log.h.
#include "sidecar/termination_log.h"

#include <fcntl.h>
#include <unistd.h>

#include "libow/log.h"

namespace ow::sidecar {

std::string termination_message(const nlohmann::json &init_error, size_t max) {
    std::string s = ow::json_dump(init_error);
    if (s.size() <= max) return s;
    if (!init_error.is_object()) return ow::json_dump({{"error", "init failed"}});
    nlohmann::json j = init_error;
    j.erase("logs");  // the activation's logs say the same; the error matters
    s = ow::json_dump(j);
    if (s.size() <= max) return s;
    auto it = j.find("error");
    if (it == j.end() || !it->is_string()) return ow::json_dump({{"error", "init failed"}});
    std::string e = it->get<std::string>();
    size_t over = s.size() - max + 3;  // room for "..."
    // escapes make the JSON longer than the text: shorten until it fits
    while (!e.empty()) {
        e.resize(e.size() > over ? e.size() - over : 0);
        // never cut a UTF-8 sequence in two
        while (!e.empty() && (static_cast<unsigned char>(e.back()) & 0xC0) == 0x80) e.pop_back();
        if (!e.empty() && (static_cast<unsigned char>(e.back()) & 0x80)) e.pop_back();
        j["error"] = e + "...";
        s = ow::json_dump(j);
        if (s.size() <= max) return s;
        over = s.size() - max;
    }
    return ow::json_dump({{"error", "init failed"}});
}

bool write_termination_log(const std::string &path, const nlohmann::json &init_error) {
    if (path.empty()) return true;
    std::string s = termination_message(init_error);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    size_t off = 0;
    while (off < s.size()) {
        ssize_t n = ::write(fd, s.data() + off, s.size() - off);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
    }
    return ::close(fd) == 0 && off == s.size();
}

}  // namespace ow::sidecar
