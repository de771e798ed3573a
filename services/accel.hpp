#pragma once
// Which QEMU accelerator a VM gets. KVM needs hardware virtualization: a
// /dev/kvm that is really VT-x/AMD-V. Some hosts (like the development
// machines) expose /dev/kvm through the kvm_pvm backend, which only runs
// PVM-aware guest kernels, so "auto" must look past the device node.
//
// The host files are read under `root` ("/" on a real host) so that tests can
// fake /proc, /sys and /dev in a temporary directory.

#include <cstdint>
#include <string>

#include <caf/expected.hpp>

namespace banger {

struct accel_choice {
  std::string accel;  // "kvm" or "tcg", for -accel
  std::string cpu;    // "host" or "max", for -cpu
  std::string reason; // "tcg: /dev/kvm is the kvm_pvm backend (...)"
};

/// "" when `wanted` is "auto", "kvm" or "tcg"; else why not (a sentence
/// fragment for an error message).
std::string check_accel_setting(const std::string& wanted);

/// Picks the accelerator for `wanted` ("auto", "kvm" or "tcg"). "kvm" on a
/// host where KVM cannot run stock kernels is an error (ec::unavailable)
/// saying why; an unknown value is ec::invalid_argument.
caf::expected<accel_choice> choose_accel(const std::string& wanted,
                                         const std::string& root = "/");

/// The host's TSC frequency in kHz for the guest's tsc_early_khz: "cpu MHz"
/// of /proc/cpuinfo times 1000, else the sysfs tsc_freq_khz when the kernel
/// has it. 0 if neither is known.
std::uint64_t tsc_khz(const std::string& root = "/");

} // namespace banger
