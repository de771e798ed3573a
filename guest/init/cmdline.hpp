#pragma once
// The kernel command line as banger-init reads it. The contract:
//   root=/dev/vda          root device (a path, or serial:NAME for the
//                          virtio disk with that serial; waited for up
//                          to 5 s)
//   rootfstype=ext4        its filesystem (default ext4)
//   rootflags=...          mount data passed as is
//   rw | ro                mount mode (default ro, like the kernel)
//   banger.hostname=NAME   hostname to set
//   banger.init=PATH       the image's init to hand over to (default:
//                          /sbin/init, /lib/systemd/systemd, /init)
//   banger.agent=0         do not start the agent
//   banger.rootwait=SEC    how long to wait for the root device (default 5)
//   banger.work=DEV        the work disk (a path or serial:NAME, like
//                          root=): ext4 mounted on /root (work_disk.hpp)
// The network (guest/init/network.hpp; all optional, nothing is touched
// without banger.ip):
//   banger.ip=ADDR/PREFIX  IPv4 address and prefix, e.g. 172.16.0.5/24
//   banger.gw=ADDR         default gateway, e.g. 172.16.0.1
//   banger.dns=ADDR[,ADDR] name servers for /etc/resolv.conf; may repeat
//   banger.mac=MAC         configure the NIC with this MAC (default: the
//                          first non-loopback ethernet interface)

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace banger::init {

struct boot_params {
  std::string root;
  std::string rootfstype = "ext4";
  std::string rootflags;
  bool read_only = true;
  std::string hostname;
  std::string init;
  bool start_agent = true;
  int rootwait_s = 5;
  std::string work;
  std::string ip;               // "172.16.0.5/24", checked when applied
  std::string gw;
  std::vector<std::string> dns; // every banger.dns, commas split, in order
  std::string mac;
  std::map<std::string, std::string> other; // every other key=value
};

/// Splits like the kernel does: on whitespace, double quotes group.
std::vector<std::string> split_cmdline(std::string_view text);

boot_params parse_cmdline(std::string_view text);

} // namespace banger::init
