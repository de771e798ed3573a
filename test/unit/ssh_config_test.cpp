#include "services/ssh_config.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "services/doctor.hpp"
#include "services/error.hpp"

namespace fs = std::filesystem;
using namespace banger;

namespace {

/// A temporary HOME and XDG state dir; the real ~/.ssh is never touched.
class ssh_home : public ::testing::Test {
protected:
  void SetUp() override {
    std::string tmpl =
        (fs::temp_directory_path() / "banger-sshcfg-XXXXXX").string();
    root_ = ::mkdtemp(tmpl.data());
    home_ = root_ + "/home";
    fs::create_directories(home_);
    dirs_.state_dir = root_ + "/state/banger";
    dirs_.config_dir = root_ + "/config/banger";
    dirs_.runtime_dir = root_ + "/run/banger";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::string config() const { return home_ + "/.ssh/config"; }

  void seed(const std::string& text, mode_t mode = 0600) {
    fs::create_directories(home_ + "/.ssh");
    write(config(), text);
    ::chmod(config().c_str(), mode);
  }

  static void write(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
  }

  static std::string read(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

  static mode_t mode(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }

  std::string block(const std::string& eol = "\n") const {
    return std::string(include_marker) + eol + "Include \""
           + ssh_config_path(dirs_) + "\"" + eol;
  }

  bool install() {
    auto r = install_include(home_, dirs_);
    EXPECT_TRUE(r) << error_message(r.error());
    return r && *r;
  }
  bool uninstall() {
    auto r = uninstall_include(home_);
    EXPECT_TRUE(r) << error_message(r.error());
    return r && *r;
  }

  std::string root_;
  std::string home_;
  paths dirs_;
};

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos;
       pos = text.find(what, pos + 1))
    ++n;
  return n;
}

const std::string user_config = "# my own settings\n"
                                "Host work\n"
                                "  HostName work.example.com\n"
                                "  User me\n"
                                "\n"
                                "Include ~/.ssh/config.d/*\n"
                                "Host *\n"
                                "  ServerAliveInterval 30"; // no final newline

} // namespace

TEST_F(ssh_home, InstallPutsOneIncludeFirstAndKeepsEveryOtherByte) {
  seed(user_config);
  EXPECT_TRUE(install());
  auto text = read(config());
  EXPECT_EQ(text, block() + user_config);
  EXPECT_EQ(count(text, "Include \"" + ssh_config_path(dirs_)), 1u);
  EXPECT_TRUE(include_installed(home_, dirs_));
}

TEST_F(ssh_home, SecondInstallChangesNothing) {
  seed(user_config);
  ASSERT_TRUE(install());
  auto once = read(config());
  struct stat before {};
  ::stat(config().c_str(), &before);
  EXPECT_FALSE(install());
  struct stat after {};
  ::stat(config().c_str(), &after);
  EXPECT_EQ(read(config()), once);
  EXPECT_EQ(before.st_ino, after.st_ino) << "the file was rewritten";
}

TEST_F(ssh_home, UninstallRestoresTheOriginalBytes) {
  for (const std::string& original :
       {user_config, user_config + "\n", std::string("Host a\r\n  User b\r\n"),
        std::string("Host a\r\n  User b"), std::string(""),
        std::string("\n\n# only comments\n"),
        std::string("Host x\n") + include_marker + "-not-quite\n"}) {
    seed(original);
    EXPECT_TRUE(install());
    EXPECT_FALSE(install());
    EXPECT_TRUE(uninstall());
    EXPECT_EQ(read(config()), original);
    EXPECT_FALSE(uninstall());
    EXPECT_EQ(read(config()), original);
  }
}

TEST_F(ssh_home, CrlfFileGetsACrlfBlock) {
  seed("Host a\r\n  User b\r\n");
  EXPECT_TRUE(install());
  EXPECT_EQ(read(config()), block("\r\n") + "Host a\r\n  User b\r\n");
}

TEST_F(ssh_home, MissingDirAndFileAreCreatedPrivate) {
  ASSERT_FALSE(fs::exists(home_ + "/.ssh"));
  EXPECT_TRUE(install());
  EXPECT_EQ(mode(home_ + "/.ssh"), 0700u);
  EXPECT_EQ(mode(config()), 0600u);
  EXPECT_EQ(read(config()), block());
  EXPECT_TRUE(uninstall());
  EXPECT_EQ(read(config()), "");
}

TEST_F(ssh_home, ExistingModesAreKept) {
  seed(user_config, 0644);
  ::chmod((home_ + "/.ssh").c_str(), 0750);
  EXPECT_TRUE(install());
  EXPECT_EQ(mode(config()), 0644u);
  EXPECT_EQ(mode(home_ + "/.ssh"), 0750u);
  EXPECT_TRUE(uninstall());
  EXPECT_EQ(mode(config()), 0644u);
}

TEST_F(ssh_home, UninstallWithoutInstallChangesNothing) {
  EXPECT_FALSE(uninstall());
  EXPECT_FALSE(fs::exists(config())) << "uninstall must not create the file";
  seed(user_config);
  EXPECT_FALSE(uninstall());
  EXPECT_EQ(read(config()), user_config);
}

TEST_F(ssh_home, UsersOwnIncludeOfBangersConfigIsLeftAlone) {
  auto own = "Include \"" + ssh_config_path(dirs_) + "\"\nHost a\n";
  seed(own);
  EXPECT_FALSE(uninstall());
  EXPECT_EQ(read(config()), own);
}

TEST_F(ssh_home, SymlinkedConfigIsEditedWhereItPoints) {
  fs::create_directories(home_ + "/dotfiles");
  fs::create_directories(home_ + "/.ssh");
  write(home_ + "/dotfiles/ssh_config", user_config);
  fs::create_symlink("../dotfiles/ssh_config", config());
  EXPECT_TRUE(install());
  EXPECT_TRUE(fs::is_symlink(config()));
  EXPECT_EQ(read(home_ + "/dotfiles/ssh_config"), block() + user_config);
  EXPECT_TRUE(uninstall());
  EXPECT_TRUE(fs::is_symlink(config()));
  EXPECT_EQ(read(home_ + "/dotfiles/ssh_config"), user_config);
}

TEST_F(ssh_home, AMovedStateDirReplacesTheOldBlock) {
  seed(user_config);
  ASSERT_TRUE(install());
  dirs_.state_dir = root_ + "/elsewhere/banger";
  EXPECT_TRUE(install());
  auto text = read(config());
  EXPECT_EQ(text, block() + user_config);
  EXPECT_EQ(count(text, include_marker), 1u);
}

TEST(SshConfigText, WithoutIncludeDropsAMarkerWithoutItsInclude) {
  auto text = std::string(include_marker) + "\nHost a\n";
  EXPECT_EQ(without_include(text), "Host a\n");
  EXPECT_FALSE(has_include(text, "/x"));
}

TEST(SshConfigText, ConfigForVmHostsNeverPromptsAndUsesBangersFiles) {
  paths p;
  p.state_dir = "/s/banger";
  auto text = ssh_config_text(p);
  EXPECT_NE(text.find("Host *.vm\n"), std::string::npos);
  EXPECT_NE(text.find("  User root\n"), std::string::npos);
  EXPECT_NE(text.find("  IdentityFile \"/s/banger/ssh/id_ed25519\"\n"),
            std::string::npos);
  EXPECT_NE(text.find("  IdentitiesOnly yes\n"), std::string::npos);
  EXPECT_NE(text.find("  UserKnownHostsFile \"/s/banger/ssh/known_hosts\"\n"),
            std::string::npos);
  EXPECT_NE(text.find("  GlobalKnownHostsFile /dev/null\n"), std::string::npos);
  EXPECT_NE(text.find("  StrictHostKeyChecking accept-new\n"),
            std::string::npos);
  EXPECT_NE(text.find("  CheckHostIP no\n"), std::string::npos);
  EXPECT_NE(text.find("  HashKnownHosts no\n"), std::string::npos);
}

TEST_F(ssh_home, EnsureSshConfigWritesItOnceAndCreatesKnownHosts) {
  auto r = ensure_ssh_config(dirs_);
  ASSERT_TRUE(r) << error_message(r.error());
  EXPECT_TRUE(*r);
  EXPECT_EQ(read(ssh_config_path(dirs_)), ssh_config_text(dirs_));
  EXPECT_EQ(mode(ssh_config_path(dirs_)), 0600u);
  EXPECT_EQ(mode(ssh_dir(dirs_)), 0700u);
  EXPECT_TRUE(fs::exists(known_hosts_path(dirs_)));
  auto again = ensure_ssh_config(dirs_);
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
}

TEST_F(ssh_home, UserKeyIsCreatedOncePrivateAndRecoversItsPublicHalf) {
  if (find_program("ssh-keygen", "/usr/bin:/bin:/usr/local/bin").empty())
    GTEST_SKIP() << "no ssh-keygen";
  auto r = ensure_user_key(dirs_);
  ASSERT_TRUE(r) << error_message(r.error());
  EXPECT_TRUE(*r);
  auto key = ssh_key_path(dirs_);
  EXPECT_EQ(mode(key), 0600u);
  EXPECT_EQ(mode(ssh_dir(dirs_)), 0700u);
  auto priv = read(key);
  auto pub = read(key + ".pub");
  EXPECT_EQ(pub.rfind("ssh-ed25519 ", 0), 0u) << pub;
  EXPECT_NE(pub.find(" banger\n"), std::string::npos) << pub;

  auto again = ensure_user_key(dirs_);
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  EXPECT_EQ(read(key), priv);

  ::chmod(key.c_str(), 0644);
  fs::remove(key + ".pub");
  auto fixed = ensure_user_key(dirs_);
  ASSERT_TRUE(fixed) << error_message(fixed.error());
  EXPECT_TRUE(*fixed);
  EXPECT_EQ(mode(key), 0600u);
  EXPECT_EQ(read(key), priv);
  // Same key material (the comment may differ).
  auto material = [](const std::string& line) {
    return line.substr(0, line.find(' ', line.find(' ') + 1));
  };
  EXPECT_EQ(material(read(key + ".pub")), material(pub));
  for (auto& e : fs::directory_iterator(ssh_dir(dirs_)))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos)
        << "leftover " << e.path();
}

TEST_F(ssh_home, KnownHostsSetReplacesOnlyThatNamesEntries) {
  fs::create_directories(ssh_dir(dirs_));
  auto kh = known_hosts_path(dirs_);
  write(kh, "# kept comment\n"
            "other.vm ssh-ed25519 AAAAother\n"
            "box.vm ssh-ed25519 AAAAold\n"
            "box.vm,alias.vm ssh-rsa AAAArsa\n"
            "@cert-authority *.vm ssh-ed25519 AAAAca\n"
            "boxy.vm ssh-ed25519 AAAAboxy");
  ::chmod(kh.c_str(), 0600);
  auto r = known_hosts_set(dirs_, "box.vm", "ssh-ed25519 AAAAnew root@box\n");
  ASSERT_TRUE(r) << error_message(r.error());
  EXPECT_TRUE(*r);
  EXPECT_EQ(read(kh), "# kept comment\n"
                      "other.vm ssh-ed25519 AAAAother\n"
                      "alias.vm ssh-rsa AAAArsa\n"
                      "@cert-authority *.vm ssh-ed25519 AAAAca\n"
                      "boxy.vm ssh-ed25519 AAAAboxy\n"
                      "box.vm ssh-ed25519 AAAAnew root@box\n");
  EXPECT_EQ(mode(kh), 0600u);

  auto same = known_hosts_set(dirs_, "box.vm", "ssh-ed25519 AAAAnew root@box");
  ASSERT_TRUE(same);
  EXPECT_FALSE(*same);

  auto removed = known_hosts_remove(dirs_, "box.vm");
  ASSERT_TRUE(removed);
  EXPECT_TRUE(*removed);
  EXPECT_EQ(read(kh), "# kept comment\n"
                      "other.vm ssh-ed25519 AAAAother\n"
                      "alias.vm ssh-rsa AAAArsa\n"
                      "@cert-authority *.vm ssh-ed25519 AAAAca\n"
                      "boxy.vm ssh-ed25519 AAAAboxy\n");
  auto again = known_hosts_remove(dirs_, "box.vm");
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
}

TEST_F(ssh_home, KnownHostsHelpersTolerateAMissingFile) {
  auto removed = known_hosts_remove(dirs_, "box.vm");
  ASSERT_TRUE(removed) << error_message(removed.error());
  EXPECT_FALSE(*removed);
  EXPECT_FALSE(fs::exists(known_hosts_path(dirs_)));
  auto r = known_hosts_set(dirs_, "box.vm", "ssh-ed25519 AAAAk");
  ASSERT_TRUE(r) << error_message(r.error());
  EXPECT_EQ(read(known_hosts_path(dirs_)), "box.vm ssh-ed25519 AAAAk\n");
  EXPECT_EQ(mode(known_hosts_path(dirs_)), 0600u);
}

TEST_F(ssh_home, KnownHostsRejectsBadNamesAndKeys) {
  for (auto* bad : {"", "a b", "a,b", "*.vm", "[box.vm]:22"}) {
    auto r = known_hosts_set(dirs_, bad, "ssh-ed25519 AAAAk");
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(error_code(r.error()), ec::invalid_argument);
  }
  for (auto* bad : {"", "ssh-ed25519", "ssh-ed25519 AAAA\nother x"}) {
    auto r = known_hosts_set(dirs_, "box.vm", bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(error_code(r.error()), ec::invalid_argument);
  }
}
