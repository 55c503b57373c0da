// activation_journal.cc: see activation_journal.h.
#include "libow/activation_journal.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <set>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libow/clock.h"
#include "libow/log.h"

namespace ow {

namespace {

std::string segment_name(char kind, uint64_t seq) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%c-%012llu.log", kind, (unsigned long long)seq);
    return buf;
}

// The a-/s- segment files of dir, oldest first ("s" before "a" when kind is
// 0: the order a replay stores them in).
std::vector<std::string> segments(const std::string &dir, char kind) {
    std::vector<std::string> out;
    DIR *d = opendir(dir.c_str());
    if (d == nullptr) return out;
    while (struct dirent *e = readdir(d)) {
        std::string n = e->d_name;
        if (n.size() == 18 && n[1] == '-' && n.compare(14, 4, ".log") == 0 &&
            (n[0] == kind || (kind == 0 && (n[0] == 'a' || n[0] == 's'))))
            out.push_back(n);
    }
    closedir(d);
    std::sort(out.begin(), out.end(), [](const std::string &a, const std::string &b) {
        if (a[0] != b[0]) return a[0] == 's';
        return a < b;
    });
    return out;
}

bool read_file(const std::string &path, std::string *out) {
    FILE *f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) return false;
    char buf[65536];
    size_t n;
    out->clear();
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out->append(buf, n);
    bool ok = !std::ferror(f);
    std::fclose(f);
    return ok;
}

bool write_file(const std::string &path, const std::string &data) {
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    size_t off = 0;
    while (off < data.size()) {
        ssize_t w = ::write(fd, data.data() + off, data.size() - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    ::close(fd);
    return off == data.size() && ::rename(tmp.c_str(), path.c_str()) == 0;
}

// A dead owner's mapped segment ends in zeros (and maybe a line its death
// cut): cut after its last whole line, so that its size is what it owes.
void trim_zero_tail(const std::string &path) {
    std::string data;
    if (!read_file(path, &data)) return;
    size_t zero = data.find('\0');
    if (zero == std::string::npos) return;
    size_t nl = data.rfind('\n', zero);
    if (::truncate(path.c_str(), nl == std::string::npos ? 0 : (off_t)(nl + 1)) != 0)
        log_warn("journal_trim_failed", {{"file", path}, {"error", std::strerror(errno)}});
}

uint64_t segment_seq(const std::string &name) { return std::strtoull(name.c_str() + 2, nullptr, 10); }

// by the wall clock (the files' times), whatever now_ms a sweep is given
int64_t age_ms(const std::string &path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return 0;
    return now_ms() - ((int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000);
}

}  // namespace

bool parse_journal_line(const std::string &line, int64_t *reap_after_ms, std::string *id,
                        std::string *json) {
    // a mapped segment's unwritten tail is zeros: a line cut by its owner's
    // death runs into them
    if (line.find('\0') != std::string::npos) return false;
    size_t sp = line.find(' ');
    if (sp == 0 || sp == std::string::npos) return false;
    size_t sp2 = line.find(' ', sp + 1);
    if (sp2 == std::string::npos || sp2 == sp + 1 || sp2 + 1 >= line.size()) return false;
    char *end = nullptr;
    long long v = std::strtoll(line.c_str(), &end, 10);
    if (end != line.c_str() + sp || v < 0 || line[0] == '-') return false;
    *reap_after_ms = v;
    id->assign(line, sp + 1, sp2 - sp - 1);
    json->assign(line, sp2 + 1, std::string::npos);
    return true;
}

ActivationJournal::~ActivationJournal() {
    close_accepted();
    if (spill_fd_ >= 0) ::close(spill_fd_);
    if (lock_fd_ >= 0) ::close(lock_fd_);
}

bool ActivationJournal::open(const std::string &dir, size_t max_spill_bytes, std::string *err) {
    std::lock_guard<std::mutex> lk(mu_);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        *err = "journal " + dir + ": " + std::strerror(errno);
        return false;
    }
    std::string lock = dir + "/lock";
    int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        *err = "journal " + dir + ": " + (fd < 0 ? std::strerror(errno)
                                                  : "held by another process");
        if (fd >= 0) ::close(fd);
        return false;
    }
    lock_fd_ = fd;
    dir_ = dir;
    max_spill_ = max_spill_bytes;
    // A dead predecessor's lines (the same pod's restarted sidecar): its
    // spilled records keep their place, its accepted lines follow them as
    // spill (a sidecar's are reapable at once: it was their executor).
    std::vector<std::string> old = segments(dir_, 0);
    for (const auto &n : old) seq_ = std::max(seq_, segment_seq(n));
    for (const auto &n : old) {
        std::string path = dir_ + "/" + n;
        if (n[0] == 'a') {
            trim_zero_tail(path);
            std::string to = dir_ + "/" + segment_name('s', ++seq_);
            ::rename(path.c_str(), to.c_str());
            path = to;
        }
        struct stat st;
        if (::stat(path.c_str(), &st) == 0) spill_bytes_ += (size_t)st.st_size;
    }
    if (!old.empty())
        log_warn("journal_adopted", {{"dir", dir_}, {"segments", old.size()},
                                     {"bytes", spill_bytes_}});
    return true;
}

bool ActivationJournal::append(int fd, const std::string &line) {
    // one write(2) with O_APPEND: a line is never interleaved with another
    ssize_t w;
    do {
        w = ::write(fd, line.data(), line.size());
    } while (w < 0 && errno == EINTR);
    return w == (ssize_t)line.size();
}

// Closes *fd and opens the next segment of kind there; false (logged) when
// it cannot.
bool ActivationJournal::next_segment(char kind, int *fd, uint64_t *seq) {
    if (*fd >= 0) ::close(*fd);
    *seq = ++seq_;
    std::string path = dir_ + "/" + segment_name(kind, *seq);
    // an accepted segment is mapped and written at offsets; spill appends
    int flags = kind == 'a' ? O_RDWR : O_WRONLY | O_APPEND;
    *fd = ::open(path.c_str(), flags | O_CREAT | O_CLOEXEC, 0600);
    if (*fd < 0)
        log_error("journal_write_failed", {{"file", path}, {"error", std::strerror(errno)}});
    return *fd >= 0;
}

// The accepted segment is mapped (MAP_SHARED): a line is a copy into the
// page cache, as write(2) made it, without a system call on the answer path;
// a dead owner's lines are in the file all the same (no fsync either way:
// the journal outlives the process, not the machine). Its blocks are
// reserved first (fallocate): a full disk fails here, where it is logged
// and the segment is written with write(2), never as a SIGBUS on a copy.
bool ActivationJournal::roll_accepted() {
    close_accepted();
    acc_bytes_ = 0;
    if (!next_segment('a', &acc_fd_, &acc_seq_)) return false;
    unsettled_[acc_seq_] = 0;
    unlink_settled();
    int rc = ::posix_fallocate(acc_fd_, 0, (off_t)kSegmentBytes);
    void *map = rc != 0 ? MAP_FAILED
                        : ::mmap(nullptr, kSegmentBytes, PROT_READ | PROT_WRITE, MAP_SHARED,
                                 acc_fd_, 0);
    if (map == MAP_FAILED) {
        if (!acc_unmapped_logged_)
            log_warn("journal_unmapped", {{"dir", dir_},
                                          {"error", std::strerror(rc != 0 ? rc : errno)}});
        acc_unmapped_logged_ = true;
        ::ftruncate(acc_fd_, 0);
        return true;
    }
    acc_map_ = static_cast<char *>(map);
    return true;
}

// Unmaps the accepted segment and cuts its file to what was written: a
// reader sees lines only.
void ActivationJournal::close_accepted() {
    if (acc_map_ != nullptr) {
        ::munmap(acc_map_, kSegmentBytes);
        acc_map_ = nullptr;
        if (acc_fd_ >= 0) ::ftruncate(acc_fd_, (off_t)acc_bytes_);
    }
    if (acc_fd_ >= 0) ::close(acc_fd_);
    acc_fd_ = -1;
}

// A line at the end of the accepted segment: copied into the mapping, or
// written at its offset where the mapping ends (a line larger than what is
// left of a fresh segment) or there is none.
bool ActivationJournal::put_accepted(const std::string &line) {
    if (acc_map_ != nullptr && acc_bytes_ + line.size() <= kSegmentBytes) {
        std::memcpy(acc_map_ + acc_bytes_, line.data(), line.size());
    } else {
        ssize_t w;
        do {
            w = ::pwrite(acc_fd_, line.data(), line.size(), (off_t)acc_bytes_);
        } while (w < 0 && errno == EINTR);
        if (w != (ssize_t)line.size()) return false;
    }
    acc_bytes_ += line.size();
    return true;
}

// Accepted segments other than the current one with nothing open: their
// records are all stored.
void ActivationJournal::unlink_settled() {
    for (auto it = unsettled_.begin(); it != unsettled_.end();) {
        if (it->first != acc_seq_ && it->second == 0) {
            ::unlink((dir_ + "/" + segment_name('a', it->first)).c_str());
            it = unsettled_.erase(it);
        } else {
            ++it;
        }
    }
}

uint64_t ActivationJournal::accept(const std::string &id, const std::string &record_json,
                                   int64_t reap_after_ms) {
    std::lock_guard<std::mutex> lk(mu_);
    if (lock_fd_ < 0) return 0;
    std::string line = std::to_string(reap_after_ms);
    line.reserve(line.size() + id.size() + record_json.size() + 3);
    line += ' ';
    line += id;
    line += ' ';
    line += record_json;
    line += '\n';
    if ((acc_fd_ < 0 || (acc_bytes_ > 0 && acc_bytes_ + line.size() > kSegmentBytes)) &&
        !roll_accepted())
        return 0;
    if (!put_accepted(line)) {
        log_error("journal_write_failed", {{"dir", dir_}, {"error", std::strerror(errno)}});
        return 0;
    }
    unsettled_[acc_seq_]++;
    return acc_seq_;
}

void ActivationJournal::settle(const std::vector<uint64_t> &tickets) {
    std::lock_guard<std::mutex> lk(mu_);
    for (uint64_t t : tickets) settle_locked(t, "");
}

void ActivationJournal::settle(uint64_t ticket, const std::string &mark) {
    std::lock_guard<std::mutex> lk(mu_);
    settle_locked(ticket, mark);
}

void ActivationJournal::settle_locked(uint64_t ticket, const std::string &mark) {
    if (ticket == 0) return;
    auto it = unsettled_.find(ticket);
    if (it == unsettled_.end() || it->second == 0) return;
    if (--it->second == 0 && ticket != acc_seq_) {
        unlink_settled();   // the segment goes, its line with it
    } else if (!mark.empty() && acc_fd_ >= 0) {
        // in the segment still written to (marks go there, the sweep
        // reads every segment before replaying any line)
        put_accepted("- " + mark + "\n");
    }
}

bool ActivationJournal::spill(const std::string &id, const std::string &record_json) {
    std::lock_guard<std::mutex> lk(mu_);
    if (lock_fd_ < 0 || spill_bytes_ + record_json.size() + 4 > max_spill_) return false;
    if (spill_fd_ < 0 || spill_file_bytes_ >= kSegmentBytes) {
        spill_file_bytes_ = 0;
        if (!next_segment('s', &spill_fd_, &spill_seq_)) return false;
    }
    std::string line = "0 " + id + " " + record_json + "\n";
    if (!append(spill_fd_, line)) return false;
    spill_file_bytes_ += line.size();
    spill_bytes_ += line.size();
    return true;
}

std::string ActivationJournal::next_spill() {
    std::lock_guard<std::mutex> lk(mu_);
    if (lock_fd_ < 0 || spill_bytes_ == 0) return "";
    if (spill_fd_ >= 0) {
        // what comes next goes to a new segment; this one can be replayed
        ::close(spill_fd_);
        spill_fd_ = -1;
    }
    std::vector<std::string> s = segments(dir_, 's');
    return s.empty() ? "" : dir_ + "/" + s.front();
}

void ActivationJournal::finish_spill(const std::string &path) {
    std::lock_guard<std::mutex> lk(mu_);
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) {
        spill_bytes_ -= std::min(spill_bytes_, (size_t)st.st_size);
        ::unlink(path.c_str());
    }
    if (segments(dir_, 's').empty()) spill_bytes_ = 0;
}

size_t ActivationJournal::spilled_bytes() {
    std::lock_guard<std::mutex> lk(mu_);
    return spill_bytes_;
}

void ActivationJournal::remove_if_settled() {
    std::lock_guard<std::mutex> lk(mu_);
    if (lock_fd_ < 0 || spill_bytes_ > 0) return;
    for (const auto &kv : unsettled_)
        if (kv.second > 0) return;
    for (const auto &n : segments(dir_, 0)) ::unlink((dir_ + "/" + n).c_str());
    close_accepted();
    if (spill_fd_ >= 0) ::close(spill_fd_);
    spill_fd_ = -1;
    unsettled_.clear();
    ::unlink((dir_ + "/lock").c_str());
    ::rmdir(dir_.c_str());
    ::close(lock_fd_);
    lock_fd_ = -1;
}

namespace {

// One dead journal; stops at the first failed store, or when budget runs out.
void sweep_one(const std::string &dir, const StoreRecord &store, int64_t now_ms,
               size_t *budget, SweepResult *res) {
    std::set<std::string> marked;
    for (const auto &n : segments(dir, 'a')) {
        std::string data;
        if (!read_file(dir + "/" + n, &data)) continue;
        for (size_t pos = 0; pos < data.size();) {
            size_t nl = data.find('\n', pos);
            if (nl == std::string::npos) break;
            if (data.compare(pos, 2, "- ") == 0) marked.insert(data.substr(pos + 2, nl - pos - 2));
            pos = nl + 1;
        }
    }
    for (const auto &n : segments(dir, 0)) {
        std::string path = dir + "/" + n, data, keep;
        if (!read_file(path, &data)) continue;
        size_t pos = 0;
        while (pos < data.size()) {
            size_t nl = data.find('\n', pos);
            // a line cut by the owner's death has no newline: not a record
            if (nl == std::string::npos) break;
            std::string line = data.substr(pos, nl - pos);
            pos = nl + 1;
            int64_t reap_after;
            std::string id, json;
            if (!parse_journal_line(line, &reap_after, &id, &json) || marked.count(id)) continue;
            if (res->failed || *budget == 0 || reap_after > now_ms) {
                if (reap_after > now_ms) res->waiting++;
                keep += line;
                keep += '\n';
                continue;
            }
            if (!store(json)) {
                res->failed = true;
                keep += line;
                keep += '\n';
                continue;
            }
            (*budget)--;
            res->stored++;
        }
        if (keep.empty()) ::unlink(path.c_str());
        else if (keep.size() != data.size()) write_file(path, keep);
    }
    if (segments(dir, 0).empty()) {
        ::unlink((dir + "/lock").c_str());
        if (::rmdir(dir.c_str()) == 0) res->removed++;
    }
}

}  // namespace

SweepResult sweep_journals(const std::string &root, const StoreRecord &store, int64_t now_ms,
                           int64_t min_age_ms, size_t max_lines) {
    SweepResult res;
    DIR *d = opendir(root.c_str());
    if (d == nullptr) return res;
    std::vector<std::string> dirs;
    while (struct dirent *e = readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != ".." && e->d_type == DT_DIR) dirs.push_back(root + "/" + n);
    }
    closedir(d);
    size_t budget = max_lines;
    for (const auto &dir : dirs) {
        if (res.failed || budget == 0) break;
        std::string lock = dir + "/lock";
        int fd = ::open(lock.c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            // no lock yet: being created, or its owner died before taking it
            if (age_ms(dir) < min_age_ms) continue;
        } else if (::flock(fd, LOCK_EX | LOCK_NB) != 0 || age_ms(lock) < min_age_ms) {
            ::close(fd);
            continue;   // alive
        }
        res.journals++;
        sweep_one(dir, store, now_ms, &budget, &res);
        if (fd >= 0) ::close(fd);
    }
    if (res.stored > 0 || res.failed)
        log_info("journals_swept", {{"root", root}, {"journals", res.journals},
                                    {"stored", res.stored}, {"waiting", res.waiting},
                                    {"removed", res.removed}, {"failed", res.failed}});
    return res;
}

}  // namespace ow
