// action_ref_test.cc: action keys and resolution through bindings and
// other namespaces' public packages.
#include "libow/action_ref.h"

#include <map>

#include <gtest/gtest.h>

namespace {

using nlohmann::json;

struct Store {
    std::map<std::string, ow::EntityDoc> docs;
    int reads = 0;
    void put(const std::string &ns, const std::string &path, const std::string &coll,
             json doc) {
        docs[ns + "/" + path] = ow::EntityDoc{true, coll, std::move(doc)};
    }
    ow::EntityFetch fetch() {
        return [this](const std::string &ns, const std::string &path, ow::EntityDoc *out,
                      std::string *) {
            reads++;
            auto it = docs.find(ns + "/" + path);
            *out = it == docs.end() ? ow::EntityDoc() : it->second;
            return true;
        };
    }
};

ow::ResolvedAction resolve(Store &s, const std::string &key) {
    ow::ActionKey k;
    EXPECT_TRUE(ow::parse_action_key(key, &k)) << key;
    return ow::resolve_action(k, s.fetch());
}

Store catalog() {
    Store s;
    s.put("whisk.system", "utils", "packages",
          {{"publish", true}, {"binding", json::object()},
           {"parameters", {{{"key", "a"}, {"value", "pkg"}}}}});
    s.put("whisk.system", "utils/echo", "actions", {{"exec", {{"kind", "nodejs:20"}}}});
    s.put("whisk.system", "secret", "packages", {{"publish", false}, {"binding", json::object()}});
    s.put("whisk.system", "secret/x", "actions", {{"exec", {{"kind", "nodejs:20"}}}});
    s.put("guest", "mybinding", "packages",
          {{"binding", {{"namespace", "whisk.system"}, {"name", "utils"}}}});
    s.put("guest", "badbinding", "packages",
          {{"binding", {{"namespace", "whisk.system"}, {"name", "secret"}}}});
    s.put("alice", "hers", "packages",
          {{"binding", {{"namespace", "whisk.system"}, {"name", "utils"}}}, {"publish", true}});
    s.put("guest", "hello", "actions", {{"exec", {{"kind", "nodejs:20"}}}});
    return s;
}

TEST(ActionKey, Forms) {
    ow::ActionKey k;
    ASSERT_TRUE(ow::parse_action_key("guest/hello", &k));
    EXPECT_EQ(k.invoker, "guest");
    EXPECT_EQ(k.ns, "guest");
    EXPECT_EQ(k.pkg, "");
    ASSERT_TRUE(ow::parse_action_key("guest/whisk.system/utils/echo", &k));
    EXPECT_EQ(k.invoker, "guest");
    EXPECT_EQ(k.ns, "whisk.system");
    EXPECT_EQ(k.pkg, "utils");
    EXPECT_EQ(k.name, "echo");
    EXPECT_FALSE(ow::parse_action_key("guest", &k));
    EXPECT_FALSE(ow::parse_action_key("guest//x", &k));
    EXPECT_FALSE(ow::parse_action_key("guest/guest/p/x", &k));
    EXPECT_FALSE(ow::parse_action_key("a/b/c/d/e", &k));
}

TEST(ResolveAction, OwnAction) {
    Store s = catalog();
    ow::ResolvedAction r = resolve(s, "guest/hello");
    ASSERT_EQ(r.status, ow::ResolvedAction::ok);
    EXPECT_EQ(r.path, "guest/hello");
    EXPECT_TRUE(r.binding.empty());
    EXPECT_EQ(s.reads, 1);
}

TEST(ResolveAction, ThroughBinding) {
    Store s = catalog();
    ow::ResolvedAction r = resolve(s, "guest/mybinding/echo");
    ASSERT_EQ(r.status, ow::ResolvedAction::ok) << r.error;
    EXPECT_EQ(r.path, "whisk.system/utils/echo");
    EXPECT_EQ(r.binding, "guest/mybinding");
    EXPECT_EQ(r.package["parameters"][0]["value"], "pkg");
    EXPECT_TRUE(r.binding_doc.is_object());
    EXPECT_EQ(s.reads, 3);
}

TEST(ResolveAction, PublicPackageOfAnotherNamespace) {
    Store s = catalog();
    ow::ResolvedAction r = resolve(s, "guest/whisk.system/utils/echo");
    ASSERT_EQ(r.status, ow::ResolvedAction::ok);
    EXPECT_EQ(r.path, "whisk.system/utils/echo");
    EXPECT_TRUE(r.binding.empty());

    r = resolve(s, "guest/whisk.system/utils/nope");
    EXPECT_EQ(r.status, ow::ResolvedAction::not_found);
    EXPECT_EQ(r.error, "The requested resource does not exist.");
}

TEST(ResolveAction, PrivateOrMissingForeignPackageIsForbidden) {
    Store s = catalog();
    for (const char *key : {"guest/whisk.system/secret/x", "guest/whisk.system/nope/x",
                            "guest/alice/hers/echo", "guest/mybinding/nope"}) {
        ow::ResolvedAction r = resolve(s, key);
        if (std::string(key) == "guest/mybinding/nope") {
            EXPECT_EQ(r.status, ow::ResolvedAction::not_found) << key;
            continue;
        }
        EXPECT_EQ(r.status, ow::ResolvedAction::forbidden) << key;
    }
    ow::ResolvedAction r = resolve(s, "guest/whisk.system/secret/x");
    EXPECT_EQ(r.error,
              "The supplied authentication is not authorized to access "
              "'whisk.system/secret/x'.");
    // a binding of one's own to a private foreign package: 403 too
    r = resolve(s, "guest/badbinding/x");
    EXPECT_EQ(r.status, ow::ResolvedAction::forbidden);
    EXPECT_EQ(r.error,
              "The supplied authentication is not authorized to access 'guest/badbinding/x'.");
}

TEST(ResolveAction, OwnersMissingPackageIs404) {
    Store s = catalog();
    EXPECT_EQ(resolve(s, "guest/nopkg/x").status, ow::ResolvedAction::not_found);
    EXPECT_EQ(resolve(s, "whisk.system/secret/x").status, ow::ResolvedAction::ok);
}

TEST(ResolveAction, ReadFailure) {
    ow::ActionKey k;
    ASSERT_TRUE(ow::parse_action_key("guest/hello", &k));
    ow::ResolvedAction r = ow::resolve_action(
        k, [](const std::string &, const std::string &, ow::EntityDoc *, std::string *err) {
            *err = "redis down";
            return false;
        });
    EXPECT_EQ(r.status, ow::ResolvedAction::failed);
    EXPECT_EQ(r.error, "redis down");
}

}  // namespace
