// The image puller on CAF's test coordinator with planned fake work: one
// pull per name (joiners share it), names in parallel, existing images,
// cancels and failures leave no row and no files.
#include <atomic>
#include <filesystem>
#include <fstream>

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "actors/puller.hpp"
#include "test/actors/world.hpp"

namespace banger::test {
namespace {

namespace fs = std::filesystem;

struct work_log {
  int calls = 0;
  bool fail = false;
  std::vector<bool> saw_cancel;
};

struct Puller : ::testing::Test {
  det_world w;
  std::shared_ptr<work_log> work = std::make_shared<work_log>();
  std::shared_ptr<sink_log> out = std::make_shared<sink_log>();
  caf::actor sink = w.sys.spawn(output_sink, out);
  std::string images = w.config.paths.images_dir();

  /// Plans "source:<ref>" -> image <ref>; the work writes its files unless
  /// cancelled or told to fail.
  caf::actor puller() {
    auto log = work;
    auto dir = images;
    plan_fn<image_info, image_pull_request> plans
      = [log, dir](const image_pull_request& req,
                   const std::vector<catalog_entry>&)
      -> caf::expected<pull_plan<image_info>> {
      if (req.ref == "refuse-me")
        return make_error(ec::invalid_argument,
                          "no such reference: " + req.ref);
      pull_plan<image_info> p;
      p.what = "image";
      p.key = req.name.empty() ? req.ref : req.name;
      p.source = "source:" + req.ref;
      p.file = &image_info::rootfs;
      auto key = p.key;
      auto source = p.source;
      p.work = [log, dir, key, source](progress_fn progress,
                                       std::atomic<bool>* cancel)
        -> caf::expected<image_info> {
        ++log->calls;
        log->saw_cancel.push_back(cancel->load());
        progress({"download", key, 1, 2});
        if (cancel->load())
          return make_error(ec::cancelled, "cancelled");
        if (log->fail)
          return make_error(ec::unavailable, "registry down");
        fs::create_directories(dir + "/" + key);
        std::ofstream(dir + "/" + key + "/rootfs.ext4") << "ext4";
        image_info info;
        info.name = key;
        info.kernel = "k1";
        info.rootfs = dir + "/" + key + "/rootfs.ext4";
        info.size_bytes = 4;
        info.source = source;
        info.digest = "sha256:x";
        return info;
      };
      return p;
    };
    return spawn_image_puller(w.sys, w.store_handle, plans);
  }

  /// Sent from a fresh scheduled actor, so it reaches the puller after the
  /// requests made before it (the coordinator runs actors in FIFO order).
  void cancel(const caf::actor& p, std::uint64_t stream) {
    auto s = sink;
    w.sys.spawn([=](caf::event_based_actor* self) {
      self->send(p, atom::cancel_v, s, stream);
    });
  }

  std::shared_ptr<reply<image_info>> pull(const caf::actor& p,
                                          std::string ref, std::uint64_t stream,
                                          std::string name = "") {
    return w.ask<image_info>(p, atom::pull_v,
                             image_pull_request{std::move(ref), std::move(name),
                                                "", 0},
                             sink, stream);
  }
};

TEST_F(Puller, concurrent_pulls_of_one_name_share_one_download_and_result) {
  auto p = puller();
  auto a = pull(p, "tools", 1);
  auto b = pull(p, "tools", 2);
  auto c = pull(p, "tools", 3);
  w.sched.run();
  ASSERT_TRUE(a->done && b->done && c->done);
  ASSERT_TRUE(a->value) << error_message(a->value.error());
  ASSERT_TRUE(b->value && c->value);
  EXPECT_EQ(work->calls, 1);
  EXPECT_EQ(b->value->rootfs, a->value->rootfs);
  EXPECT_EQ(c->value->created_at, a->value->created_at);
  EXPECT_TRUE(w.db->find_image("tools"));
  // The joiners were told they joined.
  EXPECT_EQ(std::count(out->stages.begin(), out->stages.end(), "wait"), 2);
}

TEST_F(Puller, different_names_pull_separately) {
  auto p = puller();
  auto a = pull(p, "one", 1);
  auto b = pull(p, "two", 2);
  w.sched.run();
  ASSERT_TRUE(a->value && b->value);
  EXPECT_EQ(work->calls, 2);
  EXPECT_NE(a->value->rootfs, b->value->rootfs);
}

TEST_F(Puller, an_existing_image_from_the_same_source_is_the_answer) {
  auto p = puller();
  pull(p, "tools", 1);
  w.sched.run();
  auto again = pull(p, "tools", 2);
  w.sched.run();
  ASSERT_TRUE(again->value);
  EXPECT_EQ(work->calls, 1);
  // "default" exists from local files: pulling that name is a clash.
  auto clash = pull(p, "other", 3, "default");
  w.sched.run();
  ASSERT_FALSE(clash->value);
  EXPECT_EQ(error_code(clash->value.error()), ec::already_exists);
  EXPECT_EQ(work->calls, 1);
}

TEST_F(Puller, one_waiter_cancelling_does_not_stop_the_others) {
  auto p = puller();
  auto a = pull(p, "tools", 1);
  auto b = pull(p, "tools", 2);
  cancel(p, 1);
  w.sched.run();
  ASSERT_FALSE(a->value);
  EXPECT_EQ(error_code(a->value.error()), ec::cancelled);
  ASSERT_TRUE(b->value);
  ASSERT_EQ(work->saw_cancel, std::vector<bool>{false});
}

TEST_F(Puller, the_last_waiter_cancelling_stops_the_pull_and_leaves_nothing) {
  auto p = puller();
  auto a = pull(p, "tools", 1);
  cancel(p, 1);
  w.sched.run();
  ASSERT_FALSE(a->value);
  EXPECT_EQ(error_code(a->value.error()), ec::cancelled);
  EXPECT_EQ(work->saw_cancel, std::vector<bool>{true});
  EXPECT_FALSE(w.db->find_image("tools"));
  EXPECT_FALSE(fs::exists(images + "/tools"));
  // The name is free again.
  auto b = pull(p, "tools", 2);
  w.sched.run();
  EXPECT_TRUE(b->value);
}

TEST_F(Puller, a_failed_pull_reaches_every_waiter_and_registers_nothing) {
  work->fail = true;
  auto p = puller();
  auto a = pull(p, "tools", 1);
  auto b = pull(p, "tools", 2);
  w.sched.run();
  ASSERT_FALSE(a->value);
  ASSERT_FALSE(b->value);
  EXPECT_EQ(error_message(b->value.error()), "registry down");
  EXPECT_EQ(work->calls, 1);
  EXPECT_FALSE(w.db->find_image("tools"));
}

TEST_F(Puller, a_request_the_planner_refuses_gets_the_planners_error) {
  auto p = puller();
  auto bad = pull(p, "refuse-me", 1);
  w.sched.run();
  ASSERT_TRUE(bad->done);
  ASSERT_FALSE(bad->value);
  EXPECT_EQ(error_message(bad->value.error()), "no such reference: refuse-me");
  EXPECT_EQ(work->calls, 0);
}

TEST_F(Puller, progress_reaches_every_waiter) {
  auto p = puller();
  pull(p, "tools", 1);
  pull(p, "tools", 2);
  w.sched.run();
  EXPECT_EQ(std::count(out->stages.begin(), out->stages.end(), "download"), 2);
}

} // namespace
} // namespace banger::test
