#include "services/doctor.hpp"

#include <filesystem>
#include <fstream>
#include <string>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace fs = std::filesystem;
using namespace banger;

namespace {

/// A fake host under a temp dir: root/{proc,sys,dev} and a bin dir for PATH.
class doctor_host : public ::testing::Test {
protected:
  void SetUp() override {
    std::string tmpl =
        (fs::temp_directory_path() / "banger-doctor-XXXXXX").string();
    root_ = ::mkdtemp(tmpl.data());
    bin_ = root_ + "/bin";
    for (auto* d :
         {"/bin", "/proc", "/dev/net", "/sys/module", "/sys/class/net"})
      fs::create_directories(root_ + d);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  void file(const std::string& rel, const std::string& text = "",
            mode_t mode = 0644) {
    auto path = root_ + "/" + rel;
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
  }
  void program(const std::string& name, const std::string& script) {
    file("bin/" + name, "#!/bin/sh\n" + script + "\n", 0755);
  }
  void cpuinfo(const std::string& flags) {
    file("proc/cpuinfo",
         "processor\t: 0\ncpu MHz\t\t: 2445.430\nflags\t\t: " + flags + "\n\n");
  }

  doctor_env env() const {
    doctor_env e;
    e.root = root_;
    e.search_path = bin_;
    e.dirs.state_dir = root_ + "/state/banger";
    e.dirs.config_dir = root_ + "/config/banger";
    e.dirs.runtime_dir = root_ + "/run/banger";
    e.helper_socket = root_ + "/helper.sock";
    return e;
  }

  std::string root_;
  std::string bin_;
};

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

daemon_facts running_daemon() {
  daemon_facts d;
  d.running = true;
  d.version = "0.1.0";
  d.pid = 42;
  d.kernels = {"default"};
  d.images = {"other", "default"};
  return d;
}

} // namespace

TEST(DoctorStatus, Words) {
  EXPECT_STREQ(to_string(check_status::pass), "PASS");
  EXPECT_STREQ(to_string(check_status::warn), "WARN");
  EXPECT_STREQ(to_string(check_status::fail), "FAIL");
}

TEST_F(doctor_host, FindProgramSkipsNonExecutablesAndRelativeDirs) {
  file("bin/qemu-img", "not executable", 0644);
  EXPECT_EQ(find_program("qemu-img", bin_), "");
  program("qemu-img", "exit 0");
  EXPECT_EQ(find_program("qemu-img", "relative:" + root_ + "/none:" + bin_),
            bin_ + "/qemu-img");
  EXPECT_EQ(find_program("qemu-img", ""), "");
}

TEST_F(doctor_host, ProgramPassesWithItsVersion) {
  program("qemu-system-x86_64",
          "echo 'QEMU emulator version 9.9.9'; echo 'Copyright'");
  auto r = check_program("qemu-system-x86_64", bin_);
  EXPECT_EQ(r.status, check_status::pass) << r.detail;
  EXPECT_EQ(r.check, "qemu-system-x86_64");
  EXPECT_EQ(r.detail,
            "QEMU emulator version 9.9.9 at " + bin_ + "/qemu-system-x86_64");
}

TEST_F(doctor_host, MissingOrBrokenProgramFailsNamingThePackage) {
  auto missing = check_program("qemu-img", bin_);
  EXPECT_EQ(missing.status, check_status::fail);
  EXPECT_TRUE(has(missing.detail, "qemu-utils")) << missing.detail;
  program("qemu-img", "echo broken >&2; exit 3");
  auto broken = check_program("qemu-img", bin_);
  EXPECT_EQ(broken.status, check_status::fail);
  EXPECT_TRUE(has(broken.detail, "broken")) << broken.detail;
}

TEST_F(doctor_host, AccelWarnsWithThePvmReason) {
  cpuinfo("fpu hypervisor lm");
  file("dev/kvm");
  fs::create_directories(root_ + "/sys/module/kvm_pvm");
  auto r = check_accel(root_);
  EXPECT_EQ(r.status, check_status::warn);
  EXPECT_TRUE(has(r.detail, "kvm_pvm")) << r.detail;
  EXPECT_TRUE(has(r.detail, "TCG")) << r.detail;
}

TEST_F(doctor_host, AccelWarnsWithoutVmxOrSvm) {
  cpuinfo("fpu hypervisor lm");
  auto r = check_accel(root_);
  EXPECT_EQ(r.status, check_status::warn);
  EXPECT_TRUE(has(r.detail, "no VT-x/AMD-V")) << r.detail;
}

TEST_F(doctor_host, AccelPassesWithUsableKvm) {
  cpuinfo("fpu vmx lm");
  file("dev/kvm");
  auto r = check_accel(root_);
  EXPECT_EQ(r.status, check_status::pass) << r.detail;
  EXPECT_TRUE(has(r.detail, "VT-x")) << r.detail;
}

TEST_F(doctor_host, Tun) {
  auto missing = check_tun(root_);
  EXPECT_EQ(missing.status, check_status::fail);
  EXPECT_TRUE(has(missing.detail, "modprobe tun")) << missing.detail;
  file("dev/net/tun", "", 0666);
  EXPECT_EQ(check_tun(root_).status, check_status::pass);
}

TEST_F(doctor_host, BridgeWarnsUntilItExists) {
  auto missing = check_bridge(root_, "banger0");
  EXPECT_EQ(missing.status, check_status::warn);
  EXPECT_TRUE(has(missing.detail, "banger0 not created yet")) << missing.detail;
  file("sys/class/net/banger0/operstate", "up\n");
  auto r = check_bridge(root_, "banger0");
  EXPECT_EQ(r.status, check_status::pass);
  EXPECT_EQ(r.detail, "banger0 exists (operstate up)");
}

TEST_F(doctor_host, NftablesFromBinaryOrLibrary) {
  EXPECT_EQ(check_nftables(root_, bin_).status, check_status::warn);
  file("usr/lib/x86_64-linux-gnu/libnftables.so.1");
  auto lib = check_nftables(root_, bin_);
  EXPECT_EQ(lib.status, check_status::pass);
  EXPECT_TRUE(has(lib.detail, "libnftables")) << lib.detail;
  program("nft", "exit 0");
  auto nft = check_nftables(root_, bin_);
  EXPECT_EQ(nft.status, check_status::pass);
  EXPECT_EQ(nft.detail, "nft at " + bin_ + "/nft");
}

TEST_F(doctor_host, Helper) {
  auto sock = root_ + "/helper.sock";
  auto missing = check_helper(sock);
  EXPECT_EQ(missing.status, check_status::warn);
  EXPECT_TRUE(has(missing.detail, "sudo banger daemon start"));

  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(sock.size(), sizeof addr.sun_path);
  std::copy(sock.begin(), sock.end(), addr.sun_path);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  // Bound, not listening: a dead helper's socket.
  EXPECT_EQ(check_helper(sock).status, check_status::fail);
  ASSERT_EQ(::listen(fd, 1), 0);
  auto ok = check_helper(sock);
  EXPECT_EQ(ok.status, check_status::pass) << ok.detail;
  ::close(fd);

  fs::remove(sock);
  file("helper.sock");
  EXPECT_EQ(check_helper(sock).status, check_status::fail);
}

TEST_F(doctor_host, Dirs) {
  fs::create_directories(root_ + "/state/banger");
  auto there = check_dir("state-dir", root_ + "/state/banger");
  EXPECT_EQ(there.status, check_status::pass);
  EXPECT_EQ(there.detail, root_ + "/state/banger is writable");
  auto fresh = check_dir("config-dir", root_ + "/config/banger");
  EXPECT_EQ(fresh.status, check_status::pass);
  EXPECT_TRUE(has(fresh.detail, "does not exist yet")) << fresh.detail;
  file("run");
  auto blocked = check_dir("runtime-dir", root_ + "/run");
  EXPECT_EQ(blocked.status, check_status::fail);
  EXPECT_TRUE(has(blocked.detail, "not a directory")) << blocked.detail;
  if (::getuid() != 0) {
    fs::create_directories(root_ + "/ro");
    ::chmod((root_ + "/ro").c_str(), 0500);
    EXPECT_EQ(check_dir("x", root_ + "/ro").status, check_status::fail);
    EXPECT_EQ(check_dir("x", root_ + "/ro/sub").status, check_status::fail);
    ::chmod((root_ + "/ro").c_str(), 0700);
  }
}

TEST(DoctorDaemon, NotRunningWarnsEverywhere) {
  daemon_facts d;
  d.why = "Connection refused";
  auto r = check_daemon(d, "/run/x.sock");
  EXPECT_EQ(r.status, check_status::warn);
  EXPECT_TRUE(has(r.detail, "banger daemon start")) << r.detail;
  EXPECT_TRUE(has(r.detail, "Connection refused")) << r.detail;
  for (auto* kind : {"kernel", "image"}) {
    auto def = check_default(kind, d);
    EXPECT_EQ(def.status, check_status::warn);
    EXPECT_EQ(def.detail, "cannot check: bangerd is not running");
  }
}

TEST(DoctorDaemon, RunningWithDefaults) {
  auto d = running_daemon();
  auto r = check_daemon(d, "/run/x.sock");
  EXPECT_EQ(r.status, check_status::pass);
  EXPECT_EQ(r.detail, "bangerd 0.1.0 (pid 42) answers at /run/x.sock");
  EXPECT_EQ(check_default("kernel", d).status, check_status::pass);
  auto img = check_default("image", d);
  EXPECT_EQ(img.status, check_status::pass);
  EXPECT_EQ(img.check, "default-image");
}

TEST(DoctorDaemon, MissingDefaultsAndListErrorsFail) {
  auto d = running_daemon();
  d.kernels = {"6.1"};
  d.images.clear();
  auto k = check_default("kernel", d);
  EXPECT_EQ(k.status, check_status::fail);
  EXPECT_TRUE(has(k.detail, "banger kernel import default")) << k.detail;
  auto i = check_default("image", d);
  EXPECT_EQ(i.status, check_status::fail);
  EXPECT_TRUE(has(i.detail, "banger image import default")) << i.detail;
  d.list_error = "bangerd sent a malformed reply";
  EXPECT_EQ(check_default("kernel", running_daemon()).status,
            check_status::pass);
  EXPECT_EQ(check_default("kernel", d).status, check_status::fail);
}

TEST_F(doctor_host, AllChecksInOrderAndTheExitRule) {
  program("qemu-system-x86_64", "echo 'QEMU emulator version 7.2.0'");
  program("qemu-img", "echo 'qemu-img version 7.2.0'");
  program("nft", "exit 0");
  cpuinfo("fpu hypervisor");
  file("dev/net/tun", "", 0666);
  auto results = run_checks(env(), running_daemon());
  std::vector<std::string> names;
  for (auto& r : results)
    names.push_back(r.check);
  EXPECT_EQ(names,
            (std::vector<std::string>{
                "qemu-system-x86_64", "qemu-img", "accel", "tun", "bridge",
                "nftables", "helper", "state-dir", "config-dir", "runtime-dir",
                "daemon", "network", "default-kernel", "default-image"}));
  for (auto& r : results)
    EXPECT_NE(r.status, check_status::fail) << r.check << ": " << r.detail;
  EXPECT_EQ(doctor_exit_code(results), 0); // WARNs do not fail

  fs::remove(root_ + "/bin/qemu-img");
  auto broken = run_checks(env(), daemon_facts{});
  EXPECT_EQ(broken[1].status, check_status::fail);
  EXPECT_EQ(doctor_exit_code(broken), 1);
}

TEST(DoctorDaemon, NetworkOffWarnsAndSaysHowToFixIt) {
  daemon_facts d;
  d.running = true;
  d.network = "off: banger-helper is not reachable";
  auto off = check_network(d);
  EXPECT_EQ(off.status, check_status::warn);
  EXPECT_NE(off.detail.find("sudo banger daemon start"), std::string::npos);
  d.network = "bridge banger0 172.16.0.1/24, .vm DNS on 172.16.0.1:53";
  auto on = check_network(d);
  EXPECT_EQ(on.status, check_status::pass);
  EXPECT_EQ(on.detail, d.network);
}
