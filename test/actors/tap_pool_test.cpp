// The TAP pool on CAF's test coordinator, with a fake helper that keeps the
// host's TAPs in a set and hands out real (harmless) descriptors.
#include <algorithm>
#include <set>

#include <caf/all.hpp>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "actors/network.hpp"
#include "test/actors/world.hpp"

namespace banger::test {
namespace {

struct host_taps {
  std::set<std::string> taps;
  std::vector<std::string> created;
  std::vector<std::string> deleted;
  bool refuse_creates = false;
  int collide_next = 0; // creates to answer "exists already"
};

helper_actor::behavior_type fake_helper(helper_actor::pointer,
                                        std::shared_ptr<host_taps> host) {
  return {
    [host](atom::create, atom::tap, const std::string& name)
      -> caf::result<tap_lease> {
      if (host->refuse_creates)
        return make_error(ec::unavailable, "banger-helper: no");
      if (host->taps.count(name) != 0 || host->collide_next > 0) {
        --host->collide_next;
        return make_error(ec::already_exists, "TAP " + name + " exists already");
      }
      host->taps.insert(name);
      host->created.push_back(name);
      return tap_lease{name, ::open("/dev/null", O_RDONLY | O_CLOEXEC)};
    },
    [host](atom::del, atom::tap, const std::string& name) {
      host->deleted.push_back(name);
      return host->taps.erase(name) > 0;
    },
    [host](atom::list, atom::tap) {
      return std::vector<std::string>(host->taps.begin(), host->taps.end());
    },
    [](atom::guard, atom::tap, const std::string&, const std::string&,
       const std::string&) { return true; },
    [](atom::nat, const std::string&, bool) { return true; },
    [](atom::list, atom::nat) { return std::vector<std::string>{}; },
  };
}

struct TapPool : ::testing::Test {
  det_world w;
  std::shared_ptr<host_taps> host = std::make_shared<host_taps>();
  helper_actor helper = w.sys.spawn(fake_helper, host);

  tap_pool_actor pool(std::uint32_t size, std::string prefix = "bgt") {
    auto p = spawn_tap_pool(w.sys, helper, prefix, size);
    pools.push_back(p);
    return p;
  }
  std::uint32_t warm(const tap_pool_actor& p) {
    auto r = w.ask<std::uint32_t>(p, atom::get_v);
    w.sched.run();
    return r->value ? *r->value : 9999;
  }
  ~TapPool() override {
    for (auto& p : pools)
      caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(helper, caf::exit_reason::user_shutdown);
    w.sched.run();
  }
  std::vector<tap_pool_actor> pools;
};

TEST_F(TapPool, FillsToItsSizeAndLeasesAWarmTapAtOnce) {
  auto p = pool(2);
  auto rec = w.ask<std::uint32_t>(p, atom::reconcile_v, std::vector<std::string>{});
  w.sched.run();
  ASSERT_TRUE(rec->done);
  EXPECT_EQ(warm(p), 2u);
  EXPECT_EQ(host->taps.size(), 2u);
  auto lease = w.ask<tap_lease>(p, atom::lease_v);
  w.sched.run();
  ASSERT_TRUE(lease->value) << error_message(lease->value.error());
  EXPECT_EQ(lease->value->name.rfind("bgt", 0), 0u);
  EXPECT_LE(lease->value->name.size(), 15u);
  EXPECT_GE(lease->value->fd, 0);
  EXPECT_EQ(host->created.front(), lease->value->name) << "oldest warm TAP first";
  ::close(lease->value->fd);
  // Refilled behind the lease: two warm again, three TAPs on the host.
  EXPECT_EQ(warm(p), 2u);
  EXPECT_EQ(host->taps.size(), 3u);
}

TEST_F(TapPool, WithoutWarmTapsALeaseWaitsForANewOne) {
  auto p = pool(0);
  auto lease = w.ask<tap_lease>(p, atom::lease_v);
  w.sched.run();
  ASSERT_TRUE(lease->value) << error_message(lease->value.error());
  ::close(lease->value->fd);
  EXPECT_EQ(host->created, std::vector<std::string>{lease->value->name});
  EXPECT_EQ(warm(p), 0u);
}

TEST_F(TapPool, ReleaseDeletesTheTap) {
  auto p = pool(0);
  auto lease = w.ask<tap_lease>(p, atom::lease_v);
  w.sched.run();
  ASSERT_TRUE(lease->value);
  ::close(lease->value->fd);
  caf::anon_send(p, atom::release_v, lease->value->name);
  w.sched.run();
  EXPECT_EQ(host->deleted, std::vector<std::string>{lease->value->name});
  EXPECT_TRUE(host->taps.empty());
}

TEST_F(TapPool, ReconcileDeletesOnlyItsOwnUnusedTaps) {
  host->taps = {"bgt00000001", "bgt00000002", "other0001"};
  auto p = pool(0);
  auto n = w.ask<std::uint32_t>(p, atom::reconcile_v,
                                std::vector<std::string>{"bgt00000002"});
  w.sched.run();
  ASSERT_TRUE(n->value);
  EXPECT_EQ(*n->value, 1u);
  EXPECT_EQ(host->deleted, std::vector<std::string>{"bgt00000001"});
  EXPECT_EQ(host->taps, (std::set<std::string>{"bgt00000002", "other0001"}));
}

TEST_F(TapPool, ShutdownDeletesWarmTapsAndStopsRefilling) {
  auto p = pool(2);
  w.ask<std::uint32_t>(p, atom::reconcile_v, std::vector<std::string>{});
  w.sched.run();
  ASSERT_EQ(host->taps.size(), 2u);
  auto n = w.ask<std::uint32_t>(p, atom::del_v);
  w.sched.run();
  ASSERT_TRUE(n->value);
  EXPECT_EQ(*n->value, 2u);
  EXPECT_TRUE(host->taps.empty());
  EXPECT_EQ(warm(p), 0u);
  EXPECT_EQ(host->created.size(), 2u) << "no refill after shutdown";
}

TEST_F(TapPool, AHelperRefusalReachesTheLease) {
  host->refuse_creates = true;
  auto p = pool(1);
  auto lease = w.ask<tap_lease>(p, atom::lease_v);
  w.sched.run();
  ASSERT_TRUE(lease->done);
  ASSERT_FALSE(lease->value);
  EXPECT_EQ(lease->value.error(), make_error(ec::unavailable, ""));
  // The next lease tries again once the helper works.
  host->refuse_creates = false;
  auto again = w.ask<tap_lease>(p, atom::lease_v);
  w.sched.run();
  ASSERT_TRUE(again->value);
  ::close(again->value->fd);
}

TEST_F(TapPool, NamesFitInFifteenCharactersWhateverThePrefix) {
  auto p = pool(0, "bgbenchtap1");
  auto lease = w.ask<tap_lease>(p, atom::lease_v);
  w.sched.run();
  ASSERT_TRUE(lease->value) << error_message(lease->value.error());
  ::close(lease->value->fd);
  EXPECT_EQ(lease->value->name.size(), 15u);
  EXPECT_EQ(lease->value->name.rfind("bgbenchtap1", 0), 0u);
}

TEST_F(TapPool, ANameCollisionIsRetriedNeverShared) {
  host->collide_next = 2;
  auto p = pool(0);
  auto lease = w.ask<tap_lease>(p, atom::lease_v);
  w.sched.run();
  ASSERT_TRUE(lease->value) << error_message(lease->value.error());
  ::close(lease->value->fd);
  EXPECT_EQ(host->created, std::vector<std::string>{lease->value->name});
}

} // namespace
} // namespace banger::test
