// `banger config show`'s report: each setting's value and origin (default,
// file:line, flag), and that it refuses what bangerd refuses.

#include "services/settings_report.hpp"

#include <fstream>

#include <gtest/gtest.h>

#include "services/error.hpp"
#include "test/unit/temp_dir.hpp"

namespace banger {
namespace {

const setting_entry& entry(const settings_report& r, const std::string& key) {
  for (auto& e : r.entries)
    if (e.key == key)
      return e;
  static setting_entry none;
  ADD_FAILURE() << "no setting " << key;
  return none;
}

class settings_report_test : public ::testing::Test {
protected:
  std::string write(const std::string& text) {
    std::ofstream(path_) << text;
    return path_;
  }
  test::temp_dir dir_;
  std::string path_ = dir_.path() + "/config.toml";
};

TEST_F(settings_report_test, without_a_file_everything_is_default) {
  auto r = explain_settings(path_, {});
  ASSERT_TRUE(r) << error_message(r.error());
  EXPECT_FALSE(r->file_exists);
  for (auto& e : r->entries)
    EXPECT_EQ(e.origin, "default") << e.key;
  EXPECT_EQ(entry(*r, "network.bridge").value, "banger0");
  EXPECT_EQ(entry(*r, "network.tap_pool").value, 2);
  EXPECT_EQ(entry(*r, "vm.stop_timeout").value, 10);
  // The DNS address shows what it resolves to, not "".
  EXPECT_EQ(entry(*r, "network.dns").value, "172.16.0.1:53");
  EXPECT_EQ(setting_text(entry(*r, "catalog.sources").value), "(none)");
}

TEST_F(settings_report_test, file_values_name_their_line_and_flags_win) {
  write("# mine\n[network]\nsubnet = \"10.9.0.0/24\"\ntap_pool = 5\n\n[vm]\n"
        "stop_timeout = 30\n");
  auto r = explain_settings(path_, {{"--tap-pool", "7"}, {"--bridge", "br9"}});
  ASSERT_TRUE(r) << error_message(r.error());
  EXPECT_TRUE(r->file_exists);
  auto& subnet = entry(*r, "network.subnet");
  EXPECT_EQ(subnet.value, "10.9.0.0/24");
  EXPECT_EQ(subnet.origin, "file");
  EXPECT_EQ(subnet.where, path_ + ":3");
  auto& stop = entry(*r, "vm.stop_timeout");
  EXPECT_EQ(stop.value, 30);
  EXPECT_EQ(stop.where, path_ + ":7");
  auto& pool = entry(*r, "network.tap_pool");
  EXPECT_EQ(pool.value, 7);
  EXPECT_EQ(pool.origin, "flag");
  EXPECT_EQ(pool.where, "--tap-pool");
  EXPECT_EQ(entry(*r, "network.bridge").value, "br9");
  EXPECT_EQ(entry(*r, "network.bridge").origin, "flag");
  EXPECT_EQ(entry(*r, "vm.boot_timeout").origin, "default");
  // The DNS default follows the subnet.
  EXPECT_EQ(entry(*r, "network.dns").value, "10.9.0.1:53");
}

TEST_F(settings_report_test, refuses_what_bangerd_refuses) {
  write("[network]\nbridge = \"bt0\"\nbrige = \"x\"\n");
  auto r = explain_settings(path_, {});
  ASSERT_FALSE(r);
  EXPECT_NE(error_message(r.error()).find(path_ + ":3"), std::string::npos)
      << error_message(r.error());
  write("[vm]\nstop_timeout = 0\n");
  r = explain_settings(path_, {});
  ASSERT_FALSE(r);
  EXPECT_NE(error_message(r.error()).find(path_ + ":2"), std::string::npos)
      << error_message(r.error());
  write("[network]\nsubnet = \"10.9.0.1/24\"\n");
  r = explain_settings(path_, {});
  ASSERT_FALSE(r);
  EXPECT_NE(error_message(r.error()).find("host bits"), std::string::npos)
      << error_message(r.error());
  std::filesystem::remove(path_);
  r = explain_settings(path_, {{"--tap-pool", "65"}});
  ASSERT_FALSE(r);
  EXPECT_NE(error_message(r.error()).find("--tap-pool 65"), std::string::npos)
      << error_message(r.error());
  r = explain_settings(path_, {{"--stop-timeout", "ten"}});
  ASSERT_FALSE(r);
  r = explain_settings(path_, {{"--subnet", "nonsense"}});
  ASSERT_FALSE(r);
  EXPECT_NE(error_message(r.error()).find("nonsense"), std::string::npos);
  r = explain_settings(path_, {{"--accel", "hvf"}});
  ASSERT_FALSE(r);
  EXPECT_NE(error_message(r.error()).find("hvf"), std::string::npos);
}

TEST_F(settings_report_test, every_flag_bangerd_takes_is_known) {
  for (auto flag : {"--bridge", "--subnet", "--dns", "--tap-pool",
                    "--stop-timeout", "--boot-timeout", "--accel"})
    EXPECT_NE(std::find(setting_flags().begin(), setting_flags().end(), flag),
              setting_flags().end())
        << flag;
}

} // namespace
} // namespace banger
