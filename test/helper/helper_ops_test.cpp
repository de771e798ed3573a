// banger-helper's operations against a real kernel, each test in its own
// network namespace (see netns.hpp): what the helper answers, read back
// through rtnetlink and libnftables.

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include "helper/netlink.hpp"
#include "helper/operations.hpp"
#include "services/helper_client.hpp"
#include "test/helper/calls.hpp"
#include "test/helper/inspect.hpp"
#include "test/helper/netns.hpp"
#include "test/helper/raw_client.hpp"

namespace banger::test {
namespace {

using helper::netlink;

class HelperOps : public running_helper {
protected:
  /// Every test's bridge: its own name and subnet, never the product default.
  void make_bridge(helper_client& c) {
    auto r = ok(c.ensure_bridge({"bgtest0", "10.77.0.1/24"}));
    EXPECT_TRUE(r.created);
  }
};

TEST_F(HelperOps, EnsureBridgeCreatesItWithItsAddressAndUp) {
  helper_client c(socket_);
  make_bridge(c);
  netlink nl;
  auto br = nl.find("bgtest0");
  ASSERT_TRUE(br);
  EXPECT_EQ(br->kind, "bridge");
  EXPECT_EQ(br->alias, helper::bridge_mark);
  EXPECT_TRUE(br->up);
  auto addrs = nl.addresses(br->index);
  ASSERT_EQ(addrs.size(), 1u);
  EXPECT_EQ(to_string(addrs[0]), "10.77.0.1/24");
  // Idempotent: a second call changes nothing.
  auto again = ok(c.ensure_bridge({"bgtest0", "10.77.0.1/24"}));
  EXPECT_FALSE(again.created);
  EXPECT_EQ(nl.addresses(br->index).size(), 1u);
  EXPECT_EQ(nl.find("bgtest0")->index, br->index);
}

TEST_F(HelperOps, CreateTapIsOwnedEnslavedUpAndDeleteRemovesIt) {
  helper_client c(socket_);
  make_bridge(c);
  auto r = ok(c.create_tap({"bgtap0", owner_uid, "bgtest0"}));
  EXPECT_TRUE(r.created);
  netlink nl;
  auto br = nl.find("bgtest0");
  auto tap = nl.find("bgtap0");
  ASSERT_TRUE(br && tap);
  EXPECT_EQ(tap->kind, "tun");
  EXPECT_EQ(tap->alias, helper::tap_mark);
  EXPECT_EQ(tap->master, br->index);
  EXPECT_TRUE(tap->up);
  auto info = nl.tun(tap->index);
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->tap);
  EXPECT_TRUE(info->persist);
  EXPECT_EQ(info->owner, owner_uid);

  auto again = ok(c.create_tap({"bgtap0", owner_uid, "bgtest0"}));
  EXPECT_FALSE(again.created);
  EXPECT_EQ(nl.find("bgtap0")->index, tap->index);

  auto del = ok(c.delete_tap({"bgtap0"}));
  EXPECT_TRUE(del.deleted);
  EXPECT_FALSE(nl.find("bgtap0"));
  // Deleting what is gone is not an error (reconciliation may repeat it).
  auto del2 = ok(c.delete_tap({"bgtap0"}));
  EXPECT_FALSE(del2.deleted);
  EXPECT_TRUE(nl.find("bgtest0")) << "deleting a TAP must keep the bridge";
}

TEST_F(HelperOps, NatAddedTwiceIsOneRuleAndRemoveTakesItAway) {
  helper_client c(socket_);
  make_bridge(c);
  auto a1 = ok(c.add_nat({"10.77.0.5", "bgtest0"}));
  EXPECT_TRUE(a1.added);
  auto a2 = ok(c.add_nat({"10.77.0.5", "bgtest0"}));
  EXPECT_FALSE(a2.added);
  auto table = nft_banger_table();
  ASSERT_TRUE(table) << "table ip banger is missing";
  EXPECT_EQ(count(*table, "masquerade"), 1u) << *table;
  EXPECT_EQ(count(*table, "ip saddr 10.77.0.5 oifname != \"bgtest0\" "
                          "masquerade comment \"banger:10.77.0.5\""),
            1u)
      << *table;
  EXPECT_EQ(count(*table, "hook postrouting"), 1u) << *table;

  // A second guest gets its own rule; removing the first leaves it.
  ok(c.add_nat({"10.77.0.6", "bgtest0"}));
  auto rm = ok(c.remove_nat({"10.77.0.5"}));
  EXPECT_EQ(rm.removed, 1u);
  table = nft_banger_table();
  ASSERT_TRUE(table);
  EXPECT_EQ(count(*table, "10.77.0.5"), 0u) << *table;
  EXPECT_EQ(count(*table, "banger:10.77.0.6"), 1u) << *table;
  auto rm2 = ok(c.remove_nat({"10.77.0.5"}));
  EXPECT_EQ(rm2.removed, 0u);
  ok(c.remove_nat({"10.77.0.6"}));
  table = nft_banger_table();
  ASSERT_TRUE(table);
  EXPECT_EQ(count(*table, "masquerade"), 0u) << *table;
}

TEST_F(HelperOps, ListReportsWhatItManagesAndNothingElse) {
  helper_client c(socket_);
  make_bridge(c);
  ok(c.create_tap({"bgtap1", owner_uid, "bgtest0"}));
  ok(c.add_nat({"10.77.0.9", "bgtest0"}));
  netlink nl;
  nl.create_bridge("other0"); // not the helper's

  auto list = ok(c.list());
  ASSERT_EQ(list.bridges.size(), 1u);
  EXPECT_EQ(list.bridges[0].name, "bgtest0");
  EXPECT_EQ(list.bridges[0].addresses,
            std::vector<std::string>{"10.77.0.1/24"});
  EXPECT_TRUE(list.bridges[0].up);
  ASSERT_EQ(list.taps.size(), 1u);
  EXPECT_EQ(list.taps[0].name, "bgtap1");
  EXPECT_EQ(list.taps[0].owner_uid, owner_uid);
  EXPECT_EQ(list.taps[0].bridge, "bgtest0");
  EXPECT_TRUE(list.taps[0].up);
  ASSERT_EQ(list.nat.size(), 1u);
  EXPECT_EQ(list.nat[0].guest_ip, "10.77.0.9");
  EXPECT_EQ(list.nat[0].bridge, "bgtest0");
}

TEST_F(HelperOps, ARestartedHelperStillKnowsWhatItMade) {
  {
    helper_client c(socket_);
    make_bridge(c);
    ok(c.create_tap({"bgtap2", owner_uid, "bgtest0"}));
    ok(c.add_nat({"10.77.0.7", "bgtest0"}));
  }
  // The marks live in the kernel, not in the helper's memory.
  stop_helper();
  start_helper();
  helper_client c(socket_);
  auto list = ok(c.list());
  EXPECT_EQ(list.bridges.size(), 1u);
  EXPECT_EQ(list.taps.size(), 1u);
  EXPECT_EQ(list.nat.size(), 1u);
  EXPECT_FALSE(ok(c.ensure_bridge({"bgtest0", "10.77.0.1/24"})).created);
  EXPECT_FALSE(ok(c.add_nat({"10.77.0.7", "bgtest0"})).added);
  EXPECT_TRUE(ok(c.delete_tap({"bgtap2"})).deleted);
}

TEST_F(HelperOps, TheOwnerConnectsAndEveryOperationIsLogged) {
  // The owner (not root) is served.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgid(owner_uid) != 0 || ::setuid(owner_uid) != 0)
      ::_exit(2);
    auto list = helper_client(socket_).list();
    ::_exit(list ? 0 : 4);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << helper_log();
  auto log = helper_log();
  EXPECT_NE(log.find("uid=" + std::to_string(owner_uid)
                     + " pid=" + std::to_string(pid)),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("helper.list {} -> ok"), std::string::npos) << log;
}

TEST_F(HelperOps, SigtermStopsItCleanlyAndRemovesTheSocket) {
  struct stat st {};
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, owner_uid);
  raw_client idle(socket_); // an open connection must not hold it up
  ASSERT_TRUE(idle.connected());
  auto status = stop_helper();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(::stat(socket_.c_str(), &st), 0) << "socket left behind";
}

} // namespace
} // namespace banger::test
