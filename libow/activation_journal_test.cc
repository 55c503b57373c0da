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

#include <cstdlib>
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
    for (uint64_t t : tickets) {
        ASSERT_NE(t, 0u);
        j.settle(t);
    }
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
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    pid_t pid = fork();
    if (pid == 0) {
        ow::ActivationJournal j;
        std::string e;
        if (!j.open(root + "/dead", 1 << 20, &e)) _exit(1);
        j.accept("i2", "{\"id\":\"standin-1\"}", 0);
        j.accept("i3", "{\"id\":\"later\"}", 5000);
        j.spill("s", "{\"id\":\"full-1\"}");
        uint64_t t = j.accept("i4", "{\"id\":\"settled\"}", 0);
        (void)t;   // not settled before the death: replayed (a no-op in Redis)
        // handed to someone else: never replayed
        j.settle(j.accept("mk", "{\"id\":\"marked\"}", 0), "mk");
        if (write(ready[1], "x", 1) != 1) _exit(1);
        pause();
        _exit(0);
    }
    char c;
    ASSERT_EQ(read(ready[0], &c, 1), 1);
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

    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
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
