#include "services/qemu_driver.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "services/error.hpp"
#include "services/process.hpp"
#include "services/qmp.hpp"
#include "services/work_disk.hpp"

namespace banger {

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

bool is_socket(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

bool is_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool valid_id(const std::string& id) {
  return !id.empty() && id.size() <= 64
         && std::all_of(id.begin(), id.end(), [](unsigned char c) {
              return std::isalnum(c) || c == '-' || c == '_';
            });
}

bool valid_hostname(const std::string& name) {
  return !name.empty() && name.size() <= 253
         && std::all_of(name.begin(), name.end(), [](unsigned char c) {
              return std::isalnum(c) || c == '-' || c == '.';
            });
}

bool valid_kernel_param(const std::string& p) {
  return !p.empty() && std::none_of(p.begin(), p.end(), [](unsigned char c) {
    return std::isspace(c) || c == '"' || c < 0x20;
  });
}

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string{} : path.substr(0, slash);
}

std::string indent_tail(const std::string& tail) {
  if (tail.empty())
    return " (it is empty)";
  std::string out = ":\n";
  std::size_t start = 0;
  while (start < tail.size()) {
    auto end = tail.find('\n', start);
    if (end == std::string::npos)
      end = tail.size();
    out += "  " + tail.substr(start, end - start) + "\n";
    start = end + 1;
  }
  out.pop_back();
  return out;
}

void kill_hard(std::int64_t pid) {
  auto p = static_cast<pid_t>(pid);
  if (::getpgid(p) == p)
    ::kill(-p, SIGKILL); // QEMU leads its group: its helpers go too
  ::kill(p, SIGKILL);
}

/// Removes what a dead QEMU leaves behind when it could not clean up.
void remove_leftovers(const vm_runtime& rt) {
  for (const auto* sock : {&rt.qmp_socket, &rt.agent_socket})
    if (!sock->empty() && is_socket(*sock))
      ::unlink(sock->c_str());
  auto dir = parent_dir(rt.qmp_socket);
  if (dir.empty())
    return;
  auto pidfile = dir + "/qemu.pid";
  std::ifstream in{pidfile};
  std::int64_t pid = 0;
  if (in >> pid && pid == rt.pid)
    ::unlink(pidfile.c_str());
}

} // namespace

std::string qemu_escape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    out += c;
    if (c == ',')
      out += ',';
  }
  return out;
}

std::vector<std::string> qemu_argv(const vm_launch_spec& spec,
                                   const accel_choice& accel,
                                   std::uint64_t tsc_khz,
                                   const std::string& agent_sock,
                                   const std::string& qmp_sock,
                                   const std::string& serial_log) {
  const auto title = "banger-" + spec.id;
  std::string append = "console=ttyS0 reboot=t panic=-1 quiet cryptomgr.notests pci=off";
  // Under TCG the microvm guest cannot calibrate its TSC reliably and hangs
  // at boot most of the time; telling it the frequency avoids that.
  if (accel.accel == "tcg" && tsc_khz > 0)
    append += " tsc_early_khz=" + std::to_string(tsc_khz);
  // banger-init finds the disks by their virtio serials: the order in which
  // the guest names them vda, vdb is not guaranteed.
  append += fmt::format(" root=serial:{} rootfstype=ext4 rw", root_disk_serial);
  if (!spec.work_disk.empty())
    append += fmt::format(" banger.work=serial:{}", work_disk_serial);
  append += " banger.id=" + spec.id + " banger.hostname=" + spec.name;
  for (const auto& p : spec.extra_cmdline)
    append += " " + p;

  std::vector<std::string> argv{
    "qemu-system-x86_64",
    "-name", title + ",process=" + title,
    "-M", "microvm,x-option-roms=off,isa-serial=on,rtc=on",
    "-accel", accel.accel,
    "-cpu", accel.cpu,
    "-m", std::to_string(spec.memory_mib),
    "-smp", std::to_string(spec.vcpu),
    "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
    "-kernel", spec.vmlinux,
  };
  if (!spec.initrd.empty()) {
    argv.push_back("-initrd");
    argv.push_back(spec.initrd);
  }
  // cache=writeback (QEMU's default, spelled out): writes go through the host
  // page cache, and a guest flush (fsync, journal commit) becomes an fdatasync
  // of the overlay, so what the guest synced survives QEMU being killed and
  // the host crashing. cache=unsafe would drop those flushes and can leave
  // the qcow2 metadata inconsistent, which would break snapshots of the disk.
  argv.insert(argv.end(), {
    "-append", append,
    "-drive", "id=d0,file=" + qemu_escape(spec.root_disk) + ",format=qcow2,if=none,cache=writeback",
    "-device", fmt::format("virtio-blk-device,drive=d0,serial={}", root_disk_serial),
    "-device", "virtio-serial-device",
    "-chardev", "socket,id=c0,path=" + qemu_escape(agent_sock) + ",server=on,wait=off",
    "-device", "virtserialport,chardev=c0,name=org.banger.agent",
    "-serial", "file:" + serial_log,
    "-qmp", "unix:" + qemu_escape(qmp_sock) + ",server=on,wait=off",
    "-pidfile", spec.dir + "/qemu.pid",
  });
  if (!spec.work_disk.empty())
    argv.insert(argv.end(), {
      "-drive", "id=d1,file=" + qemu_escape(spec.work_disk) + ",format=raw,if=none,cache=writeback",
      "-device", fmt::format("virtio-blk-device,drive=d1,serial={}", work_disk_serial),
    });
  if (spec.tap_fd >= 0) {
    // launch() hands the TAP to QEMU as descriptor qemu_tap_fd.
    argv.insert(argv.end(), {
      "-netdev", "tap,id=n0,fd=" + std::to_string(qemu_tap_fd),
      "-device", "virtio-net-device,netdev=n0" + (spec.mac.empty() ? std::string{} : ",mac=" + spec.mac),
    });
  }
  for (const auto& [name, path] : spec.fw_cfg_files)
    argv.insert(argv.end(), {"-fw_cfg", "name=opt/banger/" + qemu_escape(name)
                                          + ",file=" + qemu_escape(path)});
  return argv;
}

bool cmdline_is_vm(const std::string& cmdline, const std::string& id) {
  if (id.empty())
    return false;
  const auto needle = "banger-" + id + ",process=banger-" + id;
  for (auto at = cmdline.find(needle); at != std::string::npos;
       at = cmdline.find(needle, at + 1)) {
    auto end = at + needle.size();
    bool starts = at == 0 || cmdline[at - 1] == ' ';
    bool ends = end == cmdline.size() || cmdline[end] == ' ' || cmdline[end] == ',';
    if (starts && ends)
      return true;
  }
  return false;
}

std::string file_tail(const std::string& path, std::size_t lines) {
  std::ifstream in{path, std::ios::binary | std::ios::ate};
  if (!in)
    return {};
  constexpr std::streamoff window = 64 * 1024;
  auto size = static_cast<std::streamoff>(in.tellg());
  auto from = std::max<std::streamoff>(0, size - window);
  in.seekg(from);
  std::string text(static_cast<std::size_t>(size - from), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.pop_back();
  if (lines == 0)
    return {};
  std::size_t start = text.size();
  std::size_t found = 0;
  while (start > 0) {
    auto nl = text.rfind('\n', start - 1);
    if (nl == std::string::npos) {
      start = 0;
      break;
    }
    if (++found == lines) {
      start = nl + 1;
      break;
    }
    start = nl;
  }
  return text.substr(start);
}

qemu_driver::qemu_driver(qemu_config config)
  : config_(std::move(config)), accel_(choose_accel(config_.accel, config_.host_root)) {
  if (accel_ && accel_->accel == "tcg")
    tsc_khz_ = tsc_khz(config_.host_root);
}

caf::expected<void> qemu_driver::create_root_disk(const std::string& base,
                                                  const std::string& overlay) {
  if (!is_file(base))
    return make_error(ec::not_found,
                      "cannot create root disk " + overlay + ": base image " + base
                        + " does not exist or is not a file; pull the image again");
  if (::access(overlay.c_str(), F_OK) == 0)
    return make_error(ec::already_exists,
                      "cannot create root disk " + overlay
                        + ": the file exists already; remove it first");
  // qemu-img resolves a relative backing path against the overlay's folder.
  std::error_code fs_err;
  auto absolute_base = std::filesystem::absolute(base, fs_err).string();
  if (fs_err)
    absolute_base = base;
  run_options opts;
  opts.timeout = 60s;
  auto r = run({config_.qemu_img, "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                absolute_base, overlay},
               opts);
  if (!r)
    return r.error();
  if (!r->ok()) {
    ::unlink(overlay.c_str());
    auto why = r->timed_out ? std::string{"it did not finish within 60 s"}
                            : "it said: " + r->err + r->out;
    while (!why.empty() && why.back() == '\n')
      why.pop_back();
    return make_error(ec::vmm, "qemu-img could not create root disk " + overlay
                                 + " over " + absolute_base + "; " + why);
  }
  return {};
}

caf::expected<void> qemu_driver::create_work_disk(const std::string& seed,
                                                  const std::string& disk,
                                                  std::uint64_t size_bytes) {
  // A raw ext4 file: QEMU serves it as is, and so would any other VMM.
  return banger::create_work_disk(seed, disk, size_bytes);
}

caf::expected<vm_runtime> qemu_driver::launch(const vm_launch_spec& spec) {
  if (!accel_)
    return accel_.error();
  if (!valid_id(spec.id))
    return make_error(ec::invalid_argument,
                      "cannot launch VM \"" + spec.id
                        + "\": the id must be 1-64 letters, digits, '-' or '_'");
  if (!valid_hostname(spec.name))
    return make_error(ec::invalid_argument,
                      "cannot launch VM " + spec.id + ": \"" + spec.name
                        + "\" is not a valid hostname (letters, digits, '-', '.')");
  if (spec.vcpu < 1 || spec.memory_mib < 64)
    return make_error(ec::invalid_argument,
                      "cannot launch VM " + spec.id + ": it needs at least 1 vCPU and "
                        + "64 MiB of memory (asked for " + std::to_string(spec.vcpu)
                        + " and " + std::to_string(spec.memory_mib) + " MiB)");
  vm_launch_spec full = spec;
  full.extra_cmdline = config_.extra_cmdline;
  full.extra_cmdline.insert(full.extra_cmdline.end(), spec.extra_cmdline.begin(),
                            spec.extra_cmdline.end());
  for (const auto& p : full.extra_cmdline)
    if (!valid_kernel_param(p))
      return make_error(ec::invalid_argument,
                        "cannot launch VM " + spec.id + ": kernel parameter \"" + p
                          + "\" is empty or holds spaces or quotes");
  vm_runtime rt;
  rt.agent_socket = spec.dir + "/agent.sock";
  rt.qmp_socket = spec.dir + "/qmp.sock";
  rt.serial_log = spec.dir + "/serial.log";
  rt.accel = accel_->accel;
  const auto qemu_log = spec.dir + "/qemu.log";
  const auto pidfile = spec.dir + "/qemu.pid";
  // QEMU splits option values at commas; these paths sit inside such values.
  for (const std::string* path : std::initializer_list<const std::string*>{
         &spec.root_disk, &rt.agent_socket, &rt.qmp_socket, &rt.serial_log})
    if (path->find(',') != std::string::npos)
      return make_error(ec::invalid_argument,
                        "cannot launch VM " + spec.id + ": path " + *path
                          + " contains a comma, which QEMU cannot parse; use a "
                            "state directory without commas");
  if (rt.qmp_socket.size() >= sizeof(sockaddr_un::sun_path)
      || rt.agent_socket.size() >= sizeof(sockaddr_un::sun_path))
    return make_error(ec::invalid_argument,
                      "cannot launch VM " + spec.id + ": socket path " + rt.agent_socket
                        + " is longer than a unix socket allows ("
                        + std::to_string(sizeof(sockaddr_un::sun_path) - 1)
                        + " bytes); use a shorter state directory");
  struct stat st {};
  if (::stat(spec.dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return make_error(ec::not_found, "cannot launch VM " + spec.id + ": its directory "
                                       + spec.dir + " does not exist");
  for (auto [what, path] : {std::pair{"kernel", &spec.vmlinux},
                            std::pair{"initramfs", &spec.initrd},
                            std::pair{"root disk", &spec.root_disk}})
    if ((!path->empty() || std::string{what} != "initramfs") && !is_file(*path))
      return make_error(ec::not_found, "cannot launch VM " + spec.id + ": its " + what
                                         + " " + *path + " does not exist");

  // A QEMU still running for this VM owns the sockets: never start a second.
  {
    std::ifstream in{pidfile};
    std::int64_t old = 0;
    if (in >> old && alive(old, spec.id))
      return make_error(ec::bad_state, "cannot launch VM " + spec.id
                                         + ": its QEMU is still running (pid "
                                         + std::to_string(old) + "); stop it first");
  }
  for (const auto* stale : {&rt.agent_socket, &rt.qmp_socket})
    if (::unlink(stale->c_str()) != 0 && errno != ENOENT)
      return make_error(ec::internal, "cannot launch VM " + spec.id
                                        + ": cannot remove stale socket " + *stale
                                        + ": " + std::strerror(errno));
  ::unlink(pidfile.c_str());

  auto argv = qemu_argv(full, *accel_, tsc_khz_, rt.agent_socket, rt.qmp_socket,
                        rt.serial_log);
  argv[0] = config_.qemu_binary;
  {
    std::ofstream log{qemu_log, std::ios::app};
    log << "--- banger: starting QEMU for VM " << spec.id << " ("
        << accel_->reason << ")\n";
  }
  spawn_options opts;
  opts.stdout_path = qemu_log;
  opts.stderr_path = qemu_log;
  opts.cwd = spec.dir;
  if (spec.tap_fd >= 0)
    opts.pass_fds = {{spec.tap_fd, qemu_tap_fd}};
  auto pid = spawn_detached(argv, opts);
  if (!pid)
    return pid.error();
  rt.pid = *pid;

  const auto deadline = steady::now() + config_.start_timeout;
  for (;;) {
    bool ready = is_socket(rt.qmp_socket) && is_socket(rt.agent_socket);
    if (!pid_alive(rt.pid))
      return make_error(ec::vmm, "QEMU for VM " + spec.id + " exited while starting; "
                                   + "check its kernel, initramfs and disk; the last "
                                   + "lines of " + qemu_log
                                   + indent_tail(file_tail(qemu_log, 10)));
    if (ready)
      return rt;
    if (steady::now() >= deadline)
      break;
    std::this_thread::sleep_for(10ms);
  }
  kill_hard(rt.pid);
  wait_pid_exit(rt.pid, 5s);
  remove_leftovers(rt);
  return make_error(ec::vmm, "QEMU for VM " + spec.id + " did not create "
                               + rt.qmp_socket + " and " + rt.agent_socket + " within "
                               + std::to_string(config_.start_timeout.count())
                               + " ms, so banger killed it; the last lines of "
                               + qemu_log + indent_tail(file_tail(qemu_log, 10)));
}

bool qemu_driver::alive(std::int64_t pid, const std::string& id) {
  return pid_alive(pid) && cmdline_is_vm(proc_cmdline(pid), id);
}

caf::expected<void> qemu_driver::kill(const vm_runtime& rt, const std::string& id,
                                      std::chrono::milliseconds grace) {
  if (!alive(rt.pid, id)) {
    remove_leftovers(rt);
    return {};
  }
  const auto deadline = steady::now() + grace;
  if (grace.count() > 0 && is_socket(rt.qmp_socket)) {
    auto timeout = std::clamp<std::chrono::milliseconds>(grace, 50ms, 2000ms);
    // Any failure here (dead socket, hung monitor) just means SIGKILL below.
    if (auto qmp = qmp_client::connect(rt.qmp_socket, timeout))
      qmp->execute("quit");
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
  if (!wait_exit(rt.pid, id, std::max(left, 0ms)) && alive(rt.pid, id))
    kill_hard(rt.pid);
  if (!wait_pid_exit(rt.pid, 5s))
    return make_error(ec::vmm, "QEMU of VM " + id + " (pid " + std::to_string(rt.pid)
                                 + ") is still there 5 s after SIGKILL; it may be "
                                   "stuck in the kernel (state D in ps)");
  remove_leftovers(rt);
  return {};
}

bool qemu_driver::wait_exit(std::int64_t pid, const std::string& id,
                            std::chrono::milliseconds timeout) {
  if (!alive(pid, id))
    return true;
  return wait_pid_exit(pid, timeout);
}

std::string qemu_driver::accel_description() {
  if (!accel_)
    return "none: " + error_message(accel_.error());
  return accel_->reason;
}

} // namespace banger
