#pragma once
// `banger doctor`: one PASS/WARN/FAIL verdict per thing banger needs from the
// host. Each check reads its files under `root` ("/" on a real host) and finds
// programs in `search_path`, so that tests fake /sys, /proc, /dev and PATH in
// a temporary directory. What only the daemon knows (is it running, which
// kernels and images it has) is asked by the CLI and passed in as
// daemon_facts, so that this file needs no socket client.
//
// Blocking (stat, open, `--version` runs): CLI or detached workers only.

#include <cstdint>
#include <string>
#include <vector>

#include "services/paths.hpp"

namespace banger {

enum class check_status { pass, warn, fail };

/// "PASS", "WARN" or "FAIL".
const char* to_string(check_status s);

struct check_result {
  check_status status = check_status::pass;
  std::string check;  // short name without spaces: "qemu-img", "accel", ...
  std::string detail; // what was found, and what to do if it is not PASS
};

/// Where the checks look. The defaults describe a real host.
struct doctor_env {
  std::string root = "/";
  /// Colon-separated directories, like $PATH.
  std::string search_path;
  paths dirs;
  std::string bridge = "banger0";
  std::string helper_socket = "/run/banger/helper.sock";
};

/// What the CLI learned from the daemon.
struct daemon_facts {
  bool running = false;
  /// Why nothing answered (running == false).
  std::string why;
  std::string version;
  std::int64_t pid = 0;
  /// Set when the daemon answered status but the lists failed.
  std::string list_error;
  std::vector<std::string> kernels;
  std::vector<std::string> images;
  /// How the daemon runs its network, or "off: why".
  std::string network;
};

/// `program` looked up in `search_path`; "" if it is not there.
std::string find_program(const std::string& program,
                         const std::string& search_path);

check_result check_program(const std::string& program,
                           const std::string& search_path);
check_result check_accel(const std::string& root);
check_result check_tun(const std::string& root);
check_result check_bridge(const std::string& root, const std::string& bridge);
check_result check_nftables(const std::string& root,
                            const std::string& search_path);
check_result check_helper(const std::string& socket);
/// Writable (or creatable, for a fresh install) directory.
check_result check_dir(const std::string& check, const std::string& dir);
check_result check_daemon(const daemon_facts& d, const std::string& socket);
/// Whether the running daemon gives VMs a network.
check_result check_network(const daemon_facts& d);
/// `kind` is "kernel" or "image"; `names` what the daemon lists.
check_result check_default(const std::string& kind, const daemon_facts& d);

/// Every check, in the order `banger doctor` prints them.
std::vector<check_result> run_checks(const doctor_env& env,
                                     const daemon_facts& daemon);

/// 1 if any check failed, else 0.
int doctor_exit_code(const std::vector<check_result>& results);

} // namespace banger
