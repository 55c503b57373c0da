// activation_journal.h: what a process owes Redis, on its own disk, so that
// no accepted activation goes without a record when the process dies or
// Redis is away (docs/records.md).
//
// A journal is one directory per process (the sidecar's container id, the
// pool-manager's own), 0700, holding:
//   lock          flock(LOCK_EX) for the owner's life: a free lock means the
//                 owner is dead (the kernel drops it with the process), the
//                 one liveness test that has no race and needs no clock
//   a-<seq>.log   "accepted": for every activation the owner answered, before
//                 the answer left, the record to store if the owner dies
//                 first (a 202's "whisk internal error" stand-in, or a
//                 blocking result without its logs)
//   s-<seq>.log   "spilled": full records the owner could not store yet
//                 (Redis away and the in-memory buffer full)
// Each line is "<reap-after epoch ms> <activation id> <record json>", or
// "- <activation id>": that activation's record is someone else's to store
// now (a marked line is never replayed; the pool-manager marks what it
// handed to a sidecar). Segments roll at
// kSegmentBytes; an accepted segment is unlinked once every line in it is
// settled (its record stored, or spilled), so a journal stays a few segments
// however long the process lives.
//
// The accepted segment is written through a shared mapping of its file
// (reserved at kSegmentBytes, cut to its lines when it rolls or its owner
// exits): a dead owner's segment ends in zeros, which readers skip.
//
// Replay is safe because a record write is "first record of an id wins"
// (ow_schema.h): lines are stored spilled first, then accepted, and a
// stand-in of an activation whose real record landed is a no-op. Cost on the
// answer path: a copy of a few hundred bytes into the page cache, no system
// call (no fsync: the journal outlives the process, not the machine).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace ow {

class ActivationJournal {
public:
    static constexpr size_t kSegmentBytes = 1u << 20;

    ActivationJournal() = default;
    ~ActivationJournal();
    ActivationJournal(const ActivationJournal &) = delete;
    ActivationJournal &operator=(const ActivationJournal &) = delete;

    // Creates dir (0700) and takes its lock. What a dead predecessor left
    // there (the sidecar restarted in the same pod) becomes spill, replayed
    // first. max_spill_bytes bounds the spilled records on disk.
    bool open(const std::string &dir, size_t max_spill_bytes, std::string *err);
    bool is_open() const { return lock_fd_ >= 0; }
    const std::string &dir() const { return dir_; }

    // The record to store if this process dies before settle(ticket); it is
    // not stored before reap_after_ms (0: at once). Returns the ticket, 0
    // when not open or the write failed (logged).
    uint64_t accept(const std::string &id, const std::string &record_json,
                    int64_t reap_after_ms);
    // Its record is stored (or spilled). mark: and its line must not be
    // replayed even if this process dies before the segment goes (the
    // stand-in would race a real record stored elsewhere later).
    void settle(uint64_t ticket, const std::string &mark = "");
    // Several (no marks) under one lock: the record writer settles a stored
    // batch at once, not taking the lock the io thread's accept() needs once
    // a record.
    void settle(const std::vector<uint64_t> &tickets);

    // A full record kept on disk until replayed; false when the spill is full
    // or not open.
    bool spill(const std::string &id, const std::string &record_json);
    // Closes the current spill segment and returns the oldest spilled file to
    // replay ("" when none); the caller stores its lines, then finish_spill().
    std::string next_spill();
    void finish_spill(const std::string &path);
    size_t spilled_bytes();

    // Removes the journal (every record owed has been stored): a clean exit.
    void remove_if_settled();

private:
    bool append(int fd, const std::string &line);
    bool next_segment(char kind, int *fd, uint64_t *seq);
    bool roll_accepted();
    void settle_locked(uint64_t ticket, const std::string &mark);
    void close_accepted();
    bool put_accepted(const std::string &line);
    void unlink_settled();

    std::mutex mu_;
    std::string dir_;
    int lock_fd_ = -1;
    int acc_fd_ = -1, spill_fd_ = -1;
    char *acc_map_ = nullptr;   // the accepted segment, kSegmentBytes mapped
    bool acc_unmapped_logged_ = false;
    uint64_t seq_ = 0, acc_seq_ = 0, spill_seq_ = 0;
    size_t acc_bytes_ = 0, spill_file_bytes_ = 0, spill_bytes_ = 0, max_spill_ = 0;
    std::map<uint64_t, uint64_t> unsettled_;   // accepted segment -> open lines
};

// One record line: "<reap-after ms> <id> <record json>" (a mark line "- <id>"
// is not one: false).
bool parse_journal_line(const std::string &line, int64_t *reap_after_ms, std::string *id,
                        std::string *json);

// Stores one record (first record wins); false when it could not (Redis
// away): the sweep keeps the journal for the next one.
using StoreRecord = std::function<bool(const std::string &record_json)>;

struct SweepResult {
    size_t journals = 0;   // dead journals looked at
    size_t stored = 0;     // lines handed to store() successfully
    size_t waiting = 0;    // lines not reapable yet (their journal is kept)
    size_t removed = 0;    // journals done and removed
    bool failed = false;   // store() failed: stopped, kept
};

// Every journal under root whose owner is dead (its lock is free) and older
// than min_age_ms (a journal being created has no lock yet): spilled lines,
// then accepted ones, each stored once now >= its reap-after unless marked;
// a journal with
// everything stored is removed. At most max_lines stored per call.
SweepResult sweep_journals(const std::string &root, const StoreRecord &store, int64_t now_ms,
                           int64_t min_age_ms, size_t max_lines);

}  // namespace ow
