// `banger system install|status|uninstall --root DIR` with the real CLI: the
// rendered units pass `systemd-analyze verify` without a single warning, the
// tmpfiles.d file makes the directories it promises, and uninstall removes
// what install wrote. Everything lands in a temp dir; the host's /etc and
// /usr are never written (the one host-mode test runs only where PID 1 is
// not systemd, where install must refuse before writing anything).

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "services/process.hpp"
#include "test/unit/temp_dir.hpp"

namespace banger {
namespace {

namespace fs = std::filesystem;

// The unprivileged owner in tests (the e2e harness uses the same one).
constexpr const char* owner = "banger-e2e";

run_result sh(std::vector<std::string> argv, std::string stdin_data = {}) {
  run_options o;
  o.timeout = std::chrono::seconds(60);
  o.stdin_data = std::move(stdin_data);
  auto r = run(argv, o);
  if (!r) {
    ADD_FAILURE() << "cannot run " << argv[0];
    return {};
  }
  return *r;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class system_install_cli : public ::testing::Test {
protected:
  void SetUp() override {
    if (::geteuid() != 0)
      GTEST_SKIP()
          << "needs root: creates the test user, chowns in the temp root";
    for (auto tool : {"/usr/bin/systemctl", "/usr/bin/systemd-analyze",
                      "/usr/bin/systemd-tmpfiles"})
      if (::access(tool, X_OK) != 0)
        GTEST_SKIP() << "needs " << tool
                     << " (package systemd, scripts/deps.sh)";
    if (::getpwnam(owner) == nullptr)
      sh({"useradd", "--system", "--no-create-home", "--home-dir",
          "/nonexistent", "--shell", "/usr/sbin/nologin", owner});
    auto* pw = ::getpwnam(owner);
    ASSERT_NE(pw, nullptr) << "cannot create the test user " << owner;
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
    root_ = dir_.path();
  }

  run_result banger(std::vector<std::string> args) {
    args.insert(args.begin(), BANGER_BIN);
    return sh(args);
  }

  run_result install() {
    return banger({"system", "install", "--root", root_, "--owner", owner,
                   "--bin-dir", BANGER_BIN_DIR});
  }

  fs::path unit(const char* name) const {
    return fs::path(root_) / "etc/systemd/system" / name;
  }

  test::temp_dir dir_{"banger-sysroot"};
  std::string root_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
};

TEST_F(system_install_cli, install_renders_enables_and_verifies_cleanly) {
  auto r = install();
  ASSERT_TRUE(r.ok()) << r.out << r.err;
  for (auto f :
       {"etc/systemd/system/bangerd.service",
        "etc/systemd/system/banger-helper.service",
        "etc/tmpfiles.d/banger.conf", "etc/banger/system-install.toml"})
    EXPECT_TRUE(fs::exists(fs::path(root_) / f)) << f << "\n" << r.out;
  // `systemctl --root enable` made the [Install] links.
  for (auto f : {"bangerd.service", "banger-helper.service"})
    EXPECT_TRUE(fs::is_symlink(
        fs::path(root_) / "etc/systemd/system/multi-user.target.wants" / f))
        << f;
  auto daemon = slurp(unit("bangerd.service"));
  EXPECT_NE(daemon.find(std::string("\nExecStart=") + BANGER_BIN_DIR
                        + "/bangerd --system\n"),
            std::string::npos)
      << daemon;
  EXPECT_NE(daemon.find(std::string("\nUser=") + owner + "\n"),
            std::string::npos)
      << daemon;
  auto helper = slurp(unit("banger-helper.service"));
  EXPECT_NE(helper.find("--owner-uid " + std::to_string(uid_) + " "),
            std::string::npos)
      << helper;

  // verify loads the units as PID 1 would and checks the binaries exist.
  // It reports many problems (unknown keys, bad values) as warnings with
  // exit 0, so any output at all is a failure here.
  auto v = sh({"systemd-analyze", "verify", "--man=no",
               unit("banger-helper.service"), unit("bangerd.service")});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_EQ(v.out + v.err, "") << "systemd-analyze verify is not silent";

  auto st = banger({"system", "status", "--root", root_});
  EXPECT_TRUE(st.ok()) << st.out << st.err;
  EXPECT_NE(st.out.find(std::string("owner ") + owner), std::string::npos)
      << st.out;
  EXPECT_NE(st.out.find("enabled"), std::string::npos) << st.out;

  // Installing again (an update) is fine and changes nothing.
  auto before = daemon;
  auto again = install();
  EXPECT_TRUE(again.ok()) << again.out << again.err;
  EXPECT_EQ(slurp(unit("bangerd.service")), before);
}

// The check above can fail: the same verify run flags a unit whose binary is
// missing, and prints a warning for a misspelt directive.
TEST_F(system_install_cli, verify_catches_broken_units) {
  ASSERT_TRUE(install().ok());
  auto text = slurp(unit("bangerd.service"));
  auto broken = fs::path(root_) / "broken.service";
  auto missing = text;
  auto at = missing.find(std::string(BANGER_BIN_DIR) + "/bangerd");
  ASSERT_NE(at, std::string::npos);
  missing.replace(at, std::string(BANGER_BIN_DIR).size(), "/nonexistent/bin");
  std::ofstream(broken) << missing;
  auto v = sh({"systemd-analyze", "verify", "--man=no", broken});
  EXPECT_NE(v.exit_code, 0) << v.out << v.err;
  auto typo = text;
  typo.replace(typo.find("KillMode="), 9, "KilMode=");
  std::ofstream(broken, std::ios::trunc) << typo;
  v = sh({"systemd-analyze", "verify", "--man=no", broken});
  EXPECT_NE(v.out + v.err, "") << "a misspelt directive went unnoticed";
}

TEST_F(system_install_cli,
       tmpfiles_make_the_directories_with_owners_and_modes) {
  ASSERT_TRUE(install().ok());
  auto conf = fs::path(root_) / "etc/tmpfiles.d/banger.conf";
  auto r = sh({"systemd-tmpfiles", "--root=" + root_, "--create", conf});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "");
  struct want {
    const char* path;
    uid_t uid;
    mode_t mode;
  };
  for (auto w :
       {want{"var/lib/banger", uid_, 0700}, want{"etc/banger", 0, 0755},
        want{"run/banger", 0, 0755}, want{"run/banger/bangerd", uid_, 0700},
        want{"run/banger/helper", 0, 0755}}) {
    struct stat st {};
    ASSERT_EQ(::stat((fs::path(root_) / w.path).c_str(), &st), 0) << w.path;
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << w.path;
    EXPECT_EQ(st.st_uid, w.uid) << w.path;
    EXPECT_EQ(st.st_mode & 07777, w.mode) << w.path;
  }
}

TEST_F(system_install_cli, uninstall_removes_the_files_and_purge_the_state) {
  ASSERT_TRUE(install().ok());
  auto state = fs::path(root_) / "var/lib/banger";
  fs::create_directories(state / "vms");
  std::ofstream(state / "state.db") << "x";
  auto r = banger({"system", "uninstall", "--root", root_});
  ASSERT_TRUE(r.ok()) << r.out << r.err;
  for (auto f :
       {"etc/systemd/system/bangerd.service",
        "etc/systemd/system/banger-helper.service",
        "etc/systemd/system/multi-user.target.wants/bangerd.service",
        "etc/tmpfiles.d/banger.conf", "etc/banger/system-install.toml"})
    EXPECT_FALSE(fs::exists(fs::path(root_) / f)) << f;
  EXPECT_TRUE(fs::exists(state / "state.db"))
      << "state is kept without --purge";
  auto st = banger({"system", "status", "--root", root_});
  EXPECT_EQ(st.exit_code, 1) << st.out;

  // --purge without a terminal and without --yes refuses and deletes nothing.
  auto p = banger({"system", "uninstall", "--root", root_, "--purge"});
  EXPECT_EQ(p.exit_code, 1) << p.out << p.err;
  EXPECT_NE(p.err.find("--yes"), std::string::npos) << p.err;
  EXPECT_TRUE(fs::exists(state / "state.db"));
  p = banger({"system", "uninstall", "--root", root_, "--purge", "--yes"});
  EXPECT_TRUE(p.ok()) << p.out << p.err;
  EXPECT_FALSE(fs::exists(state));
  EXPECT_TRUE(fs::exists(root_)) << "only banger's directories go";
}

// A unit deleted by hand does not keep uninstall from removing the rest.
TEST_F(system_install_cli, uninstall_copes_with_a_unit_removed_by_hand) {
  ASSERT_TRUE(install().ok());
  fs::remove(unit("bangerd.service"));
  auto r = banger({"system", "uninstall", "--root", root_});
  EXPECT_TRUE(r.ok()) << r.out << r.err;
  EXPECT_FALSE(fs::exists(unit("banger-helper.service")));
  EXPECT_FALSE(fs::exists(fs::path(root_) / "etc/banger/system-install.toml"));
  for (auto u : {"banger-helper.service", "bangerd.service"})
    EXPECT_FALSE(fs::is_symlink(
        fs::path(root_) / "etc/systemd/system/multi-user.target.wants" / u))
        << u;
}

TEST_F(system_install_cli, bad_inputs_are_refused_and_nothing_is_written) {
  auto r = banger({"system", "install", "--root", root_, "--owner", "root",
                   "--bin-dir", BANGER_BIN_DIR});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--owner USER"), std::string::npos) << r.err;
  r = banger({"system", "install", "--root", root_, "--owner", owner,
              "--bin-dir", "/nonexistent/bin"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent/bin/bangerd"), std::string::npos) << r.err;
  r = banger(
      {"system", "install", "--root", root_, "--owner", "no-such-user-x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no-such-user-x"), std::string::npos) << r.err;
  r = banger(
      {"system", "install", "--root", root_ + "/missing", "--owner", owner});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a directory"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::is_empty(root_)) << "a refused install left files behind";
  // A bad config.toml under the root is reported with its line.
  fs::create_directories(fs::path(root_) / "etc/banger");
  std::ofstream(fs::path(root_) / "etc/banger/config.toml")
      << "[network]\nbrige = \"x\"\n";
  r = install();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("config.toml:2"), std::string::npos) << r.err;
  std::vector<std::string> files;
  for (auto& e : fs::recursive_directory_iterator(root_))
    if (!e.is_directory())
      files.push_back(e.path().string());
  EXPECT_EQ(files, std::vector<std::string>{root_ + "/etc/banger/config.toml"})
      << "a refused install left files behind";
}

// systemd runs banger-helper as root: a copy another user owns, or one the
// group may write, would hand root to them. Refused, naming file and fix.
TEST_F(system_install_cli, a_helper_root_does_not_own_alone_is_refused) {
  test::temp_dir bin{"banger-bin"};
  for (auto name : {"bangerd", "banger-helper"}) {
    auto path = fs::path(bin.path()) / name;
    std::ofstream(path) << "#!/bin/sh\nexit 0\n";
    fs::permissions(path, fs::perms(0755));
  }
  auto helper = bin.path() + "/banger-helper";
  ASSERT_EQ(::chown(helper.c_str(), uid_, gid_), 0);
  auto r = banger({"system", "install", "--root", root_, "--owner", owner,
                   "--bin-dir", bin.path()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(helper + " is owned by uid " + std::to_string(uid_)),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("install -o root"), std::string::npos) << r.err;
  ASSERT_EQ(::chown(helper.c_str(), 0, 0), 0);
  fs::permissions(helper, fs::perms(0775));
  r = banger({"system", "install", "--root", root_, "--owner", owner,
              "--bin-dir", bin.path()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("writable by group or others"), std::string::npos)
      << r.err;
  EXPECT_TRUE(fs::is_empty(root_)) << "a refused install left files behind";
}

TEST_F(system_install_cli, without_systemd_install_points_to_daemon_start) {
  if (fs::is_directory("/run/systemd/system"))
    GTEST_SKIP() << "this host runs systemd: the host-mode refusal cannot be "
                    "tested without installing for real";
  ASSERT_FALSE(fs::exists("/etc/systemd/system/bangerd.service"));
  auto r = banger(
      {"system", "install", "--owner", owner, "--bin-dir", BANGER_BIN_DIR});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("does not run systemd"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("banger daemon start"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists("/etc/systemd/system/bangerd.service"));
  EXPECT_FALSE(fs::exists("/etc/banger/system-install.toml"));
  for (auto verb : {"restart", "uninstall"}) {
    auto v = banger({"system", verb});
    EXPECT_EQ(v.exit_code, 1) << verb;
    EXPECT_NE(v.err.find("banger daemon start"), std::string::npos)
        << verb << ": " << v.err;
  }
}

} // namespace
} // namespace banger
