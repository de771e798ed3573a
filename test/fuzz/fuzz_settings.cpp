// The daemon's config.toml (services/settings, toml++): the input is the
// file's text. Checked: load_settings returns or fails with a message naming
// the file (no exception escapes, no crash); what it accepts passes its own
// range checks, and the network part either derives a bridge address and a
// DNS address or fails with a message.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "services/error.hpp"
#include "services/settings.hpp"
#include "test/fuzz/scratch.hpp"

using namespace banger;

namespace {

[[noreturn]] void bug(const std::string& what) {
  std::fprintf(stderr, "fuzz: %s\n", what.c_str());
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static fuzz::scratch s;
  auto path = fuzz::write_input(s, "config.toml", data, size);
  settings got;
  auto r = load_settings(path, got);
  s.remove_input("config.toml");
  if (!r) {
    auto msg = error_message(r.error());
    if (msg.find(path) == std::string::npos)
      bug("a settings error that does not name the file: " + msg);
    return 0;
  }
  auto& vm = got.vm;
  if (got.network.tap_pool > 64 || vm.vcpu < 1 || vm.vcpu > 64
      || vm.memory_mib < 64 || vm.memory_mib > 65536 || vm.stop_timeout_s < 1
      || vm.boot_timeout_s < 1)
    bug("load_settings accepted a value out of its range");
  auto bridge = bridge_address(got.network);
  if (!bridge) {
    if (error_message(bridge.error()).empty())
      bug("bridge_address failed without a message");
    return 0;
  }
  if (dns_listen_address(got.network, *bridge).empty())
    bug("an empty DNS listen address");
  return 0;
}
