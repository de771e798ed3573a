// The small pure parts of `image pull`: the name derived from a reference,
// the CLI's size parser and transfer line, and publishing a staging dir.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "cli/render.hpp"
#include "services/error.hpp"
#include "services/image_pull.hpp"
#include "services/names.hpp"
#include "services/staging.hpp"
#include "test/unit/temp_dir.hpp"

namespace banger {
namespace {

namespace fs = std::filesystem;

std::string name_of(const std::string& text) {
  auto ref = parse_oci_ref(text);
  EXPECT_TRUE(ref) << text;
  return ref ? image_name_for(*ref) : "";
}

TEST(image_name_for, repository_and_tag) {
  EXPECT_EQ(name_of("debian:bookworm"), "debian-bookworm");
  EXPECT_EQ(name_of("ghcr.io/acme/tool:1.2"), "tool-1-2");
  EXPECT_EQ(name_of("localhost:5000/a/b/dev_box:V2"), "dev-box-v2");
}

TEST(image_name_for, latest_is_left_out) {
  EXPECT_EQ(name_of("alpine"), "alpine");
  EXPECT_EQ(name_of("alpine:latest"), "alpine");
}

TEST(image_name_for, digest_only_uses_its_first_hex_digits) {
  EXPECT_EQ(name_of("alpine@sha256:"
                    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
            "alpine-0123456789ab");
}

TEST(image_name_for, always_a_valid_name) {
  for (const std::string& text :
       {std::string("r.io/x.y:_"),
        "registry.example/x/" + std::string(80, 'y') + ":t",
        std::string("r.io/n:__")}) {
    auto name = name_of(text);
    EXPECT_EQ(validate_object_name("image", name), "") << text << " -> " << name;
  }
}

TEST(parse_size, units_are_powers_of_1024) {
  EXPECT_EQ(banger::parse_size("512M"), 512ull << 20);
  EXPECT_EQ(banger::parse_size("4G"), 4ull << 30);
  EXPECT_EQ(banger::parse_size("4GiB"), 4ull << 30);
  EXPECT_EQ(banger::parse_size("2k"), 2048u);
  EXPECT_EQ(banger::parse_size("1048576"), 1048576u);
}

TEST(parse_size, refuses_garbage_zero_and_overflow) {
  for (auto bad : {"", "G", "0", "0G", "-1G", "1.5G", "4X", "4GBB", "1 G",
                   "99999999999999999999", "17179869184T"})
    EXPECT_FALSE(banger::parse_size(bad)) << bad;
}

TEST(format_transfer, bytes_rate_and_eta) {
  EXPECT_EQ(cli::format_transfer(0, 100 << 20, 0), "0B / 100MiB");
  EXPECT_EQ(cli::format_transfer(50 << 20, 100 << 20, 5),
            "50MiB / 100MiB  10MiB/s  ETA 0:05");
  EXPECT_EQ(cli::format_transfer(100 << 20, 100 << 20, 10),
            "100MiB / 100MiB  10MiB/s");
  EXPECT_EQ(cli::format_transfer(1 << 20, 0, 1), "1MiB  1MiB/s");
}

TEST(progress_bar, fills_by_fraction) {
  EXPECT_EQ(cli::progress_bar(0.5, 10, false), "[#####-----]");
  EXPECT_EQ(cli::progress_bar(2.0, 4, false), "[####]");
  EXPECT_EQ(cli::progress_bar(-1, 4, false), "[----]");
}

TEST(staging, publish_never_replaces_an_existing_dir) {
  test::temp_dir tmp;
  auto parent = tmp.path();
  auto a = make_staging_dir(parent, "pull");
  ASSERT_TRUE(a);
  std::ofstream(*a + "/f") << "new";
  fs::create_directory(parent + "/taken");
  auto r = publish_dir(*a, parent + "/taken");
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::already_exists);
  EXPECT_TRUE(fs::exists(*a + "/f"));
  EXPECT_TRUE(publish_dir(*a, parent + "/fresh"));
  EXPECT_TRUE(fs::exists(parent + "/fresh/f"));
  EXPECT_FALSE(fs::exists(*a));
}

TEST(staging, sweep_removes_only_hidden_dirs) {
  test::temp_dir tmp;
  auto parent = tmp.path();
  ASSERT_TRUE(make_staging_dir(parent, "pull"));
  ASSERT_TRUE(make_staging_dir(parent, "import"));
  fs::create_directory(parent + "/default");
  EXPECT_EQ(sweep_staging_dirs(parent), 2);
  std::vector<std::string> left;
  for (auto& e : fs::directory_iterator(parent))
    left.push_back(e.path().filename().string());
  EXPECT_EQ(left, std::vector<std::string>{"default"});
}

} // namespace
} // namespace banger
