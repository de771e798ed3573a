// `banger config show` through the real CLI: values with their origin,
// --json, flags, and a config.toml bangerd would refuse (exit 1, file:line).

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "services/process.hpp"
#include "test/unit/temp_dir.hpp"

namespace banger {
namespace {

class config_show : public ::testing::Test {
protected:
  run_result banger(std::vector<std::string> args) {
    args.insert(args.begin(), BANGER_BIN);
    run_options o;
    o.timeout = std::chrono::seconds(30);
    o.env_extra = {"XDG_CONFIG_HOME=" + dir_.path(),
                   "XDG_STATE_HOME=" + dir_.path() + "/state",
                   "XDG_RUNTIME_DIR=" + dir_.path() + "/run", "NO_COLOR=1"};
    auto r = run(args, o);
    EXPECT_TRUE(r);
    return r ? *r : run_result{};
  }
  void write(const std::string& text) {
    std::filesystem::create_directories(dir_.path() + "/banger");
    std::ofstream(file_) << text;
  }
  test::temp_dir dir_{"banger-config-show"};
  std::string file_ = dir_.path() + "/banger/config.toml";
};

TEST_F(config_show, shows_defaults_file_lines_and_flags) {
  write("[network]\ntap_pool = 5\n[vm]\nboot_timeout = 60\n");
  auto r = banger({"config", "show", "--stop-timeout", "25"});
  ASSERT_TRUE(r.ok()) << r.out << r.err;
  EXPECT_NE(r.out.find("config file: " + file_ + "\n"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("network.tap_pool    5              " + file_ + ":2"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("vm.boot_timeout     60             " + file_ + ":4"),
            std::string::npos)
      << r.out;
  EXPECT_NE(
      r.out.find("vm.stop_timeout     25             flag --stop-timeout"),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("network.bridge      banger0        default"),
            std::string::npos)
      << r.out;

  auto j = banger({"config", "show", "--json"});
  ASSERT_TRUE(j.ok()) << j.err;
  auto doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["file"], file_);
  EXPECT_EQ(doc["file_exists"], true);
  bool seen = false;
  for (auto& s : doc["settings"])
    if (s["key"] == "network.tap_pool") {
      seen = true;
      EXPECT_EQ(s["value"], 5);
      EXPECT_EQ(s["origin"], "file");
      EXPECT_EQ(s["where"], file_ + ":2");
    }
  EXPECT_TRUE(seen) << j.out;
}

TEST_F(config_show, refuses_what_bangerd_refuses) {
  write("[network]\nbridge = \"bt0\"\ntap_pol = 3\n");
  auto r = banger({"config", "show"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(file_ + ":3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tap_pol"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  write("[vm]\nstop_timeout = \"ten\"\n");
  r = banger({"config", "show"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(file_ + ":2"), std::string::npos) << r.err;
  std::filesystem::remove(file_);
  r = banger({"config", "show", "--tap-pool", "99"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--tap-pool 99"), std::string::npos) << r.err;
}

} // namespace
} // namespace banger
