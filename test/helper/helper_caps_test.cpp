// banger-helper with exactly the capabilities its systemd unit leaves it
// (CapabilityBoundingSet= in deploy/banger-helper.service.in, read from the
// compiled-in template): every operation still works. And the check can
// fail: without CAP_NET_ADMIN the same helper refuses to start.

#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/wait.h>
#include <unistd.h>

#include "services/helper_client.hpp"
#include "services/system_install.hpp"
#include "test/helper/calls.hpp"
#include "test/helper/netns.hpp"

namespace banger::test {
namespace {

// "CAP_NET_ADMIN CAP_CHOWN" from the unit's CapabilityBoundingSet= line.
std::vector<std::string> unit_caps() {
  std::istringstream in{std::string{helper_unit_template()}};
  std::string line;
  const std::string key = "CapabilityBoundingSet=";
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) {
      std::istringstream words{line.substr(key.size())};
      std::vector<std::string> caps;
      for (std::string w; words >> w;)
        caps.push_back(w);
      return caps;
    }
  return {};
}

// setpriv's spelling: "-all,+net_admin,+chown".
std::string setpriv_set(const std::vector<std::string>& caps) {
  std::string out = "-all";
  for (auto c : caps) {
    c = c.substr(4); // "CAP_"
    for (auto& ch : c)
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    out += ",+" + c;
  }
  return out;
}

std::uint64_t cap_bit(const std::string& name) {
  if (name == "CAP_NET_ADMIN")
    return 1ull << CAP_NET_ADMIN;
  if (name == "CAP_NET_BIND_SERVICE")
    return 1ull << CAP_NET_BIND_SERVICE;
  if (name == "CAP_CHOWN")
    return 1ull << CAP_CHOWN;
  if (name == "CAP_NET_RAW")
    return 1ull << CAP_NET_RAW;
  if (name == "CAP_DAC_OVERRIDE")
    return 1ull << CAP_DAC_OVERRIDE;
  if (name == "CAP_FOWNER")
    return 1ull << CAP_FOWNER;
  ADD_FAILURE() << "unknown capability " << name << " in the unit";
  return 0;
}

std::uint64_t effective_caps(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("CapEff:", 0) == 0)
      return std::stoull(line.substr(7), nullptr, 16);
  return ~0ull;
}

class HelperCaps : public helper_netns {
protected:
  void SetUp() override {
    helper_netns::SetUp();
    if (IsSkipped() || HasFatalFailure())
      return;
    if (::access("/usr/bin/setpriv", X_OK) != 0)
      GTEST_SKIP() << "needs setpriv (util-linux)";
    caps_ = unit_caps();
    ASSERT_FALSE(caps_.empty())
        << "no CapabilityBoundingSet= in the helper unit";
  }

  void start_with(const std::vector<std::string>& caps) {
    start_helper({}, {"/usr/bin/setpriv", "--bounding-set=" + setpriv_set(caps),
                      "--inh-caps=-all", "--"});
  }

  std::vector<std::string> caps_;
};

TEST_F(HelperCaps, EveryOperationWorksWithTheUnitsCapabilities) {
  start_with(caps_);
  ASSERT_GT(helper_pid_, 0);
  std::uint64_t want = 0;
  for (auto& c : caps_)
    want |= cap_bit(c);
  EXPECT_EQ(effective_caps(helper_pid_), want)
      << "the helper has other capabilities";

  helper_client c(socket_);
  EXPECT_TRUE(ok(c.ensure_bridge({"bgtest0", "10.77.0.1/24"})).created);
  EXPECT_TRUE(ok(c.create_tap({"bgtap0", owner_uid, "bgtest0"})).created);
  auto tap = ok(c.open_tap("bgtap0"));
  EXPECT_TRUE(tap.valid());
  EXPECT_TRUE(ok(c.add_nat({"10.77.0.2", "bgtest0"})).added);
  auto dns = ok(c.bind_dns("10.77.0.1", 53)); // a privileged port
  EXPECT_TRUE(dns.valid());
  auto listed = ok(c.list());
  EXPECT_EQ(listed.taps.size(), 1u);
  EXPECT_EQ(listed.nat.size(), 1u);
  EXPECT_TRUE(ok(c.remove_nat({"10.77.0.2"})).removed);
  tap = unique_fd{};
  EXPECT_TRUE(ok(c.delete_tap({"bgtap0"})).deleted);
}

TEST_F(HelperCaps, WithoutNetAdminItRefusesToStart) {
  std::vector<std::string> fewer;
  for (auto& c : caps_)
    if (c != "CAP_NET_ADMIN")
      fewer.push_back(c);
  ASSERT_LT(fewer.size(), caps_.size()) << "the unit lacks CAP_NET_ADMIN";
  // Its guard rules are part of its job: without nftables it does not serve
  // at all (fails closed), saying why.
  auto log = dir_ + "/start.log";
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 2);
    auto set = "--bounding-set=" + setpriv_set(fewer);
    auto uid = std::to_string(owner_uid);
    auto sock = dir_ + "/helper.sock";
    ::execl("/usr/bin/setpriv", "setpriv", set.c_str(), "--inh-caps=-all", "--",
            BANGER_HELPER_BIN, "--socket", sock.c_str(), "--owner-uid",
            uid.c_str(), "--bridge", test_bridge, "--subnet", test_subnet,
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = -1;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 1);
  std::ifstream in(log);
  std::string err((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(err.find("nftables refused"), std::string::npos) << err;
  EXPECT_NE(err.find("Operation not permitted"), std::string::npos) << err;
}

} // namespace
} // namespace banger::test
