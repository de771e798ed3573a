// The QEMU driver: its argv (pinned), the QMP client against a fake monitor,
// and the driver's process handling against fake VMM processes.

#include "services/qemu_driver.hpp"
#include "test/unit/temp_dir.hpp"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <functional>
#include <memory>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "services/error.hpp"
#include "services/process.hpp"
#include "services/qmp.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using banger::test::temp_dir;

banger::vm_launch_spec sample_spec() {
  banger::vm_launch_spec spec;
  spec.id = "1a2b3c";
  spec.name = "web-1";
  spec.dir = "/state/vms/1a2b3c";
  spec.vmlinux = "/state/kernels/6.1/vmlinux";
  spec.initrd = "/state/kernels/6.1/initrd.img";
  spec.root_disk = "/state/vms/1a2b3c/root.qcow2";
  spec.vcpu = 2;
  spec.memory_mib = 512;
  spec.extra_cmdline = {"banger.ip=172.16.0.5/24", "banger.gw=172.16.0.1"};
  return spec;
}

const banger::accel_choice tcg{"tcg", "max", "tcg: test"};
const banger::accel_choice kvm{"kvm", "host", "kvm: test"};

std::vector<std::string> argv_for(const banger::accel_choice& accel,
                                  std::uint64_t khz = 2445430) {
  auto spec = sample_spec();
  return banger::qemu_argv(spec, accel, khz, spec.dir + "/agent.sock",
                           spec.dir + "/qmp.sock", spec.dir + "/serial.log");
}

std::string arg_after(const std::vector<std::string>& argv, const std::string& flag) {
  for (std::size_t i = 0; i + 1 < argv.size(); ++i)
    if (argv[i] == flag)
      return argv[i + 1];
  return {};
}

/// Kills a pid the test started, whatever happens in the test.
struct pid_reaper {
  std::int64_t pid = 0;
  ~pid_reaper() {
    if (pid > 0 && banger::pid_alive(pid))
      ::kill(static_cast<pid_t>(pid), SIGKILL);
  }
};

} // namespace

TEST(QemuArgv, PinsTheWholeCommandUnderTcg) {
  std::vector<std::string> want{
    "qemu-system-x86_64",
    "-name", "banger-1a2b3c,process=banger-1a2b3c",
    "-M", "microvm,x-option-roms=off,isa-serial=on,rtc=on",
    "-accel", "tcg",
    "-cpu", "max",
    "-m", "512",
    "-smp", "2",
    "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
    "-kernel", "/state/kernels/6.1/vmlinux",
    "-initrd", "/state/kernels/6.1/initrd.img",
    "-append",
    "console=ttyS0 reboot=t panic=-1 quiet cryptomgr.notests pci=off tsc_early_khz=2445430 "
    "root=serial:banger-root rootfstype=ext4 rw banger.id=1a2b3c banger.hostname=web-1 "
    "banger.ip=172.16.0.5/24 banger.gw=172.16.0.1",
    "-drive", "id=d0,file=/state/vms/1a2b3c/root.qcow2,format=qcow2,if=none,cache=writeback",
    "-device", "virtio-blk-device,drive=d0,serial=banger-root",
    "-device", "virtio-serial-device",
    "-chardev", "socket,id=c0,path=/state/vms/1a2b3c/agent.sock,server=on,wait=off",
    "-device", "virtserialport,chardev=c0,name=org.banger.agent",
    "-serial", "file:/state/vms/1a2b3c/serial.log",
    "-qmp", "unix:/state/vms/1a2b3c/qmp.sock,server=on,wait=off",
    "-pidfile", "/state/vms/1a2b3c/qemu.pid",
  };
  EXPECT_EQ(argv_for(tcg), want);
}

TEST(QemuArgv, KvmUsesHostCpuAndNoTscHint) {
  auto argv = argv_for(kvm);
  EXPECT_EQ(arg_after(argv, "-accel"), "kvm");
  EXPECT_EQ(arg_after(argv, "-cpu"), "host");
  EXPECT_EQ(arg_after(argv, "-append").find("tsc_early_khz"), std::string::npos);
}

TEST(QemuArgv, UnknownTscIsLeftOut) {
  auto append = arg_after(argv_for(tcg, 0), "-append");
  EXPECT_EQ(append.find("tsc_early_khz"), std::string::npos);
  EXPECT_NE(append.find("pci=off root=serial:banger-root"), std::string::npos);
}

TEST(QemuArgv, WorkDiskIsASecondDriveTheGuestFindsBySerial) {
  auto spec = sample_spec();
  EXPECT_EQ(arg_after(banger::qemu_argv(spec, tcg, 0, "a", "q", "s"), "-append")
              .find("banger.work="),
            std::string::npos);
  spec.work_disk = "/state/vms/1a2b3c/work,1.ext4";
  auto argv = banger::qemu_argv(spec, tcg, 0, "a", "q", "s");
  EXPECT_NE(arg_after(argv, "-append").find(" rw banger.work=serial:banger-work banger.id="),
            std::string::npos);
  std::vector<std::string> drives, devices;
  for (std::size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == "-drive")
      drives.push_back(argv[i + 1]);
    if (argv[i] == "-device" && argv[i + 1].rfind("virtio-blk", 0) == 0)
      devices.push_back(argv[i + 1]);
  }
  ASSERT_EQ(drives.size(), 2u);
  EXPECT_EQ(drives[1], "id=d1,file=/state/vms/1a2b3c/work,,1.ext4,format=raw,if=none,"
                       "cache=writeback");
  ASSERT_EQ(devices.size(), 2u);
  EXPECT_EQ(devices[1], "virtio-blk-device,drive=d1,serial=banger-work");
}

TEST(QemuArgv, AppendIsOneArgumentWithoutQuotes) {
  auto argv = argv_for(tcg);
  auto append = arg_after(argv, "-append");
  EXPECT_EQ(append.find('"'), std::string::npos);
  EXPECT_EQ(append.find('\''), std::string::npos);
  EXPECT_EQ(append.rfind("console=ttyS0 ", 0), 0u);
  // The extra parameters come last, in order.
  EXPECT_NE(append.find("banger.hostname=web-1 banger.ip=172.16.0.5/24 banger.gw=172.16.0.1"),
            std::string::npos);
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "-append"), 1);
}

TEST(QemuArgv, NameMemoryAndVcpuFollowTheSpec) {
  auto spec = sample_spec();
  spec.id = "ff00";
  spec.vcpu = 4;
  spec.memory_mib = 1024;
  auto argv = banger::qemu_argv(spec, tcg, 1000, "/a", "/q", "/s");
  EXPECT_EQ(arg_after(argv, "-name"), "banger-ff00,process=banger-ff00");
  EXPECT_EQ(arg_after(argv, "-m"), "1024");
  EXPECT_EQ(arg_after(argv, "-smp"), "4");
  EXPECT_NE(arg_after(argv, "-append").find("banger.id=ff00 "), std::string::npos);
}

TEST(QemuArgv, NoNicWithoutATap) {
  for (const auto& a : argv_for(tcg)) {
    EXPECT_EQ(a.find("netdev"), std::string::npos) << a;
    EXPECT_EQ(a.find("virtio-net"), std::string::npos) << a;
    EXPECT_EQ(a.find("fw_cfg"), std::string::npos) << a;
  }
}

TEST(QemuArgv, TapBecomesAVirtioNicOnTheInheritedDescriptor) {
  auto spec = sample_spec();
  spec.tap_fd = 17; // ours; QEMU sees it as qemu_tap_fd
  spec.mac = "02:62:67:10:00:05";
  auto argv = banger::qemu_argv(spec, tcg, 1000, "/a", "/q", "/s");
  EXPECT_EQ(arg_after(argv, "-netdev"),
            "tap,id=n0,fd=" + std::to_string(banger::qemu_tap_fd));
  bool nic = false;
  for (std::size_t i = 0; i + 1 < argv.size(); ++i)
    if (argv[i] == "-device" && argv[i + 1].rfind("virtio-net-device", 0) == 0) {
      EXPECT_EQ(argv[i + 1], "virtio-net-device,netdev=n0,mac=02:62:67:10:00:05");
      nic = true;
    }
  EXPECT_TRUE(nic);
}

TEST(QemuArgv, FwCfgFilesAreNamedUnderOptBangerAndEscaped) {
  auto spec = sample_spec();
  spec.fw_cfg_files = {{"authorized_keys", "/state/vms/a,b/authorized_keys"}};
  auto argv = banger::qemu_argv(spec, tcg, 1000, "/a", "/q", "/s");
  EXPECT_EQ(arg_after(argv, "-fw_cfg"),
            "name=opt/banger/authorized_keys,file=/state/vms/a,,b/authorized_keys");
}

TEST(QemuArgv, PathsWithCommasStayOneValue) {
  auto spec = sample_spec();
  spec.root_disk = "/st,ate/root.qcow2";
  auto argv = banger::qemu_argv(spec, tcg, 1000, "/a,s", "/q", "/s");
  EXPECT_NE(arg_after(argv, "-drive").find("file=/st,,ate/root.qcow2,format"), std::string::npos);
  EXPECT_NE(arg_after(argv, "-chardev").find("path=/a,,s,server"), std::string::npos);
}

TEST(QemuArgv, CmdlineMatchesOnlyItsOwnVm) {
  auto cmd = "qemu-system-x86_64 -name banger-abc,process=banger-abc -M microvm";
  EXPECT_TRUE(banger::cmdline_is_vm(cmd, "abc"));
  EXPECT_FALSE(banger::cmdline_is_vm(cmd, "ab"));
  EXPECT_FALSE(banger::cmdline_is_vm(cmd, "abcd"));
  EXPECT_FALSE(banger::cmdline_is_vm(cmd, "bc"));
  EXPECT_FALSE(banger::cmdline_is_vm(cmd, ""));
  EXPECT_FALSE(banger::cmdline_is_vm("sleep 60", "abc"));
  EXPECT_FALSE(banger::cmdline_is_vm("x -name xbanger-abc,process=banger-abc", "abc"));
}

TEST(QemuArgv, FileTailKeepsTheLastLines) {
  temp_dir dir;
  auto path = dir.path() + "/log";
  std::ofstream{path} << "one\ntwo\nthree\nfour\n";
  EXPECT_EQ(banger::file_tail(path, 2), "three\nfour");
  EXPECT_EQ(banger::file_tail(path, 1), "four");
  EXPECT_EQ(banger::file_tail(path, 10), "one\ntwo\nthree\nfour");
  EXPECT_EQ(banger::file_tail(path, 0), "");
  EXPECT_EQ(banger::file_tail(dir.path() + "/missing", 3), "");
  std::ofstream{path} << "no newline at the end\nlast";
  EXPECT_EQ(banger::file_tail(path, 1), "last");
}

// --- QMP against a fake monitor ----------------------------------------

namespace {

/// A one-connection fake QMP server in a thread. `script` gets each request
/// and returns the lines to answer with.
class fake_qmp {
public:
  using script_fn = std::function<std::vector<std::string>(const nlohmann::json&)>;

  fake_qmp(std::string path, script_fn script, bool greet = true)
    : path_(std::move(path)) {
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(listen_fd_, 1);
    thread_ = std::thread([this, script = std::move(script), greet] {
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0)
        return;
      auto send = [&](const std::string& line) {
        auto s = line + "\r\n";
        [[maybe_unused]] auto n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
      };
      if (greet)
        send(R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": []}})");
      std::string buf;
      char chunk[4096];
      for (;;) {
        auto n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0)
          break;
        buf.append(chunk, static_cast<std::size_t>(n));
        for (auto nl = buf.find('\n'); nl != std::string::npos; nl = buf.find('\n')) {
          auto req = nlohmann::json::parse(buf.substr(0, nl));
          buf.erase(0, nl + 1);
          requests_.push_back(req);
          for (const auto& line : script(req))
            send(line);
        }
      }
      ::close(fd);
    });
  }
  ~fake_qmp() { join(); }
  /// Waits until the client hung up; requests() is complete afterwards.
  void join() {
    if (!thread_.joinable())
      return;
    ::shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
  }
  const std::vector<nlohmann::json>& requests() const { return requests_; }

private:
  std::string path_;
  int listen_fd_ = -1;
  std::thread thread_;
  std::vector<nlohmann::json> requests_;
};

std::string reply(const nlohmann::json& req, const nlohmann::json& ret) {
  nlohmann::json r{{"return", ret}};
  if (req.contains("id"))
    r["id"] = req["id"];
  return r.dump();
}

} // namespace

TEST(QemuQmp, HandshakeThenExecute) {
  temp_dir dir;
  auto sock = dir.path() + "/qmp.sock";
  {
    fake_qmp server{sock, [](const nlohmann::json& req) -> std::vector<std::string> {
      if (req["execute"] == "query-status")
        return {R"({"event": "RESUME", "timestamp": {"seconds": 1, "microseconds": 2}})",
                reply(req, {{"status", "running"}, {"running", true}})};
      return {reply(req, nlohmann::json::object())};
    }};
    auto qmp = banger::qmp_client::connect(sock, 2s);
    ASSERT_TRUE(qmp) << banger::error_message(qmp.error());
    EXPECT_EQ(qmp->greeting()["version"]["qemu"]["major"], 7);
    auto status = qmp->execute("query-status");
    ASSERT_TRUE(status) << banger::error_message(status.error());
    EXPECT_EQ((*status)["status"], "running");
    ASSERT_EQ(qmp->events().size(), 1u);
    EXPECT_EQ(qmp->events()[0]["event"], "RESUME");
    auto stop = qmp->execute("stop", nlohmann::json{{"why", "test"}});
    ASSERT_TRUE(stop);
  }
}

TEST(QemuQmp, SendsCapabilitiesFirstAndArguments) {
  temp_dir dir;
  auto sock = dir.path() + "/qmp.sock";
  fake_qmp server{sock, [](const nlohmann::json& req) {
    return std::vector<std::string>{reply(req, nlohmann::json::object())};
  }};
  {
    auto qmp = banger::qmp_client::connect(sock, 2s);
    ASSERT_TRUE(qmp);
    ASSERT_TRUE(qmp->execute("migrate", {{"uri", "exec:cat > /tmp/x"}}));
    ASSERT_TRUE(qmp->execute("quit"));
  } // hangs up
  server.join();
  const auto& reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0]["execute"], "qmp_capabilities");
  EXPECT_FALSE(reqs[0].contains("arguments"));
  EXPECT_EQ(reqs[1]["execute"], "migrate");
  EXPECT_EQ(reqs[1]["arguments"]["uri"], "exec:cat > /tmp/x");
  EXPECT_EQ(reqs[2]["execute"], "quit");
}

TEST(QemuQmp, ErrorCarriesDesc) {
  temp_dir dir;
  auto sock = dir.path() + "/qmp.sock";
  fake_qmp server{sock, [](const nlohmann::json& req) -> std::vector<std::string> {
    if (req["execute"] == "qmp_capabilities")
      return {reply(req, nlohmann::json::object())};
    nlohmann::json err{{"error", {{"class", "CommandNotFound"},
                                  {"desc", "The command bogus has not been found"}}},
                       {"id", req["id"]}};
    return {err.dump()};
  }};
  auto qmp = banger::qmp_client::connect(sock, 2s);
  ASSERT_TRUE(qmp);
  auto r = qmp->execute("bogus");
  ASSERT_FALSE(r);
  EXPECT_EQ(banger::error_code(r.error()), banger::ec::vmm);
  auto msg = banger::error_message(r.error());
  EXPECT_NE(msg.find("The command bogus has not been found"), std::string::npos) << msg;
  EXPECT_NE(msg.find(sock), std::string::npos) << msg;
}

TEST(QemuQmp, SilentMonitorTimesOut) {
  temp_dir dir;
  auto sock = dir.path() + "/qmp.sock";
  fake_qmp server{sock, [](const nlohmann::json&) { return std::vector<std::string>{}; },
                  /*greet=*/false};
  auto start = std::chrono::steady_clock::now();
  auto qmp = banger::qmp_client::connect(sock, 200ms);
  ASSERT_FALSE(qmp);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(banger::error_code(qmp.error()), banger::ec::vmm);
}

TEST(QemuQmp, MissingSocketIsAnError) {
  temp_dir dir;
  auto qmp = banger::qmp_client::connect(dir.path() + "/nothing.sock", 200ms);
  ASSERT_FALSE(qmp);
  EXPECT_EQ(banger::error_code(qmp.error()), banger::ec::vmm);
}

// --- the driver against fake VMM processes --------------------------------

namespace {

/// Starts a detached shell whose cmdline names VM `id` like QEMU's does.
std::int64_t fake_vmm(const std::string& id, const std::string& body = "while :; do sleep 0.05; done") {
  auto pid = banger::spawn_detached(
    {"sh", "-c", body, "banger-" + id + ",process=banger-" + id});
  return pid ? *pid : 0;
}

banger::qemu_config tcg_config() {
  banger::qemu_config cfg;
  cfg.accel = "tcg";
  return cfg;
}

} // namespace

TEST(QemuDriver, AliveChecksPidAndName) {
  banger::qemu_driver driver{tcg_config()};
  auto pid = fake_vmm("t1");
  ASSERT_GT(pid, 0);
  pid_reaper reaper{pid};
  EXPECT_TRUE(driver.alive(pid, "t1"));
  EXPECT_FALSE(driver.alive(pid, "t2"));  // a reused pid is not our VM
  EXPECT_FALSE(driver.alive(::getpid(), "t1"));
  EXPECT_FALSE(driver.wait_exit(pid, "t1", 50ms));
  EXPECT_TRUE(driver.wait_exit(pid, "other", 50ms));
}

TEST(QemuDriver, KillWithoutQmpFallsBackToSigkill) {
  temp_dir dir;
  banger::qemu_driver driver{tcg_config()};
  auto pid = fake_vmm("t3");
  ASSERT_GT(pid, 0);
  pid_reaper reaper{pid};
  banger::vm_runtime rt;
  rt.pid = pid;
  rt.qmp_socket = dir.path() + "/qmp.sock"; // missing
  rt.agent_socket = dir.path() + "/agent.sock";
  auto start = std::chrono::steady_clock::now();
  auto killed = driver.kill(rt, "t3", 200ms);
  ASSERT_TRUE(killed) << banger::error_message(killed.error());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_FALSE(banger::pid_alive(pid));
  // Idempotent: a dead VMM is fine.
  EXPECT_TRUE(driver.kill(rt, "t3", 200ms));
}

TEST(QemuDriver, KillLeavesForeignProcessAlone) {
  banger::qemu_driver driver{tcg_config()};
  auto pid = fake_vmm("t4");
  ASSERT_GT(pid, 0);
  pid_reaper reaper{pid};
  banger::vm_runtime rt;
  rt.pid = pid;
  ASSERT_TRUE(driver.kill(rt, "not-t4", 100ms));
  EXPECT_TRUE(banger::pid_alive(pid));
}

TEST(QemuDriver, KillRemovesStaleSockets) {
  temp_dir dir;
  banger::qemu_driver driver{tcg_config()};
  banger::vm_runtime rt;
  rt.pid = fake_vmm("t5");
  ASSERT_GT(rt.pid, 0);
  pid_reaper reaper{rt.pid};
  rt.qmp_socket = dir.path() + "/qmp.sock";
  rt.agent_socket = dir.path() + "/agent.sock";
  for (const auto& path : {rt.qmp_socket, rt.agent_socket}) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd); // bound but not listening: a dead QEMU's leftover
  }
  ASSERT_TRUE(driver.kill(rt, "t5", 300ms));
  EXPECT_FALSE(banger::pid_alive(rt.pid));
  EXPECT_FALSE(fs::exists(rt.qmp_socket));
  EXPECT_FALSE(fs::exists(rt.agent_socket));
}

TEST(QemuDriver, ForcedKvmOnPvmHostFailsAtLaunch) {
  temp_dir root;
  fs::create_directories(root.path() + "/proc");
  fs::create_directories(root.path() + "/sys/module/kvm_pvm");
  std::ofstream{root.path() + "/proc/cpuinfo"} << "flags\t\t: fpu lm\n";
  banger::qemu_config cfg;
  cfg.accel = "kvm";
  cfg.host_root = root.path();
  banger::qemu_driver driver{cfg};
  EXPECT_NE(driver.accel_description().find("kvm_pvm"), std::string::npos);
  auto rt = driver.launch(sample_spec());
  ASSERT_FALSE(rt);
  EXPECT_EQ(banger::error_code(rt.error()), banger::ec::unavailable);
}

TEST(QemuDriver, AccelDescriptionExplainsTheChoice) {
  banger::qemu_driver driver{tcg_config()};
  EXPECT_EQ(driver.accel_description().rfind("tcg: ", 0), 0u);
}

namespace {

/// A VM directory with placeholder kernel, initrd and disk files.
banger::vm_launch_spec spec_in(const std::string& dir) {
  auto spec = sample_spec();
  spec.dir = dir;
  spec.vmlinux = dir + "/vmlinux";
  spec.initrd = dir + "/initrd";
  spec.root_disk = dir + "/root.qcow2";
  for (const auto& f : {spec.vmlinux, spec.initrd, spec.root_disk})
    std::ofstream{f} << "x";
  return spec;
}

} // namespace

TEST(QemuDriver, LaunchReportsQemuDyingWithItsLog) {
  temp_dir dir;
  auto fake = dir.path() + "/fake-qemu";
  std::ofstream{fake} << "#!/bin/sh\necho 'qemu-system-x86_64: -kernel: cannot load kernel' >&2\nexit 1\n";
  fs::permissions(fake, fs::perms::owner_all);
  auto cfg = tcg_config();
  cfg.qemu_binary = fake;
  banger::qemu_driver driver{cfg};
  auto rt = driver.launch(spec_in(dir.path()));
  ASSERT_FALSE(rt);
  EXPECT_EQ(banger::error_code(rt.error()), banger::ec::vmm);
  auto msg = banger::error_message(rt.error());
  EXPECT_NE(msg.find("cannot load kernel"), std::string::npos) << msg;
  EXPECT_NE(msg.find(dir.path() + "/qemu.log"), std::string::npos) << msg;
}

TEST(QemuDriver, LaunchTimesOutWithoutSocketsAndKillsQemu) {
  temp_dir dir;
  auto fake = dir.path() + "/fake-qemu";
  std::ofstream{fake} << "#!/bin/sh\necho $$ > fake.pid\nexec sleep 30\n";
  fs::permissions(fake, fs::perms::owner_all);
  auto cfg = tcg_config();
  cfg.qemu_binary = fake;
  cfg.start_timeout = 300ms;
  banger::qemu_driver driver{cfg};
  auto rt = driver.launch(spec_in(dir.path()));
  ASSERT_FALSE(rt);
  EXPECT_EQ(banger::error_code(rt.error()), banger::ec::vmm);
  std::ifstream in{dir.path() + "/fake.pid"};
  std::int64_t pid = 0;
  ASSERT_TRUE(in >> pid);
  pid_reaper reaper{pid};
  EXPECT_TRUE(banger::wait_pid_exit(pid, 2s));
}

TEST(QemuDriver, LaunchRejectsBadInput) {
  temp_dir dir;
  banger::qemu_driver driver{tcg_config()};
  auto spec = spec_in(dir.path());
  spec.extra_cmdline = {"quiet splash"};
  auto r = driver.launch(spec);
  ASSERT_FALSE(r);
  EXPECT_EQ(banger::error_code(r.error()), banger::ec::invalid_argument);
  spec = spec_in(dir.path());
  spec.id = "a,b";
  EXPECT_FALSE(driver.launch(spec));
  spec = spec_in(dir.path());
  spec.vmlinux = dir.path() + "/missing";
  r = driver.launch(spec);
  ASSERT_FALSE(r);
  EXPECT_EQ(banger::error_code(r.error()), banger::ec::not_found);
  spec = spec_in(dir.path());
  spec.dir = dir.path() + "/" + std::string(120, 'd');
  r = driver.launch(spec);
  ASSERT_FALSE(r);
  EXPECT_NE(banger::error_message(r.error()).find("unix socket"), std::string::npos);
}

TEST(QemuDriver, MissingQemuBinaryIsUnavailable) {
  temp_dir dir;
  auto cfg = tcg_config();
  cfg.qemu_binary = "banger-no-such-qemu";
  banger::qemu_driver driver{cfg};
  auto r = driver.launch(spec_in(dir.path()));
  ASSERT_FALSE(r);
  EXPECT_EQ(banger::error_code(r.error()), banger::ec::unavailable);
}

TEST(QemuDriver, CreateRootDiskMakesAnOverlay) {
  if (auto v = banger::run({"qemu-img", "--version"}); !v || !v->ok())
    GTEST_SKIP() << "qemu-img is not installed";
  temp_dir dir;
  auto base = dir.path() + "/base.ext4";
  { std::ofstream create{base}; }
  fs::resize_file(base, 64 << 20);
  banger::qemu_driver driver{tcg_config()};
  auto overlay = dir.path() + "/root.qcow2";
  auto made = driver.create_root_disk(base, overlay);
  ASSERT_TRUE(made) << banger::error_message(made.error());
  auto info = banger::run({"qemu-img", "info", "--output=json", overlay});
  ASSERT_TRUE(info && info->ok());
  auto j = nlohmann::json::parse(info->out);
  EXPECT_EQ(j["format"], "qcow2");
  EXPECT_EQ(j["backing-filename"], base);
  EXPECT_EQ(j["backing-filename-format"], "raw");
  EXPECT_EQ(j["virtual-size"], 64 << 20);
  // Never overwrites an existing disk.
  auto again = driver.create_root_disk(base, overlay);
  ASSERT_FALSE(again);
  EXPECT_EQ(banger::error_code(again.error()), banger::ec::already_exists);
}

TEST(QemuDriver, CreateRootDiskNeedsTheBase) {
  temp_dir dir;
  banger::qemu_driver driver{tcg_config()};
  auto r = driver.create_root_disk(dir.path() + "/nope.ext4", dir.path() + "/root.qcow2");
  ASSERT_FALSE(r);
  EXPECT_EQ(banger::error_code(r.error()), banger::ec::not_found);
  EXPECT_NE(banger::error_message(r.error()).find("nope.ext4"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.path() + "/root.qcow2"));
}
