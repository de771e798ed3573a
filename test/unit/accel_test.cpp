#include "services/accel.hpp"

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "services/error.hpp"

namespace fs = std::filesystem;

namespace {

/// A fake host: proc/cpuinfo, dev/kvm and sys/module under a temp dir.
class fake_host {
public:
  fake_host() {
    std::string tmpl = (fs::temp_directory_path() / "banger-accel-XXXXXX").string();
    root_ = ::mkdtemp(tmpl.data());
    fs::create_directories(root_ + "/proc");
    fs::create_directories(root_ + "/dev");
    fs::create_directories(root_ + "/sys/module");
  }
  ~fake_host() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  const std::string& root() const { return root_; }

  void cpuinfo(const std::string& flags, const std::string& mhz = "2445.430") {
    std::ofstream f{root_ + "/proc/cpuinfo"};
    for (int cpu = 0; cpu < 2; ++cpu)
      f << "processor\t: " << cpu << "\nvendor_id\t: GenuineIntel\n"
        << "model name\t: Intel(R) Xeon(R) Processor\n"
        << (mhz.empty() ? "" : "cpu MHz\t\t: " + mhz + "\n")
        << "flags\t\t: " << flags << "\n\n";
  }
  void kvm_device() { std::ofstream{root_ + "/dev/kvm"}; }
  void pvm_module() { fs::create_directories(root_ + "/sys/module/kvm_pvm/parameters"); }

private:
  std::string root_;
};

const std::string plain_flags = "fpu vme de pse tsc msr pae mce cx8 apic sep hypervisor lm";
const std::string vmx_flags = plain_flags + " vmx ept vpid";
const std::string svm_flags = plain_flags + " svm npt";

} // namespace

TEST(Accel, PvmHostFallsBackToTcgAndSaysWhy) {
  fake_host host;
  host.cpuinfo(plain_flags);
  host.kvm_device();
  host.pvm_module();
  auto c = banger::choose_accel("auto", host.root());
  ASSERT_TRUE(c) << banger::error_message(c.error());
  EXPECT_EQ(c->accel, "tcg");
  EXPECT_EQ(c->cpu, "max");
  EXPECT_EQ(c->reason,
            "tcg: /dev/kvm is the kvm_pvm backend (no VT-x/AMD-V), which cannot run "
            "stock kernels");
}

TEST(Accel, PvmModuleWinsEvenWithVmxFlag) {
  fake_host host;
  host.cpuinfo(vmx_flags);
  host.kvm_device();
  host.pvm_module();
  auto c = banger::choose_accel("auto", host.root());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->accel, "tcg");
}

TEST(Accel, VmxHostWithUsableKvmGetsKvm) {
  fake_host host;
  host.cpuinfo(vmx_flags);
  host.kvm_device();
  auto c = banger::choose_accel("auto", host.root());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->accel, "kvm");
  EXPECT_EQ(c->cpu, "host");
  EXPECT_NE(c->reason.find("VT-x"), std::string::npos);
  auto forced = banger::choose_accel("kvm", host.root());
  ASSERT_TRUE(forced);
  EXPECT_EQ(forced->accel, "kvm");
}

TEST(Accel, SvmHostGetsKvm) {
  fake_host host;
  host.cpuinfo(svm_flags);
  host.kvm_device();
  auto c = banger::choose_accel("auto", host.root());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->accel, "kvm");
  EXPECT_NE(c->reason.find("AMD-V"), std::string::npos);
}

TEST(Accel, NoHardwareVirtualizationMeansTcg) {
  fake_host host;
  host.cpuinfo(plain_flags);
  host.kvm_device();
  auto c = banger::choose_accel("auto", host.root());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->accel, "tcg");
  EXPECT_NE(c->reason.find("no vmx or svm"), std::string::npos);
}

TEST(Accel, MissingDevKvmMeansTcg) {
  fake_host host;
  host.cpuinfo(vmx_flags);
  auto c = banger::choose_accel("auto", host.root());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->accel, "tcg");
  EXPECT_NE(c->reason.find("/dev/kvm does not exist"), std::string::npos);
}

TEST(Accel, UnopenableDevKvmMeansTcg) {
  fake_host host;
  host.cpuinfo(vmx_flags);
  fs::create_directories(host.root() + "/dev/kvm"); // open(O_RDWR) fails: EISDIR
  auto c = banger::choose_accel("auto", host.root());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->accel, "tcg");
  EXPECT_NE(c->reason.find("cannot open /dev/kvm read-write"), std::string::npos);
}

TEST(Accel, WantedKvmOnPvmHostIsAnError) {
  fake_host host;
  host.cpuinfo(plain_flags);
  host.kvm_device();
  host.pvm_module();
  auto c = banger::choose_accel("kvm", host.root());
  ASSERT_FALSE(c);
  EXPECT_EQ(banger::error_code(c.error()), banger::ec::unavailable);
  auto msg = banger::error_message(c.error());
  EXPECT_NE(msg.find("kvm_pvm"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"tcg\""), std::string::npos) << msg;
}

TEST(Accel, WantedTcgIsAlwaysTcg) {
  fake_host host;
  host.cpuinfo(vmx_flags);
  host.kvm_device();
  auto c = banger::choose_accel("tcg", host.root());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->accel, "tcg");
  EXPECT_EQ(c->cpu, "max");
  EXPECT_NE(c->reason.find("configuration"), std::string::npos);
}

TEST(Accel, UnknownWantedIsInvalid) {
  fake_host host;
  auto c = banger::choose_accel("hvf", host.root());
  ASSERT_FALSE(c);
  EXPECT_EQ(banger::error_code(c.error()), banger::ec::invalid_argument);
}

TEST(Accel, TscKhzFromCpuMhz) {
  fake_host host;
  host.cpuinfo(plain_flags, "2445.430");
  EXPECT_EQ(banger::tsc_khz(host.root()), 2445430u);
  host.cpuinfo(plain_flags, "3000");
  EXPECT_EQ(banger::tsc_khz(host.root()), 3000000u);
  host.cpuinfo(plain_flags, "2299.99987");
  EXPECT_EQ(banger::tsc_khz(host.root()), 2299999u);
  host.cpuinfo(plain_flags, "1996.2");
  EXPECT_EQ(banger::tsc_khz(host.root()), 1996200u);
}

TEST(Accel, TscKhzFallsBackToSysfs) {
  fake_host host;
  host.cpuinfo(plain_flags, "");
  EXPECT_EQ(banger::tsc_khz(host.root()), 0u);
  fs::create_directories(host.root() + "/sys/devices/system/cpu/cpu0");
  std::ofstream{host.root() + "/sys/devices/system/cpu/cpu0/tsc_freq_khz"} << "2100000\n";
  EXPECT_EQ(banger::tsc_khz(host.root()), 2100000u);
}

TEST(Accel, RealHostGivesAnAnswer) {
  // Whatever this machine is, auto never fails and explains itself.
  auto c = banger::choose_accel("auto");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->accel == "kvm" || c->accel == "tcg");
  EXPECT_EQ(c->reason.rfind(c->accel + ": ", 0), 0u);
}
