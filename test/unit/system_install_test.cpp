// `banger system install`'s rendering: the units and tmpfiles.d file from
// deploy/*.in, the checks on what goes into them, and the marker's round trip.
// (test/lifecycle renders through the CLI and runs systemd-analyze verify.)

#include "services/system_install.hpp"

#include <fstream>

#include <gtest/gtest.h>

#include "services/error.hpp"
#include "services/paths.hpp"
#include "test/unit/temp_dir.hpp"

namespace banger {
namespace {

system_install_params params() {
  system_install_params p;
  p.owner = "alice";
  p.owner_uid = 1000;
  p.owner_group = "staff";
  p.owner_gid = 50;
  p.bin_dir = "/usr/local/bin";
  p.tap_prefix = "bgtap";
  p.supplementary_groups = {"kvm"};
  p.version = "0.1.0";
  return p;
}

const rendered_file& file(const std::vector<rendered_file>& files,
                          const std::string& path) {
  for (auto& f : files)
    if (f.path == path)
      return f;
  static rendered_file none;
  ADD_FAILURE() << "no rendered file " << path;
  return none;
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST(render_template, replaces_every_placeholder) {
  auto r = render_template("a=@A@ b=@B_C@ @A@", {{"A", "1"}, {"B_C", "x y"}});
  ASSERT_TRUE(r) << error_message(r.error());
  EXPECT_EQ(*r, "a=1 b=x y 1");
}

TEST(render_template, a_placeholder_without_value_is_an_error) {
  auto r = render_template("ExecStart=@BIN_DIR@/bangerd @NEW_THING@",
                           {{"BIN_DIR", "/b"}});
  ASSERT_FALSE(r);
  EXPECT_NE(error_message(r.error()).find("@NEW_THING@"), std::string::npos)
      << error_message(r.error());
}

TEST(render_template, leaves_lone_at_signs) {
  auto r = render_template("user@host and @ alone, a@b@c", {});
  ASSERT_TRUE(r) << error_message(r.error());
  EXPECT_EQ(*r, "user@host and @ alone, a@b@c");
}

TEST(system_install, renders_units_tmpfiles_and_marker) {
  auto files = render_system_files(params());
  ASSERT_TRUE(files) << error_message(files.error());
  ASSERT_EQ(files->size(), 4u);
  for (auto& f : *files) {
    // Every placeholder is filled.
    for (auto key : {"@OWNER", "@BIN_DIR", "@TAP_PREFIX", "@BRIDGE", "@SUBNET",
                     "@SUPPLEMENTARY"})
      EXPECT_EQ(f.content.find(key), std::string::npos) << f.path << ":\n"
                                                        << f.content;
  }
  auto& daemon = file(*files, "/etc/systemd/system/bangerd.service").content;
  for (auto line :
       {"User=alice", "Group=staff", "SupplementaryGroups=kvm",
        "ExecStart=/usr/local/bin/bangerd --system", "KillMode=process",
        "SendSIGKILL=no", "NoNewPrivileges=yes", "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/banger /run/banger/bangerd",
        "ProtectHome=read-only", "PrivateTmp=yes", "CapabilityBoundingSet=",
        "Wants=banger-helper.service", "WantedBy=multi-user.target"})
    EXPECT_TRUE(has_line(daemon, line)) << "missing " << line << " in\n"
                                        << daemon;
  // QEMU under TCG writes code it then runs.
  EXPECT_EQ(daemon.find("\nMemoryDenyWriteExecute="), std::string::npos)
      << daemon;

  auto& helper =
      file(*files, "/etc/systemd/system/banger-helper.service").content;
  for (auto line :
       {"ExecStart=/usr/local/bin/banger-helper --owner-uid 1000 --socket "
        "/run/banger/helper/helper.sock --state-dir /var/lib/banger "
        "--tap-prefix bgtap --bridge banger0 --subnet 172.16.0.0/24",
        "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_CHOWN",
        "KillMode=process", "SendSIGKILL=no", "NoNewPrivileges=yes",
        "ProtectSystem=strict", "ReadWritePaths=/run/banger/helper",
        "ProtectHome=yes", "PrivateTmp=yes", "DeviceAllow=/dev/net/tun rw"})
    EXPECT_TRUE(has_line(helper, line)) << "missing " << line << " in\n"
                                        << helper;
  EXPECT_EQ(helper.find("User="), std::string::npos)
      << "the helper runs as root";

  auto& tmpfiles = file(*files, "/etc/tmpfiles.d/banger.conf").content;
  for (auto line :
       {"d      /var/lib/banger       0700 1000  50  -",
        "d      /run/banger/bangerd   0700 1000  50  -",
        "d      /run/banger/helper    0755 0            0            -"})
    EXPECT_TRUE(has_line(tmpfiles, line)) << "missing " << line << " in\n"
                                          << tmpfiles;
}

TEST(system_install, without_kvm_group_no_supplementary_groups) {
  auto p = params();
  p.supplementary_groups.clear();
  auto files = render_system_files(p);
  ASSERT_TRUE(files) << error_message(files.error());
  auto& daemon = file(*files, "/etc/systemd/system/bangerd.service").content;
  EXPECT_EQ(daemon.find("\nSupplementaryGroups="), std::string::npos) << daemon;
}

TEST(system_install, refuses_values_systemd_would_misread) {
  struct bad_case {
    const char* what;
    void (*change)(system_install_params&);
    const char* says;
  };
  for (auto& c : std::initializer_list<bad_case>{
           {"root owner",
            [](auto& p) {
              p.owner = "root";
              p.owner_uid = 0;
            },
            "--owner USER"},
           {"space in bin_dir", [](auto& p) { p.bin_dir = "/opt/my tools"; },
            "/opt/my tools"},
           {"specifier in bin_dir", [](auto& p) { p.bin_dir = "/opt/%h"; },
            "/opt/%h"},
           {"variable in bin_dir", [](auto& p) { p.bin_dir = "/opt/$HOME"; },
            "/opt/$HOME"},
           {"relative bin_dir", [](auto& p) { p.bin_dir = "build/bin"; },
            "absolute"},
           {"newline in owner",
            [](auto& p) { p.owner = "a\nExecStartPre=/bin/sh"; }, "owner"},
           {"odd group",
            [](auto& p) { p.supplementary_groups = {"kvm users"}; },
            "kvm users"},
           // Root's network policy goes on the helper's command line.
           {"odd bridge", [](auto& p) { p.bridge = "br0 --subnet"; },
            "br0 --subnet"},
           {"host bits in subnet", [](auto& p) { p.subnet = "10.0.0.1/24"; },
            "10.0.0.1/24"},
       }) {
    auto p = params();
    c.change(p);
    auto files = render_system_files(p);
    ASSERT_FALSE(files) << c.what;
    EXPECT_EQ(error_code(files.error()), ec::invalid_argument) << c.what;
    EXPECT_NE(error_message(files.error()).find(c.says), std::string::npos)
        << c.what << ": " << error_message(files.error());
  }
}

TEST(system_install, marker_round_trips) {
  test::temp_dir dir;
  auto files = render_system_files(params());
  ASSERT_TRUE(files) << error_message(files.error());
  auto& marker = file(*files, system_install_marker());
  auto path = system_install_marker(dir.path());
  std::filesystem::create_directories(
      std::filesystem::path(path).parent_path());
  std::ofstream(path) << marker.content;
  auto back = read_install_marker(path);
  ASSERT_TRUE(back) << error_message(back.error());
  EXPECT_EQ(back->owner, "alice");
  EXPECT_EQ(back->owner_uid, 1000u);
  EXPECT_EQ(back->owner_group, "staff");
  EXPECT_EQ(back->owner_gid, 50u);
  EXPECT_EQ(back->bin_dir, "/usr/local/bin");
  EXPECT_EQ(back->tap_prefix, "bgtap");
  EXPECT_EQ(back->version, "0.1.0");
}

TEST(system_install, marker_missing_or_broken) {
  test::temp_dir dir;
  auto path = dir.path() + "/system-install.toml";
  auto missing = read_install_marker(path);
  ASSERT_FALSE(missing);
  EXPECT_EQ(error_code(missing.error()), ec::not_found);
  std::ofstream(path) << "owner = \"alice\"\nbin_dir = [\n";
  auto broken = read_install_marker(path);
  ASSERT_FALSE(broken);
  EXPECT_EQ(error_code(broken.error()), ec::invalid_argument);
  EXPECT_NE(error_message(broken.error()).find(path + ":"), std::string::npos)
      << error_message(broken.error());
}

TEST(system_paths, are_fixed_and_keep_the_helper_in_roots_directory) {
  auto p = system_paths();
  EXPECT_EQ(p.database(), "/var/lib/banger/state.db");
  EXPECT_EQ(p.config_file(), "/etc/banger/config.toml");
  EXPECT_EQ(p.socket(), "/run/banger/bangerd/bangerd.sock");
  EXPECT_EQ(p.helper_socket(), "/run/banger/helper/helper.sock");
  // The templates use the same paths.
  EXPECT_NE(
      std::string{helper_unit_template()}.find("--socket " + p.helper_socket()),
      std::string::npos);
  // A user install keeps the helper in root's run directory, never under
  // the owner's runtime dir (which the owner could point elsewhere).
  paths user;
  user.runtime_dir = "/run/user/1000/banger";
  EXPECT_EQ(user.helper_socket().rfind(root_run_dir() + "/helper-", 0), 0u)
      << user.helper_socket();
  EXPECT_EQ(user.helper_socket().find(user.runtime_dir), std::string::npos)
      << user.helper_socket();
}

} // namespace
} // namespace banger
