// banger-vm-hostkey: makes one VM's SSH host key in DIR with the daemon's own
// code (services/ssh_hostkey.hpp) and prints its public line, so that a VM
// booted by hand (scripts/net-smoke.sh) gets the same fw_cfg files the
// daemon passes:
//   DIR/ssh_host_ed25519_key{,.pub}   -fw_cfg
//   name=opt/banger/ssh_host_ed25519_key{,.pub} DIR/dropbear_ed25519_host_key
//   -fw_cfg name=opt/banger/dropbear_ed25519_host_key
//
//   banger-vm-hostkey DIR
// Exit codes: 0 done, 1 failed (the reason on stderr), 2 usage.

#include <cstdio>
#include <string>

#include "services/error.hpp"
#include "services/ssh_hostkey.hpp"

int main(int argc, char** argv) {
  if (argc != 2 || argv[1][0] == '-') {
    std::fprintf(stderr, "usage: banger-vm-hostkey DIR\n");
    return 2;
  }
  auto key = banger::make_vm_host_key(argv[1]);
  if (!key) {
    std::fprintf(stderr, "banger-vm-hostkey: %s\n",
                 banger::error_message(key.error()).c_str());
    return 1;
  }
  std::printf("%s\n", key->public_line.c_str());
  return 0;
}
