// activation_journal_test.cc: lines survive their owner, settled segments
// go, a dead journal is replayed spilled-first and removed, a live one is
// left alone.
#include "libow/activation_journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <functional>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

std::string temp_root() {
    char tmpl[] = "/tmp/owx-journal-test-XXXXXX";
    return mkdtemp(tmpl);
}

size_t count_files(const std::string &dir, char kind) {
    size_t n = 0;
    DIR *d = opendir(dir.c_str());
    if (!d) return 0;
    while (struct dirent *e = readdir(d))
        if (e->d_name[0] == kind && e->d_name[1] == '-') n++;
    closedir(d);
    return n;
}

bool exists(const std::string &p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0;
}

// A child process that owns the journal at path, fills it, then waits to
// be killed (kill_owner): a journal as its owner's death leaves it.
pid_t start_owner(const std::string &path,
                  const std::function<void(ow::ActivationJournal &)> &fill) {
    int ready[2];
    if (pipe(ready) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        ow::ActivationJournal j;
        std::string e;
        if (!j.open(path, 1 << 20, &e)) _exit(1);
        fill(j);
        if (write(ready[1], "x", 1) != 1) _exit(1);
        pause();
        _exit(0);
    }
    char c;
    bool up = read(ready[0], &c, 1) == 1;
    close(ready[0]);
    close(ready[1]);
    return up ? pid : -1;
}

void kill_owner(pid_t pid) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
}

}  // namespace

TEST(ActivationJournal, ParsesLines) {
    int64_t at;
    std::string id, json;
    ASSERT_TRUE(ow::parse_journal_line("12 abc {\"a\":1}", &at, &id, &json));
    EXPECT_EQ(at, 12);
    EXPECT_EQ(id, "abc");
    EXPECT_EQ(json, "{\"a\":1}");
    EXPECT_FALSE(ow::parse_journal_line("", &at, &id, &json));
    EXPECT_FALSE(ow::parse_journal_line(" x {}", &at, &id, &json));
    EXPECT_FALSE(ow::parse_journal_line("x1 y {}", &at, &id, &json));
    EXPECT_FALSE(ow::parse_journal_line("-1 y {}", &at, &id, &json));
    EXPECT_FALSE(ow::parse_journal_line("- abc", &at, &id, &json));
    EXPECT_FALSE(ow::parse_journal_line("5 {}", &at, &id, &json));
    EXPECT_FALSE(ow::parse_journal_line("5 y ", &at, &id, &json));
}

TEST(ActivationJournal, OneOwnerAtATime) {
    std::string root = temp_root(), err;
    ow::ActivationJournal a, b;
    ASSERT_TRUE(a.open(root + "/c1", 1 << 20, &err)) << err;
    EXPECT_FALSE(b.open(root + "/c1", 1 << 20, &err));
    struct stat st;
    ASSERT_EQ(stat((root + "/c1").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST(ActivationJournal, SettledSegmentsAreUnlinked) {
    std::string root = temp_root(), err;
    ow::ActivationJournal j;
    ASSERT_TRUE(j.open(root + "/c1", 1 << 20, &err)) << err;
    std::string big(4096, 'x');
    std::vector<uint64_t> tickets;
    // ~3 segments of lines
    for (size_t i = 0; i < 3 * ow::ActivationJournal::kSegmentBytes / big.size(); i++)
        tickets.push_back(j.accept("i1", "{\"p\":\"" + big + "\"}", 0));
    EXPECT_GE(count_files(root + "/c1", 'a'), 3u);
    for (uint64_t t : tickets) ASSERT_NE(t, 0u);
    // one at a time and a batch at a time alike
    size_t half = tickets.size() / 2;
    for (size_t i = 0; i < half; i++) j.settle(tickets[i]);
    EXPECT_GE(count_files(root + "/c1", 'a'), 2u);
    j.settle(std::vector<uint64_t>(tickets.begin() + half, tickets.end()));
    // only the segment still written to stays
    EXPECT_EQ(count_files(root + "/c1", 'a'), 1u);
    j.remove_if_settled();
    EXPECT_FALSE(exists(root + "/c1"));
}

TEST(ActivationJournal, SpillIsBoundedAndReplayedOldestFirst) {
    std::string root = temp_root(), err;
    ow::ActivationJournal j;
    ASSERT_TRUE(j.open(root + "/c1", 100, &err)) << err;
    EXPECT_TRUE(j.spill("s", "{\"n\":1}"));
    EXPECT_FALSE(j.spill("s", std::string(200, 'x')));   // over the bound
    std::string first = j.next_spill();
    ASSERT_FALSE(first.empty());
    EXPECT_TRUE(j.spill("s", "{\"n\":2}"));               // a new segment
    std::ifstream in(first);
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, "0 s {\"n\":1}");
    j.finish_spill(first);
    std::string second = j.next_spill();
    EXPECT_NE(second, first);
    j.finish_spill(second);
    EXPECT_EQ(j.spilled_bytes(), 0u);
    EXPECT_EQ(j.next_spill(), "");
}

// The owner dies (a child process killed): its journal is replayed,
// spilled records before accepted stand-ins, and removed; a live journal and
// lines not reapable yet are kept.
TEST(ActivationJournal, DeadJournalIsSweptLiveOneKept) {
    std::string root = temp_root(), err;
    pid_t pid = start_owner(root + "/dead", [](ow::ActivationJournal &j) {
        j.accept("i2", "{\"id\":\"standin-1\"}", 0);
        j.accept("i3", "{\"id\":\"later\"}", 5000);
        j.spill("s", "{\"id\":\"full-1\"}");
        uint64_t t = j.accept("i4", "{\"id\":\"settled\"}", 0);
        (void)t;   // not settled before the death: replayed (a no-op in Redis)
        // handed to someone else: never replayed
        j.settle(j.accept("mk", "{\"id\":\"marked\"}", 0), "mk");
    });
    ASSERT_GT(pid, 0);
    ow::ActivationJournal live;
    ASSERT_TRUE(live.open(root + "/live", 1 << 20, &err));
    live.accept("i5", "{\"id\":\"live-1\"}", 0);

    std::vector<std::string> stored;
    auto store = [&](const std::string &json) {
        stored.push_back(json);
        return true;
    };
    // alive: nothing swept
    auto r0 = ow::sweep_journals(root, store, 1000, 0, 100);
    EXPECT_EQ(r0.journals, 0u);
    EXPECT_TRUE(stored.empty());

    kill_owner(pid);
    auto r1 = ow::sweep_journals(root, store, 1000, 0, 100);
    EXPECT_EQ(r1.journals, 1u);
    ASSERT_EQ(stored.size(), 3u);
    EXPECT_EQ(stored[0], "{\"id\":\"full-1\"}");
    EXPECT_EQ(stored[1], "{\"id\":\"standin-1\"}");
    EXPECT_EQ(stored[2], "{\"id\":\"settled\"}");
    EXPECT_EQ(r1.waiting, 1u);
    EXPECT_TRUE(exists(root + "/dead"));   // the waiting line keeps it

    // a failed store keeps the line for the next sweep
    auto r2 = ow::sweep_journals(root, [](const std::string &) { return false; }, 6000, 0, 100);
    EXPECT_TRUE(r2.failed);
    EXPECT_TRUE(exists(root + "/dead"));
    auto r3 = ow::sweep_journals(root, store, 6000, 0, 100);
    ASSERT_EQ(stored.size(), 4u);
    EXPECT_EQ(stored[3], "{\"id\":\"later\"}");
    EXPECT_EQ(r3.removed, 1u);
    EXPECT_FALSE(exists(root + "/dead"));
    EXPECT_TRUE(exists(root + "/live"));
}

// A journal reopened by a new owner (the same pod's restarted sidecar): the
// predecessor's lines come back as spill.
TEST(ActivationJournal, NewOwnerAdoptsLines) {
    std::string root = temp_root(), err;
    {
        ow::ActivationJournal j;
        ASSERT_TRUE(j.open(root + "/c", 1 << 20, &err));
        j.accept("i6", "{\"id\":\"a\"}", 0);
    }
    ow::ActivationJournal j;
    ASSERT_TRUE(j.open(root + "/c", 1 << 20, &err));
    EXPECT_GT(j.spilled_bytes(), 0u);
    std::string path = j.next_spill();
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, "0 i6 {\"id\":\"a\"}");
}

namespace {

off_t file_size(const std::string &p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0 ? st.st_size : -1;
}

std::string only_segment(const std::string &dir, char kind) {
    DIR *d = opendir(dir.c_str());
    std::string found;
    while (struct dirent *e = d ? readdir(d) : nullptr)
        if (e->d_name[0] == kind && e->d_name[1] == '-') found = dir + "/" + e->d_name;
    if (d) closedir(d);
    return found;
}

// An owner that accepts records into root/dir, killed: its accepted
// segment is left as a killed owner leaves it.
void accept_then_die(const std::string &root, const std::string &dir,
                     const std::vector<std::string> &records) {
    pid_t pid = start_owner(root + "/" + dir, [&records](ow::ActivationJournal &j) {
        int i = 0;
        for (const auto &r : records) j.accept("i" + std::to_string(i++), r, 0);
    });
    ASSERT_GT(pid, 0);
    kill_owner(pid);
}

}  // namespace

// The accepted segment is a mapped file: a killed owner leaves it at its
// reserved size, zeros after its lines, and maybe a line its death cut. The
// sweep stores the whole lines only; a new owner adopts them, the file cut
// to them (its spill counts what it owes, not the reservation).
TEST(ActivationJournal, KilledOwnersMappedSegmentYieldsItsWholeLinesOnly) {
    std::string root = temp_root(), err;
    accept_then_die(root, "swept", {"{\"id\":\"a\"}", "{\"id\":\"b\"}"});
    std::string seg = only_segment(root + "/swept", 'a');
    ASSERT_FALSE(seg.empty());
    EXPECT_EQ(file_size(seg), (off_t)ow::ActivationJournal::kSegmentBytes);
    // a line cut by the death: no newline, zeros after it
    std::string whole = "0 i0 {\"id\":\"a\"}\n0 i1 {\"id\":\"b\"}\n";
    int fd = open(seg.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    const char cut[] = "0 i2 {\"id\":\"c";
    ASSERT_EQ(pwrite(fd, cut, sizeof cut - 1, (off_t)whole.size()), (ssize_t)(sizeof cut - 1));
    close(fd);

    std::vector<std::string> stored;
    auto r = ow::sweep_journals(root, [&](const std::string &json) {
        stored.push_back(json);
        return true;
    }, 1000, 0, 100);
    EXPECT_EQ(r.journals, 1u);
    ASSERT_EQ(stored.size(), 2u);
    EXPECT_EQ(stored[0], "{\"id\":\"a\"}");
    EXPECT_EQ(stored[1], "{\"id\":\"b\"}");
    EXPECT_FALSE(exists(root + "/swept"));

    accept_then_die(root, "adopted", {"{\"id\":\"d\"}"});
    seg = only_segment(root + "/adopted", 'a');
    ASSERT_FALSE(seg.empty());
    fd = open(seg.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(pwrite(fd, cut, sizeof cut - 1, 16), (ssize_t)(sizeof cut - 1));
    close(fd);
    ow::ActivationJournal j;
    ASSERT_TRUE(j.open(root + "/adopted", 1 << 20, &err));
    EXPECT_EQ(j.spilled_bytes(), std::string("0 i0 {\"id\":\"d\"}\n").size());
    std::ifstream in(j.next_spill());
    std::string line;
    ASSERT_TRUE((bool)std::getline(in, line));
    EXPECT_EQ(line, "0 i0 {\"id\":\"d\"}");
    EXPECT_FALSE((bool)std::getline(in, line));
}

// A record larger than a segment (a result with its logs) is written whole
// past the mapping; lines after it go to the next segment; a clean owner
// leaves files cut to their lines.
TEST(ActivationJournal, LineLargerThanASegmentAndCleanClose) {
    std::string root = temp_root(), err;
    std::string big = "{\"logs\":\"" + std::string(ow::ActivationJournal::kSegmentBytes, 'x') +
                      "\"}";
    {
        ow::ActivationJournal j;
        ASSERT_TRUE(j.open(root + "/c", 1 << 20, &err));
        EXPECT_NE(j.accept("i0", "{\"id\":\"small\"}", 0), 0u);
        EXPECT_NE(j.accept("i1", big, 0), 0u);
        EXPECT_NE(j.accept("i2", "{\"id\":\"after\"}", 0), 0u);
    }
    EXPECT_EQ(count_files(root + "/c", 'a'), 3u);
    size_t total = 0;
    DIR *d = opendir((root + "/c").c_str());
    while (struct dirent *e = readdir(d))
        if (e->d_name[0] == 'a') total += (size_t)file_size(root + "/c/" + e->d_name);
    closedir(d);
    std::string l0 = "0 i0 {\"id\":\"small\"}\n", l2 = "0 i2 {\"id\":\"after\"}\n";
    EXPECT_EQ(total, l0.size() + 6 + big.size() + l2.size());

    std::vector<std::string> stored;
    ow::sweep_journals(root, [&](const std::string &json) {
        stored.push_back(json);
        return true;
    }, 1000, 0, 100);
    ASSERT_EQ(stored.size(), 3u);
    EXPECT_EQ(stored[0], "{\"id\":\"small\"}");
    EXPECT_EQ(stored[1], big);
    EXPECT_EQ(stored[2], "{\"id\":\"after\"}");
}
