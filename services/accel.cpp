#include "services/accel.hpp"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "services/error.hpp"

namespace banger {

namespace {

std::string under(const std::string& root, const std::string& rel) {
  if (root.empty() || root == "/")
    return "/" + rel;
  return root.back() == '/' ? root + rel : root + "/" + rel;
}

std::string trim(std::string s) {
  auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos)
    return {};
  auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

/// The value of the first "key : value" line of /proc/cpuinfo named `key`.
std::optional<std::string> cpuinfo_field(const std::string& root,
                                         const std::string& key) {
  std::ifstream in{under(root, "proc/cpuinfo")};
  if (!in)
    return std::nullopt;
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos)
      continue;
    if (trim(line.substr(0, colon)) == key)
      return trim(line.substr(colon + 1));
  }
  return std::string{};
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

/// Why KVM cannot run a stock kernel here, or "" if it can. `vendor` gets
/// "VT-x" or "AMD-V" when it can.
std::string kvm_blocker(const std::string& root, std::string& vendor) {
  if (exists(under(root, "sys/module/kvm_pvm")))
    return "/dev/kvm is the kvm_pvm backend (no VT-x/AMD-V), which cannot run "
           "stock kernels";
  auto flags = cpuinfo_field(root, "flags");
  if (!flags)
    return "cannot read /proc/cpuinfo to look for VT-x/AMD-V";
  std::istringstream words{*flags};
  std::string flag;
  while (words >> flag) {
    if (flag == "vmx")
      vendor = "VT-x";
    else if (flag == "svm")
      vendor = "AMD-V";
  }
  if (vendor.empty())
    return "the CPU has no VT-x/AMD-V (no vmx or svm flag in /proc/cpuinfo)";
  auto dev = under(root, "dev/kvm");
  int fd = ::open(dev.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    auto err = errno;
    if (err == ENOENT)
      return "/dev/kvm does not exist (load kvm_intel or kvm_amd)";
    return std::string{"cannot open /dev/kvm read-write: "} + std::strerror(err)
           + " (add the user running bangerd to the kvm group)";
  }
  ::close(fd);
  return {};
}

/// Parses "2445.430" as 2445430 (MHz to kHz without float rounding).
std::uint64_t mhz_to_khz(const std::string& text) {
  std::uint64_t whole = 0;
  std::size_t i = 0;
  bool any = false;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    whole = whole * 10 + static_cast<std::uint64_t>(text[i] - '0');
    any = true;
  }
  std::uint64_t frac = 0;
  int digits = 0;
  if (i < text.size() && text[i] == '.')
    for (++i; i < text.size() && digits < 3
              && std::isdigit(static_cast<unsigned char>(text[i]));
         ++i, ++digits) {
      frac = frac * 10 + static_cast<std::uint64_t>(text[i] - '0');
      any = true;
    }
  for (; digits < 3; ++digits)
    frac *= 10;
  return any ? whole * 1000 + frac : 0;
}

} // namespace

std::string check_accel_setting(const std::string& wanted) {
  if (wanted == "auto" || wanted == "kvm" || wanted == "tcg")
    return "";
  return "must be \"auto\", \"kvm\" or \"tcg\", not \"" + wanted + "\"";
}

caf::expected<accel_choice> choose_accel(const std::string& wanted,
                                         const std::string& root) {
  if (wanted == "tcg")
    return accel_choice{"tcg", "max", "tcg: chosen by configuration (accel = \"tcg\")"};
  if (wanted != "auto" && wanted != "kvm")
    return make_error(ec::invalid_argument,
                      "unknown accelerator \"" + wanted
                        + "\" in banger's configuration; use \"auto\", \"kvm\" or \"tcg\"");
  std::string vendor;
  auto blocker = kvm_blocker(root, vendor);
  if (blocker.empty())
    return accel_choice{"kvm", "host", "kvm: /dev/kvm is usable and the CPU has " + vendor};
  if (wanted == "kvm")
    return make_error(ec::unavailable,
                      "cannot use KVM: " + blocker
                        + "; set accel to \"auto\" or \"tcg\" in banger's "
                          "configuration to run VMs under QEMU's TCG instead");
  return accel_choice{"tcg", "max", "tcg: " + blocker};
}

std::uint64_t tsc_khz(const std::string& root) {
  if (auto mhz = cpuinfo_field(root, "cpu MHz"); mhz && !mhz->empty())
    if (auto khz = mhz_to_khz(*mhz); khz > 0)
      return khz;
  std::ifstream in{under(root, "sys/devices/system/cpu/cpu0/tsc_freq_khz")};
  std::string text;
  if (in >> text) {
    std::uint64_t khz = 0;
    for (char c : text) {
      if (!std::isdigit(static_cast<unsigned char>(c)))
        return 0;
      khz = khz * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return khz;
  }
  return 0;
}

} // namespace banger
