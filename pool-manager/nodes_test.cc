// nodes_test.cc: the --nodes syntax and the default node.
#include "pool-manager/nodes.h"

#include <gtest/gtest.h>

namespace ow::pm::test {
namespace {

TEST(Nodes, Parses) {
    std::vector<NodeSpec> n;
    std::string err;
    ASSERT_TRUE(parse_nodes("n1:cpu=4000,mem=8192,gpu=0; n2:cpu=2000,mem=4096,gpu=1,max=5;", &n,
                            &err))
        << err;
    ASSERT_EQ(n.size(), 2u);
    EXPECT_EQ(n[0].name, "n1");
    EXPECT_EQ(n[0].capacity.cpu, 4000);
    EXPECT_EQ(n[0].capacity.mem, 8192);
    EXPECT_EQ(n[0].capacity.gpu, 0);
    EXPECT_EQ(n[0].max_containers, 0);
    EXPECT_EQ(n[1].name, "n2");
    EXPECT_EQ(n[1].capacity.gpu, 1);
    EXPECT_EQ(n[1].max_containers, 5);
    ASSERT_TRUE(parse_nodes("bare", &n, &err));
    EXPECT_EQ(n[0].capacity.mem, 0) << "a missing resource is none";
}

TEST(Nodes, Rejects) {
    struct Row {
        const char *text;
        const char *why;
    };
    const Row rows[] = {
        {"", "no node"},
        {" ; ", "no node"},
        {":cpu=1", "without a name"},
        {"a:cpu=1;a:mem=2", "twice"},
        {"a:disk=5", "unknown resource 'disk'"},
        {"a:cpu=-1", "whole number"},
        {"a:cpu=1.5", "whole number"},
        {"a:mem=", "whole number"},
        {"a:mem", "whole number"},
    };
    for (const Row &r : rows) {
        std::vector<NodeSpec> n;
        std::string err;
        EXPECT_FALSE(parse_nodes(r.text, &n, &err)) << r.text;
        EXPECT_NE(err.find(r.why), std::string::npos) << r.text << ": " << err;
    }
}

TEST(Nodes, LocalNodeIsThisMachine) {
    NodeSpec n = local_node();
    EXPECT_EQ(n.name, "local");
    EXPECT_GE(n.capacity.cpu, 1000);
    EXPECT_GT(n.capacity.mem, 0);
    EXPECT_EQ(n.capacity.gpu, 0);
    EXPECT_EQ(n.max_containers, 0);
}

}  // namespace
}  // namespace ow::pm::test
