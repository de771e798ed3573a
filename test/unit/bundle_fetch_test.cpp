// fetch_bundle over a cpp-httplib server on 127.0.0.1 and from local files:
// a good bundle, wrong sha256 or size, a truncated body, 404, cancel, a full
// disk. Every failure leaves the work directory empty.

#include "services/bundle.hpp"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "services/error.hpp"
#include "services/sha256.hpp"
#include "test/unit/loopback_server.hpp"
#include "test/unit/small_tmpfs.hpp"
#include "test/unit/temp_dir.hpp"

namespace banger {
namespace {

namespace fs = std::filesystem;
using test::temp_dir;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::size_t entries_in(const std::string& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec);
       it != fs::directory_iterator(); ++it)
    ++n;
  return n;
}

class BundleFetch : public ::testing::Test {
protected:
  std::string body;
  test::loopback_server server;
  temp_dir tmp;
  std::string work;

  void SetUp() override {
    for (int i = 0; i < 300000; ++i)
      body += static_cast<char>('a' + i % 23);
    work = tmp.path() + "/work";
    server.srv.Get("/b/good.tar.zst",
                   [this](const auto&, httplib::Response& r) {
                     r.set_content(body, "application/octet-stream");
                   });
    server.srv.Get("/moved", [](const auto&, httplib::Response& r) {
      r.set_redirect("/b/good.tar.zst");
    });
    // Announces the whole length, sends half, hangs up.
    server.srv.Get("/b/cut.tar.zst", [this](const auto&, httplib::Response& r) {
      auto half = body.substr(0, body.size() / 2);
      r.set_content_provider(
          body.size(), "application/octet-stream",
          [half](std::size_t offset, std::size_t, httplib::DataSink& sink) {
            if (offset >= half.size())
              return false;
            sink.write(half.data() + offset, half.size() - offset);
            return true;
          });
    });
    server.start();
  }

  catalog_entry entry(const std::string& url) const {
    catalog_entry e;
    e.kind = "image";
    e.name = "deb";
    e.url = url;
    e.sha256 = sha256_hex(body);
    e.size = body.size();
    e.arch = "amd64";
    return e;
  }

  caf::expected<std::string> fetch(const catalog_entry& e,
                                   std::atomic<bool>* cancel = nullptr) {
    bundle_fetch_options o;
    o.work_dir = work;
    o.cancel = cancel;
    o.read_timeout = std::chrono::seconds{5};
    return fetch_bundle(e, o);
  }

  void expect_fails(const catalog_entry& e, ec code,
                    const std::vector<std::string>& in_message) {
    auto r = fetch(e);
    ASSERT_FALSE(r) << "accepted " << e.url;
    EXPECT_EQ(error_code(r.error()), code) << error_message(r.error());
    auto msg = error_message(r.error());
    EXPECT_NE(msg.find(e.url), std::string::npos) << msg;
    EXPECT_NE(msg.find("\"deb\""), std::string::npos) << msg;
    for (auto& s : in_message)
      EXPECT_NE(msg.find(s), std::string::npos) << msg;
    EXPECT_EQ(entries_in(work), 0u) << "left files behind";
  }
};

TEST_F(BundleFetch, GoodBundleIsVerifiedAndReported) {
  auto e = entry(server.origin() + "/b/good.tar.zst");
  std::uint64_t last_done = 0, last_total = 0;
  int calls = 0;
  bundle_fetch_options o;
  o.work_dir = work;
  o.on_progress = [&](std::uint64_t done, std::uint64_t total) {
    EXPECT_GE(done, last_done);
    last_done = done;
    last_total = total;
    ++calls;
  };
  auto r = fetch_bundle(e, o);
  ASSERT_TRUE(r) << error_message(r.error());
  EXPECT_EQ(read_all(*r), body);
  EXPECT_EQ(fs::path(*r).parent_path(), fs::path(work));
  EXPECT_EQ(entries_in(work), 1u); // no temporary file left
  EXPECT_EQ(last_done, body.size());
  EXPECT_EQ(last_total, body.size());
  EXPECT_GE(calls, 2);
}

TEST_F(BundleFetch, FollowsRedirects) {
  auto r = fetch(entry(server.origin() + "/moved"));
  ASSERT_TRUE(r) << error_message(r.error());
  EXPECT_EQ(read_all(*r), body);
}

TEST_F(BundleFetch, WrongSha256IsRefused) {
  auto e = entry(server.origin() + "/b/good.tar.zst");
  auto actual = e.sha256;
  e.sha256 = std::string(64, '0');
  expect_fails(e, ec::bad_state, {actual, e.sha256});
}

TEST_F(BundleFetch, WrongSizeIsRefused) {
  auto e = entry(server.origin() + "/b/good.tar.zst");
  e.size = body.size() + 10;
  expect_fails(e, ec::bad_state,
               {std::to_string(body.size()), std::to_string(e.size)});
  e.size = body.size() - 10;
  expect_fails(e, ec::bad_state, {"longer than", std::to_string(e.size)});
}

TEST_F(BundleFetch, TruncatedBodyIsRefused) {
  auto e = entry(server.origin() + "/b/cut.tar.zst");
  expect_fails(e, ec::bad_state, {std::to_string(body.size())});
}

TEST_F(BundleFetch, MissingFileIsNotFound) {
  expect_fails(entry(server.origin() + "/b/nope.tar.zst"), ec::not_found,
               {"HTTP 404"});
}

TEST_F(BundleFetch, CancelStopsAndCleansUp) {
  std::atomic<bool> cancel{false};
  auto e = entry(server.origin() + "/b/good.tar.zst");
  bundle_fetch_options o;
  o.work_dir = work;
  o.cancel = &cancel;
  o.on_progress = [&](std::uint64_t done, std::uint64_t) {
    if (done > 0)
      cancel = true;
  };
  auto r = fetch_bundle(e, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::cancelled) << error_message(r.error());
  EXPECT_EQ(entries_in(work), 0u);
}

TEST_F(BundleFetch, LocalPathsAndFileUrls) {
  auto src = tmp.path() + "/src.tar.zst";
  std::ofstream(src, std::ios::binary) << body;
  for (auto url : {src, "file://" + src}) {
    auto r = fetch(entry(url));
    ASSERT_TRUE(r) << error_message(r.error());
    EXPECT_EQ(read_all(*r), body);
    fs::remove(*r);
  }
  expect_fails(entry(tmp.path() + "/missing.tar.zst"), ec::not_found, {});
  std::ofstream(src, std::ios::binary | std::ios::app) << "x";
  expect_fails(entry(src), ec::bad_state, {"longer than"});
}

TEST_F(BundleFetch, FullDiskIsNamedAndLeavesNothing) {
  auto src = tmp.path() + "/big.tar.zst";
  std::ofstream(src, std::ios::binary) << body; // 300 kB into 128 kB
  fs::create_directories(work);
  auto e = entry(src);
  auto r = test::in_small_tmpfs(work, "128k", [&] {
    bundle_fetch_options o;
    o.work_dir = work;
    auto got = fetch_bundle(e, o);
    if (got)
      return std::string{"fetch succeeded"};
    return error_message(got.error())
           + "|left=" + std::to_string(entries_in(work));
  });
  if (!r.skipped.empty())
    GTEST_SKIP() << r.skipped;
  EXPECT_NE(r.text.find("No space left on device"), std::string::npos)
      << r.text;
  EXPECT_NE(r.text.find("free some space"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("|left=0"), std::string::npos) << r.text;
}

TEST_F(BundleFetch, EntryWithoutChecksumOrWithABadNameIsRefused) {
  auto e = entry(server.origin() + "/b/good.tar.zst");
  e.sha256.clear();
  auto r = fetch(e);
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::invalid_argument);
  // A hand-made entry whose name would escape work_dir.
  e = entry(server.origin() + "/b/good.tar.zst");
  e.name = "../escape";
  r = fetch(e);
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::invalid_argument);
  EXPECT_FALSE(fs::exists(tmp.path() + "/escape"));
}

} // namespace
} // namespace banger
