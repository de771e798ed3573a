// The vm actor's start: network (TAP, NAT, DNS), root disk, VMM launch,
// waiting for the guest agent.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "actors/agent.hpp"
#include "actors/blocking.hpp"
#include "actors/vm_actor_state.hpp"
#include "messages/helper.hpp"
#include "messages/host_files.hpp"
#include "messages/wire.hpp"
#include "services/host_files.hpp"
#include "services/error.hpp"
#include "services/log.hpp"
#include "services/pause_point.hpp"
#include "services/terminal_text.hpp"
#include "services/timefmt.hpp"

namespace banger::vm_detail {

/// Withdraws what the network gave the running VM: its DNS name, its NAT
/// rule and its TAP. Fire and forget: each is idempotent, and the helper
/// actor runs them in order, before any later start's requests.
void release_network(self_ptr self) {
  auto& st = self->state;
  auto& net = st.deps.net;
  if (!net.enabled() || st.rec.info.ip.empty())
    return;
  if (net.dns)
    caf::anon_send(net.dns, atom::del_v, st.rec.info.name);
  if (st.rec.info.nat)
    caf::anon_send(net.helper, atom::nat_v, st.rec.info.ip, false);
  if (!st.rec.tap.empty()) {
    caf::anon_send(net.pool, atom::release_v, st.rec.tap);
    st.rec.tap.clear();
  }
}

/// A running VM answers as <name>.vm.
void publish_name(self_ptr self) {
  auto& st = self->state;
  if (st.deps.net.dns && !st.rec.info.ip.empty())
    caf::anon_send(st.deps.net.dns, atom::put_v, st.rec.info.name,
                   st.rec.info.ip);
}

// -- start ---------------------------------------------------------------------

/// Removes the copy of the [guest] files made for the VMM, which has read
/// it once the guest runs (QEMU loads fw_cfg files after it made the
/// sockets launch waits for, so not earlier).
void forget_host_files(self_ptr self) {
  auto path = self->state.rec.info.dir + "/" + host_files::fw_cfg_name;
  ::unlink(path.c_str());
}

/// A disk that could not be made for want of space names the state dir it
/// lives in and what to do, rather than only the tool's complaint.
caf::error disk_error(caf::error err, const std::string& vm_dir) {
  auto msg = error_message(err);
  if (msg.find("No space left on device") == std::string::npos
      && msg.find("ENOSPC") == std::string::npos)
    return err;
  // vm_dir is <state dir>/vms/<id>.
  auto state_dir = std::filesystem::path(vm_dir).parent_path().parent_path().string();
  return make_error(ec::unavailable,
                    "no space left in the state dir " + state_dir
                      + " for the VM's disks (" + msg
                      + "); free space there (banger vm prune, banger image rm) "
                        "or give the state dir a larger filesystem");
}

void fail_start(self_ptr self, caf::typed_response_promise<vm_info> rp,
                caf::error err) {
  auto msg = error_message(err);
  log::warn("vm", "{}: start failed: {}", vm_name(self), msg);
  forget_host_files(self);
  kill_vmm(self, [self, rp, err, msg]() mutable {
    release_runtime(self);
    self->state.state = vm_state::error;
    self->state.rec.info.last_error = msg;
    persist(self);
    rp.deliver(err);
    end_op(self);
  });
}

/// The last lines of a guest's console, for an error that outlives the VM
/// (a failed create removes the VM and its log). Blocking: a worker's.
std::string console_tail(const std::string& path, std::size_t max_lines) {
  constexpr std::size_t window = 8192;
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return {};
  std::string text(window, '\0');
  auto size = ::lseek(fd, 0, SEEK_END);
  auto from = size > static_cast<off_t>(window) ? size - static_cast<off_t>(window) : 0;
  auto n = ::pread(fd, text.data(), window, from);
  ::close(fd);
  text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = std::min(text.find('\n', start), text.size());
    auto line = text.substr(start, end - start);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
      line.pop_back();
    if (!line.empty())
      lines.push_back(std::move(line));
    start = end + 1;
  }
  // The window may have cut the first line.
  if (from > 0 && !lines.empty())
    lines.erase(lines.begin());
  if (lines.size() > max_lines) {
    // A panic's own line comes before its register dump: keep it.
    auto tail_start = lines.end() - static_cast<std::ptrdiff_t>(max_lines);
    auto panic = std::find_if(lines.begin(), tail_start, [](const std::string& l) {
      return l.find("Kernel panic") != std::string::npos;
    });
    std::vector<std::string> kept;
    if (panic != tail_start)
      kept = {*panic, "..."};
    kept.insert(kept.end(), tail_start, lines.end());
    lines = std::move(kept);
  }
  std::string out;
  // The guest wrote these: no escape sequences reach a terminal or the log.
  for (auto& line : lines)
    out += "\n  | " + terminal_safe(line);
  return out;
}

/// A boot that did not reach a ready agent: the error says why, how long
/// the wait was, where the console log is and what it said last.
void fail_boot(self_ptr self, caf::typed_response_promise<vm_info> rp,
               const caf::error& err, std::uint32_t boot_timeout_s) {
  auto& st = self->state;
  std::string why;
  if (err == caf::sec::request_timeout)
    why = "its guest agent did not answer within the boot timeout of "
          + std::to_string(boot_timeout_s)
          + " s (bangerd --boot-timeout, [vm] boot_timeout)";
  else
    why = error_message(err);
  auto log = st.rec.serial_log;
  auto msg = "VM \"" + vm_name(self) + "\" did not boot: " + why
             + "; the guest's console is in " + log;
  self
    ->request(blocking(self,
                       [log]() -> caf::expected<std::string> {
                         return console_tail(log, 12);
                       }),
              caf::infinite, atom::run_v)
    .then(
      [=](std::string& tail) {
        fail_start(self, rp,
                   make_error(ec::vmm, tail.empty() ? msg
                                                    : msg + ", which ends:" + tail));
      },
      [=](caf::error&) { fail_start(self, rp, make_error(ec::vmm, msg)); });
}

/// Per-VM files the guest reads through fw_cfg (see guest/init/provision),
/// made at create in the VM's directory.
constexpr const char* fw_cfg_names[] = {
  "authorized_keys", "ssh_host_ed25519_key", "ssh_host_ed25519_key.pub",
  "dropbear_ed25519_host_key"};

/// The stages of one start and how long each took. Shared by the start's
/// callbacks and its worker; the worker's marks happen-before the reply
/// that the actor reads them after.
struct stage_clock {
  std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
  std::vector<vm_stage> stages;
  std::vector<std::string> notes; // [guest] files skipped

  void mark(const char* name) {
    auto now = std::chrono::steady_clock::now();
    stages.push_back(
      {name, static_cast<std::uint64_t>(
               std::chrono::duration_cast<std::chrono::milliseconds>(now - last).count())});
    last = now;
  }
};

/// Writes `data` to `path` readable by its owner only. "" or why not.
std::string write_private_file(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return std::strerror(errno);
  bool ok = wire::write_all(fd, data);
  int err = errno;
  ::close(fd);
  return ok ? "" : std::strerror(err);
}

/// Gives a starting VM its NIC: leases a TAP, adds the NAT rule if the VM
/// has --nat, and puts the guest's address, gateway and resolver on its
/// kernel command line (banger-init configures the interface from them).
/// Runs `then` with the completed spec, or `fail`; whatever was acquired is
/// recorded in the VM's row and released by release_network.
void attach_network(self_ptr self, vm_launch_spec spec,
                    std::function<void(vm_launch_spec)> then,
                    std::function<void(caf::error)> fail) {
  auto& st = self->state;
  auto net = st.deps.net;
  if (!net.enabled() || st.rec.info.ip.empty()) {
    then(std::move(spec));
    return;
  }
  auto bridge = parse_ipv4_cidr(net.bridge_cidr);
  if (!bridge) {
    fail(make_error(ec::internal, "the bridge address " + net.bridge_cidr
                                    + " is malformed (this is a bug in banger)"));
    return;
  }
  self->request(net.pool, caf::infinite, atom::lease_v)
    .then(
      [=](tap_lease& lease) mutable {
        // The TAP exists; the row does not name it yet.
        pause_point("create.after_tap");
        auto& st = self->state;
        st.rec.tap = lease.name;
        spec.tap_fd = lease.fd;
        spec.mac = st.rec.info.mac;
        spec.extra_cmdline.push_back("banger.ip=" + st.rec.info.ip + "/"
                                     + std::to_string(bridge->prefix));
        spec.extra_cmdline.push_back("banger.gw=" + to_string(bridge->addr));
        spec.extra_cmdline.push_back("banger.mac=" + st.rec.info.mac);
        if (!net.dns_server.empty())
          spec.extra_cmdline.push_back("banger.dns=" + net.dns_server);
        auto add_nat = [=](vm_launch_spec spec) mutable {
          if (!self->state.rec.info.nat) {
            then(std::move(spec));
            return;
          }
          self->request(net.helper, caf::infinite, atom::nat_v,
                        self->state.rec.info.ip, true)
            .then([=](bool) mutable { then(std::move(spec)); },
                  [=](caf::error& err) mutable {
                    ::close(spec.tap_fd);
                    fail(err);
                  });
        };
        // The TAP forwards nothing until bound to this guest's IP and MAC.
        self->request(net.helper, caf::infinite, atom::guard_v, atom::tap_v,
                      lease.name, st.rec.info.ip, st.rec.info.mac)
          .then([=](bool) mutable { add_nat(std::move(spec)); },
                [=](caf::error& err) mutable {
                  ::close(spec.tap_fd);
                  fail(err);
                });
      },
      [=](caf::error& err) mutable { fail(err); });
}

void do_start(self_ptr self, caf::typed_response_promise<vm_info> rp,
              progress_sink sink) {
  auto& st = self->state;
  auto next = vm_state_transition(st.state, vm_op::start, vm_name(self));
  if (!next) {
    rp.deliver(next.error());
    end_op(self);
    return;
  }
  st.state = *next;
  st.rec.info.last_error.clear();
  persist(self);
  auto t0 = clock::now();
  auto timing = std::make_shared<stage_clock>();
  // Kernel and image are looked up on every start: they hold the paths.
  self->request(st.deps.store, caf::infinite, atom::kernel_v, atom::get_v,
                st.rec.info.kernel)
    .then(
      [=](kernel_info& k) {
        self->request(self->state.deps.store, caf::infinite, atom::image_v,
                      atom::get_v, self->state.rec.info.image)
          .then(
            [=](image_info& img) {
              auto& st = self->state;
              vm_launch_spec spec;
              spec.id = st.rec.info.id;
              spec.name = st.rec.info.name;
              spec.dir = st.rec.info.dir;
              spec.vmlinux = k.vmlinux;
              spec.initrd = k.initrd;
              spec.root_disk = st.rec.root_disk;
              spec.work_disk = st.rec.work_disk;
              spec.vcpu = st.rec.info.vcpu;
              spec.memory_mib = st.rec.info.memory_mib;
              auto driver = st.deps.driver;
              auto base = img.rootfs;
              auto seed = img.work_seed;
              auto disk_bytes = st.rec.info.disk_bytes;
              auto host_files = st.rec.info.host_files
                                  ? st.deps.config->host_files
                                  : std::vector<host_file_rule>{};
              attach_network(self, std::move(spec), [=](vm_launch_spec spec) {
              timing->mark("network");
              progress(sink, "boot", "starting the VMM");
              self
                ->request(
                  blocking(self,
                           [=]() mutable -> caf::expected<vm_runtime> {
                             for (auto* name : fw_cfg_names) {
                               auto path = spec.dir + "/" + name;
                               if (std::filesystem::exists(path))
                                 spec.fw_cfg_files.emplace_back(name, path);
                             }
                             auto files_path = spec.dir + "/" + host_files::fw_cfg_name;
                             auto launched = [&]() -> caf::expected<vm_runtime> {
                               if (!std::filesystem::exists(spec.root_disk)) {
                                 auto r = driver->create_root_disk(
                                   base, spec.root_disk);
                                 if (!r)
                                   return disk_error(std::move(r.error()), spec.dir);
                               }
                               if (!spec.work_disk.empty()
                                   && !std::filesystem::exists(spec.work_disk))
                                 if (auto r = driver->create_work_disk(
                                       seed, spec.work_disk, disk_bytes);
                                     !r)
                                   return disk_error(std::move(r.error()), spec.dir);
                               auto files = collect_host_files(host_files);
                               timing->notes = files.notes;
                               if (!files.blob.empty()) {
                                 if (auto why = write_private_file(files_path, files.blob);
                                     !why.empty())
                                   return disk_error(make_error(ec::unavailable, "cannot write "
                                                                  + files_path + ": " + why),
                                                     spec.dir);
                                 spec.fw_cfg_files.emplace_back(host_files::fw_cfg_name,
                                                                files_path);
                               }
                               timing->mark("disks");
                               pause_point("create.after_disks");
                               auto rt = driver->launch(spec);
                               timing->mark("vmm");
                               // QEMU runs; its pid is not in the row yet.
                               if (rt)
                                 pause_point("create.after_launch");
                               return rt;
                             }();
                             // QEMU has its own copy of the TAP now.
                             if (spec.tap_fd >= 0)
                               ::close(spec.tap_fd);
                             return launched;
                           }),
                  caf::infinite, atom::run_v)
                .then(
                  [=](vm_runtime& rt) {
                    auto& st = self->state;
                    for (auto& note : timing->notes) {
                      log::warn("vm", "{}: [guest] files: {}", vm_name(self), note);
                      progress(sink, "boot", "[guest] files: " + note);
                    }
                    st.rec.info.pid = rt.pid;
                    st.rec.agent_socket = rt.agent_socket;
                    st.rec.qmp_socket = rt.qmp_socket;
                    st.rec.serial_log = rt.serial_log;
                    st.rec.accel = rt.accel;
                    persist(self);
                    watch(self);
                    st.agent = spawn_agent(self, rt.agent_socket,
                                           st.rec.info.name);
                    progress(sink, "agent", "waiting for the guest agent");
                    auto boot_timeout_s = st.deps.config->boot_timeout_s;
                    std::uint32_t timeout_ms = boot_timeout_s * 1000;
                    // The deadline is this actor's own timer: it fires even
                    // if the agent actor is stuck on the guest's channel
                    // (whose own deadline, a second later, is a backstop).
                    self
                      ->request(st.agent, std::chrono::milliseconds(timeout_ms),
                                atom::ready_v, timeout_ms + 1000)
                      .then(
                        [=](agent_health&) mutable {
                          // The guest answers; the VM is not marked running.
                          pause_point("create.before_ready");
                          auto& st = self->state;
                          st.state = vm_state::running;
                          st.rec.info.boot_ms = static_cast<std::uint64_t>(
                            std::chrono::duration_cast<
                              std::chrono::milliseconds>(clock::now() - t0)
                              .count());
                          st.rec.info.started_at = now_rfc3339();
                          timing->mark("agent");
                          forget_host_files(self);
                          st.rec.info.stages = timing->stages;
                          persist(self);
                          log::info("vm", "{}: running (pid {}, ready in {} ms)",
                                    vm_name(self), st.rec.info.pid,
                                    st.rec.info.boot_ms);
                          publish_name(self);
                          rp.deliver(st.rec.info);
                          end_op(self);
                        },
                        [=](caf::error& err) {
                          fail_boot(self, rp, err, boot_timeout_s);
                        });
                  },
                  [=](caf::error& err) { fail_start(self, rp, err); });
              }, [=](caf::error err) { fail_start(self, rp, std::move(err)); });
            },
            [=](caf::error& err) { fail_start(self, rp, err); });
      },
      [=](caf::error& err) { fail_start(self, rp, err); });
}

} // namespace banger::vm_detail
