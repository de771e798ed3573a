#include "services/doctor.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "messages/wire.hpp"
#include "services/accel.hpp"
#include "services/error.hpp"
#include "services/process.hpp"

namespace banger {

namespace fs = std::filesystem;

namespace {

std::string under(const std::string& root, const std::string& rel) {
  if (root.empty() || root == "/")
    return "/" + rel;
  return root.back() == '/' ? root + rel : root + "/" + rel;
}

check_result pass(std::string check, std::string detail) {
  return {check_status::pass, std::move(check), std::move(detail)};
}
check_result warn(std::string check, std::string detail) {
  return {check_status::warn, std::move(check), std::move(detail)};
}
check_result fail(std::string check, std::string detail) {
  return {check_status::fail, std::move(check), std::move(detail)};
}

std::string first_line(const std::string& text) {
  auto line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
    line.pop_back();
  return line;
}

bool executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)
         && ::access(path.c_str(), X_OK) == 0;
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

} // namespace

const char* to_string(check_status s) {
  switch (s) {
  case check_status::pass:
    return "PASS";
  case check_status::warn:
    return "WARN";
  case check_status::fail:
    return "FAIL";
  }
  return "FAIL";
}

std::string find_program(const std::string& program,
                         const std::string& search_path) {
  std::size_t pos = 0;
  while (pos <= search_path.size()) {
    auto colon = search_path.find(':', pos);
    auto dir = search_path.substr(
        pos, colon == std::string::npos ? std::string::npos : colon - pos);
    if (!dir.empty() && dir[0] == '/') {
      auto candidate = dir + "/" + program;
      if (executable_file(candidate))
        return candidate;
    }
    if (colon == std::string::npos)
      break;
    pos = colon + 1;
  }
  return {};
}

check_result check_program(const std::string& program,
                           const std::string& search_path) {
  auto path = find_program(program, search_path);
  if (path.empty())
    return fail(program, missing_program_message(program));
  run_options opts;
  opts.timeout = std::chrono::seconds(10);
  auto r = run({path, "--version"}, opts);
  if (!r)
    return fail(program, error_message(r.error()));
  if (!r->ok())
    return fail(program, path + " --version failed ("
                             + (r->timed_out ? std::string("timed out")
                                             : first_line(r->err + r->out))
                             + "); reinstall it");
  auto version = first_line(r->out);
  return pass(program, (version.empty() ? "" : version + " ") + "at " + path);
}

check_result check_accel(const std::string& root) {
  auto c = choose_accel("auto", root);
  if (!c)
    return fail("accel", error_message(c.error()));
  if (c->accel == "kvm")
    return pass("accel", c->reason);
  return warn("accel", c->reason + "; VMs run under QEMU TCG (slower)");
}

check_result check_tun(const std::string& root) {
  auto dev = under(root, "dev/net/tun");
  int fd = ::open(dev.c_str(), O_RDWR | O_CLOEXEC);
  if (fd >= 0) {
    ::close(fd);
    return pass("tun", "/dev/net/tun opens read-write");
  }
  auto err = errno;
  if (err == ENOENT)
    return fail("tun", "/dev/net/tun does not exist; load the tun module "
                       "(modprobe tun)");
  return fail("tun", std::string("cannot open /dev/net/tun read-write: ")
                         + std::strerror(err)
                         + "; VM networking needs it (check its mode, 0666)");
}

check_result check_bridge(const std::string& root, const std::string& bridge) {
  auto dir = under(root, "sys/class/net/" + bridge);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    return warn("bridge", bridge
                              + " not created yet; banger creates it when "
                                "VM networking arrives");
  std::ifstream state{dir + "/operstate"};
  std::string operstate;
  state >> operstate;
  return pass(
      "bridge",
      bridge + " exists"
          + (operstate.empty() ? "" : " (operstate " + operstate + ")"));
}

check_result check_nftables(const std::string& root,
                            const std::string& search_path) {
  if (auto nft = find_program("nft", search_path); !nft.empty())
    return pass("nftables", "nft at " + nft);
  for (auto* dir : {"usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu",
                    "usr/lib64", "usr/lib"}) {
    auto lib = under(root, std::string(dir) + "/libnftables.so.1");
    if (::access(lib.c_str(), F_OK) == 0)
      return pass("nftables",
                  "libnftables at /" + std::string(dir) + "/libnftables.so.1");
  }
  return warn("nftables", "neither nft nor libnftables found; VM NAT will "
                          "need them: install nftables");
}

check_result check_helper(const std::string& socket) {
  struct stat st {};
  if (::lstat(socket.c_str(), &st) != 0) {
    if (errno == ENOENT)
      return warn("helper", "no banger-helper socket at " + socket
                                + "; VMs get no network until the daemon is "
                                  "started as root: sudo banger daemon start");
    return fail("helper",
                "cannot stat " + socket + ": " + std::strerror(errno));
  }
  if (!S_ISSOCK(st.st_mode))
    return fail("helper", socket
                              + " is not a socket; remove it and restart "
                                "banger-helper");
  int fd = wire::connect_unix(socket);
  if (fd < 0)
    return fail("helper", "nothing answers at " + socket + " ("
                              + std::strerror(errno)
                              + "); restart banger-helper");
  ::close(fd);
  return pass("helper", "banger-helper answers at " + socket);
}

check_result check_network(const daemon_facts& d) {
  if (!d.running)
    return warn("network", "unknown: bangerd is not running");
  if (d.network.rfind("off", 0) == 0 || d.network.empty())
    return warn("network", "VMs get no network (" + (d.network.empty() ? std::string{"an older bangerd"} : d.network)
                             + "); start the daemon as root: sudo banger daemon start");
  return pass("network", d.network);
}

check_result check_dir(const std::string& check, const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      return fail(check, dir + " exists but is not a directory; move it away");
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
      return fail(check, dir + " is not writable by uid "
                             + std::to_string(::getuid()) + " ("
                             + std::strerror(errno) + "); fix its owner");
    return pass(check, dir + " is writable");
  }
  // A fresh install: fine if the nearest existing parent lets us create it.
  auto parent = fs::path(dir).parent_path();
  while (!parent.empty() && ::stat(parent.c_str(), &st) != 0
         && parent != parent.root_path())
    parent = parent.parent_path();
  if (!parent.empty() && S_ISDIR(st.st_mode)
      && ::access(parent.c_str(), W_OK | X_OK) == 0)
    return pass(check, dir + " does not exist yet; created on first use");
  return fail(check, "cannot create " + dir + ": " + parent.string()
                         + " is not writable by uid "
                         + std::to_string(::getuid()));
}

check_result check_daemon(const daemon_facts& d, const std::string& socket) {
  if (!d.running)
    return warn("daemon", "bangerd is not running (nothing answers at " + socket
                              + (d.why.empty() ? "" : ": " + d.why)
                              + "); start it with: banger daemon start");
  return pass("daemon", "bangerd " + d.version + " (pid "
                            + std::to_string(d.pid) + ") answers at " + socket);
}

check_result check_default(const std::string& kind, const daemon_facts& d) {
  auto check = "default-" + kind;
  if (!d.running)
    return warn(check, "cannot check: bangerd is not running");
  if (!d.list_error.empty())
    return fail(check, "cannot list " + kind + "s: " + d.list_error);
  const auto& names = kind == "kernel" ? d.kernels : d.images;
  if (contains(names, "default"))
    return pass(check, kind + " \"default\" is registered");
  auto how = kind == "kernel"
                 ? "banger kernel import default --from DIR "
                   "(scripts/build-kernel.sh builds one)"
                 : "banger image import default --rootfs FILE --kernel default "
                   "(scripts/build-image.sh builds one)";
  return fail(check, "no " + kind + " named \"default\"; import one: " + how);
}

std::vector<check_result> run_checks(const doctor_env& env,
                                     const daemon_facts& daemon) {
  return {
      check_program("qemu-system-x86_64", env.search_path),
      check_program("qemu-img", env.search_path),
      check_accel(env.root),
      check_tun(env.root),
      check_bridge(env.root, env.bridge),
      check_nftables(env.root, env.search_path),
      check_helper(env.helper_socket),
      check_dir("state-dir", env.dirs.state_dir),
      check_dir("config-dir", env.dirs.config_dir),
      check_dir("runtime-dir", env.dirs.runtime_dir),
      check_daemon(daemon, env.dirs.socket()),
      check_network(daemon),
      check_default("kernel", daemon),
      check_default("image", daemon),
  };
}

int doctor_exit_code(const std::vector<check_result>& results) {
  for (auto& r : results)
    if (r.status == check_status::fail)
      return 1;
  return 0;
}

} // namespace banger
