#include "actors/vm_manager.hpp"

#include <filesystem>
#include <map>
#include <set>

#include <caf/all.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <unistd.h>

#include "actors/blocking.hpp"
#include "services/error.hpp"
#include "services/ipam.hpp"
#include "services/lifecycle.hpp"
#include "services/log.hpp"
#include "services/names.hpp"
#include "services/pause_point.hpp"
#include "services/timefmt.hpp"
#include "services/vm_identity.hpp"
#include "services/vm_reconcile.hpp"
#include "services/work_disk.hpp"

namespace banger {

namespace {

struct manager_data {
  [[maybe_unused]] static inline const char* name = "vm_manager";
  std::shared_ptr<const daemon_config> config;
  std::shared_ptr<vmm_driver> driver;
  store_actor store;
  std::map<std::string, vm_actor> vms;
  std::map<std::string, vm_info> views;
  /// Names whose create is under way: taken, but no actor yet.
  std::set<std::string> reserved;
  vm_network net;
  /// Guest addresses of creates under way.
  std::set<std::string> reserved_ips;
};

using self_ptr = vm_manager_actor::stateful_pointer<manager_data>;

caf::error no_such_vm(const std::string& name) {
  return make_error(ec::not_found,
                    "no VM named \"" + name + "\" (see: banger vm list)");
}

vm_deps deps_of(self_ptr self) {
  auto& st = self->state;
  return vm_deps{st.config, st.driver, st.store,
                 caf::actor_cast<vm_manager_actor>(self), st.net};
}

/// Checks the spec and fills in defaults. Returns an error sentence naming
/// the offending input.
/// The limits of create and set; zeros are not checked (set: unchanged).
caf::error check_resources(const daemon_config& cfg, std::uint32_t vcpu,
                           std::uint32_t memory_mib, std::uint64_t disk_bytes) {
  if (vcpu > cfg.max_vcpu)
    return make_error(ec::invalid_argument,
                      "--vcpu " + std::to_string(vcpu) + " is too many: use 1 to "
                        + std::to_string(cfg.max_vcpu));
  if (memory_mib != 0
      && (memory_mib < cfg.min_memory_mib || memory_mib > cfg.max_memory_mib))
    return make_error(ec::invalid_argument,
                      "--memory " + std::to_string(memory_mib)
                        + " MiB is out of range: use "
                        + std::to_string(cfg.min_memory_mib) + " to "
                        + std::to_string(cfg.max_memory_mib) + " MiB");
  if (disk_bytes != 0)
    if (auto why = check_disk_size(disk_bytes); !why.empty())
      return make_error(ec::invalid_argument, why);
  return {};
}

caf::expected<vm_spec> normalize(self_ptr self, vm_spec spec) {
  auto& st = self->state;
  auto& cfg = *st.config;
  if (spec.name.empty()) {
    spec.name = generate_vm_name([&](const std::string& n) {
      return st.vms.count(n) != 0 || st.reserved.count(n) != 0;
    });
  } else if (auto why = validate_vm_name(spec.name); !why.empty()) {
    return make_error(ec::invalid_argument, why);
  }
  if (spec.vcpu == 0)
    spec.vcpu = cfg.default_vcpu;
  if (spec.memory_mib == 0)
    spec.memory_mib = cfg.default_memory_mib;
  if (spec.disk_bytes == 0)
    spec.disk_bytes = cfg.default_disk_bytes;
  if (auto err = check_resources(cfg, spec.vcpu, spec.memory_mib, spec.disk_bytes))
    return err;
  if (spec.image.empty())
    spec.image = cfg.default_image;
  if (spec.nat && !st.net.enabled())
    return make_error(ec::unavailable,
                      "--nat needs networking, and bangerd runs without "
                      "banger-helper (start the daemon as root: sudo banger "
                      "daemon start; see: banger doctor)");
  if (st.vms.count(spec.name) != 0 || st.reserved.count(spec.name) != 0)
    return make_error(ec::already_exists,
                      "a VM named \"" + spec.name
                        + "\" already exists (see: banger vm show "
                        + spec.name + ")");
  return spec;
}

/// The next free guest address ("" without networking); reserved until
/// the create ends. ec::unavailable when the subnet is full.
caf::expected<std::string> reserve_ip(self_ptr self) {
  auto& st = self->state;
  if (!st.net.enabled())
    return std::string{};
  auto bridge = parse_ipv4_cidr(st.net.bridge_cidr);
  if (!bridge)
    return make_error(ec::internal, "the bridge address " + st.net.bridge_cidr
                                      + " is malformed (this is a bug in banger)");
  auto used = st.reserved_ips;
  for (auto& [name, info] : st.views)
    if (!info.ip.empty())
      used.insert(info.ip);
  auto ip = allocate_ip(*bridge, used);
  if (!ip)
    return make_error(ec::unavailable,
                      "no free guest address left in " + st.net.bridge_cidr
                        + " (" + std::to_string(guest_capacity(*bridge))
                        + " VMs); delete VMs you no longer need, or configure "
                          "a larger subnet in config.toml ([network] subnet)");
  st.reserved_ips.insert(to_string(*ip));
  return to_string(*ip);
}

void do_create(self_ptr self, caf::typed_response_promise<vm_info> rp,
               vm_spec spec, caf::actor sink, std::uint64_t stream) {
  auto name = spec.name;
  auto ip = reserve_ip(self);
  if (!ip) {
    rp.deliver(ip.error());
    return;
  }
  auto unreserve = [self, name, ip = *ip] {
    self->state.reserved.erase(name);
    self->state.reserved_ips.erase(ip);
  };
  auto fail = [rp, unreserve](caf::error err) mutable {
    unreserve();
    rp.deliver(std::move(err));
  };
  self->state.reserved.insert(name);
  auto store = self->state.store;
  self->request(store, caf::infinite, atom::image_v, atom::get_v, spec.image)
    .then(
      [=](image_info& img) mutable {
        auto kernel = spec.kernel.empty() ? img.kernel : spec.kernel;
        self->request(store, caf::infinite, atom::kernel_v, atom::get_v, kernel)
          .then(
            [=](kernel_info& k) mutable {
              vm_record rec;
              rec.info.id = random_id();
              rec.info.name = name;
              rec.info.state = to_string(vm_state::created);
              rec.info.image = img.name;
              rec.info.kernel = k.name;
              rec.info.vcpu = spec.vcpu;
              rec.info.memory_mib = spec.memory_mib;
              rec.info.disk_bytes = spec.disk_bytes;
              rec.info.nat = spec.nat;
              rec.info.host_files = spec.host_files;
              if (!ip->empty()) {
                rec.info.ip = *ip;
                rec.info.mac = mac_for(*parse_ipv4(*ip));
              }
              rec.info.created_at = now_rfc3339();
              rec.info.dir = self->state.config->paths.vms_dir() + "/"
                             + rec.info.id;
              rec.root_disk = rec.info.dir + "/root.qcow2";
              rec.work_disk = rec.info.dir + "/work.ext4";
              auto dir = rec.info.dir;
              auto paths = self->state.config->paths;
              bool networked = !rec.info.ip.empty();
              self
                ->request(blocking(self,
                                   [dir, paths, name, networked]() -> caf::expected<bool> {
                                     std::error_code ec;
                                     std::filesystem::create_directory(dir, ec);
                                     if (ec)
                                       return make_error(
                                         ec::unavailable,
                                         "cannot create " + dir + ": "
                                           + ec.message());
                                     // Until the create ends well: a daemon
                                     // that dies before undoes it at start.
                                     if (auto m = mark_creating(dir); !m) {
                                       std::filesystem::remove_all(dir, ec);
                                       return std::move(m.error());
                                     }
                                     // SSH needs the network: keys only then.
                                     if (networked)
                                       if (auto id = make_vm_identity(paths, dir, name); !id) {
                                         std::filesystem::remove_all(dir, ec);
                                         return std::move(id.error());
                                       }
                                     return true;
                                   }),
                          caf::infinite, atom::run_v)
                .then(
                  [=](bool) mutable {
                    self->request(store, caf::infinite, atom::create_v, rec)
                      .then(
                        [=](bool) mutable {
                          // The row is in; nothing else is.
                          pause_point("create.after_row");
                          auto vm = spawn_vm(self->home_system(),
                                             deps_of(self), rec);
                          self->state.vms.emplace(name, vm);
                          self->state.views[name] = rec.info;
                          unreserve();
                          // Undo: a create that failed leaves nothing.
                          auto undo = [=](caf::error err) mutable {
                            self
                              ->request(vm, caf::infinite, atom::del_v, true)
                              .then([=](bool) mutable { rp.deliver(err); },
                                    [=](caf::error&) mutable {
                                      rp.deliver(err);
                                    });
                          };
                          self->request(vm, caf::infinite, atom::start_v, sink,
                                        stream)
                            .then(
                              [=](vm_info& info) mutable {
                                // Done: the VM is no longer a create to undo.
                                self
                                  ->request(blocking(self,
                                                     [dir]() -> caf::expected<bool> {
                                                       if (auto r = clear_creating(dir); !r)
                                                         return std::move(r.error());
                                                       return true;
                                                     }),
                                            caf::infinite, atom::run_v)
                                  .then([=](bool) mutable { rp.deliver(info); },
                                        [=](caf::error& err) mutable { undo(err); });
                              },
                              [=](caf::error& err) mutable { undo(err); });
                        },
                        [=](caf::error& err) mutable {
                          // Undo the directory (in a worker: disk I/O).
                          self
                            ->request(blocking(self,
                                               [dir]() -> caf::expected<bool> {
                                                 std::error_code ec;
                                                 std::filesystem::remove_all(
                                                   dir, ec);
                                                 return true;
                                               }),
                                      caf::infinite, atom::run_v)
                            .then([=](bool) mutable { fail(err); },
                                  [=](caf::error&) mutable { fail(err); });
                        });
                  },
                  [=](caf::error& err) mutable { fail(err); });
            },
            [=](caf::error& err) mutable { fail(err); });
      },
      [=](caf::error& err) mutable { fail(err); });
}

vm_manager_actor::behavior_type
manager_impl(self_ptr self, std::shared_ptr<const daemon_config> config,
             std::shared_ptr<vmm_driver> driver, store_actor store,
             std::vector<vm_record> existing, vm_network net) {
  auto& st = self->state;
  st.net = std::move(net);
  st.config = std::move(config);
  st.driver = std::move(driver);
  st.store = std::move(store);
  for (auto& rec : existing) {
    auto vm = spawn_vm(self->home_system(), deps_of(self), rec);
    st.vms.emplace(rec.info.name, vm);
    st.views[rec.info.name] = rec.info;
    self->send(vm, atom::adopt_v);
  }
  self->set_exit_handler([self](caf::exit_msg& msg) {
    for (auto& [name, vm] : self->state.vms)
      self->send_exit(vm, msg.reason);
    self->quit(msg.reason);
  });
  return {
    [=](atom::create, vm_spec& spec, caf::actor sink,
        std::uint64_t stream) -> caf::result<vm_info> {
      auto checked = normalize(self, std::move(spec));
      if (!checked)
        return std::move(checked.error());
      auto rp = self->make_response_promise<vm_info>();
      do_create(self, rp, std::move(*checked), sink, stream);
      return rp;
    },
    [=](atom::list) {
      vm_list out;
      for (auto& [name, info] : self->state.views)
        out.vms.push_back(info);
      std::sort(out.vms.begin(), out.vms.end(),
                [](const vm_info& a, const vm_info& b) {
                  return std::tie(a.created_at, a.name)
                         < std::tie(b.created_at, b.name);
                });
      return out;
    },
    [=](atom::get, const std::string& name) -> caf::result<vm_info> {
      // The VM's own actor answers: it measures the disks' usage.
      auto it = self->state.vms.find(name);
      if (it == self->state.vms.end())
        return no_such_vm(name);
      return self->delegate(it->second, atom::get_v);
    },
    [=](atom::start, const std::string& name, caf::actor sink,
        std::uint64_t stream) -> caf::result<vm_info> {
      auto it = self->state.vms.find(name);
      if (it == self->state.vms.end())
        return no_such_vm(name);
      return self->delegate(it->second, atom::start_v, sink, stream);
    },
    [=](atom::stop, const std::string& name,
        std::uint32_t timeout_s) -> caf::result<vm_info> {
      auto it = self->state.vms.find(name);
      if (it == self->state.vms.end())
        return no_such_vm(name);
      return self->delegate(it->second, atom::stop_v, timeout_s);
    },
    [=](atom::exec, const std::string& name, exec_spec& spec, caf::actor sink,
        std::uint64_t stream) -> caf::result<exec_result> {
      auto it = self->state.vms.find(name);
      if (it == self->state.vms.end())
        return no_such_vm(name);
      return self->delegate(it->second, atom::exec_v, std::move(spec), sink,
                            stream);
    },
    [=](atom::kill, const std::string& name, std::int32_t signal) -> caf::result<vm_info> {
      auto it = self->state.vms.find(name);
      if (it == self->state.vms.end())
        return no_such_vm(name);
      return self->delegate(it->second, atom::kill_v, signal);
    },
    [=](atom::del, const std::string& name, bool force) -> caf::result<bool> {
      auto it = self->state.vms.find(name);
      if (it == self->state.vms.end())
        return no_such_vm(name);
      return self->delegate(it->second, atom::del_v, force);
    },
    [=](atom::put, vm_set_request& req) -> caf::result<vm_info> {
      auto it = self->state.vms.find(req.name);
      if (it == self->state.vms.end())
        return no_such_vm(req.name);
      if (auto err = check_resources(*self->state.config, req.vcpu, req.memory_mib,
                                     req.disk_bytes))
        return err;
      return self->delegate(it->second, atom::put_v, std::move(req));
    },
    [=](atom::ports, const std::string& name) -> caf::result<agent_ports_reply> {
      auto it = self->state.vms.find(name);
      if (it == self->state.vms.end())
        return no_such_vm(name);
      return self->delegate(it->second, atom::ports_v);
    },
    [=](atom::session, atom::start, const std::string& name,
        session_start_request& req) -> caf::result<session_info> {
      auto it = self->state.vms.find(name);
      if (it == self->state.vms.end())
        return no_such_vm(name);
      return self->delegate(it->second, atom::session_v, atom::start_v,
                            std::move(req));
    },
    [=](atom::session, atom::list,
        const std::string& name) -> caf::result<session_list> {
      auto it = self->state.vms.find(name);
      if (it == self->state.vms.end())
        return no_such_vm(name);
      return self->delegate(it->second, atom::session_v, atom::list_v);
    },
    [=](atom::session, atom::stop, const std::string& name,
        session_stop_request& req) -> caf::result<session_info> {
      auto it = self->state.vms.find(name);
      if (it == self->state.vms.end())
        return no_such_vm(name);
      return self->delegate(it->second, atom::session_v, atom::stop_v,
                            std::move(req));
    },
    [=](atom::session, atom::attach, const std::string& name,
        session_attach_request& req, caf::actor sink,
        std::uint64_t stream) -> caf::result<session_info> {
      auto it = self->state.vms.find(name);
      if (it == self->state.vms.end())
        return no_such_vm(name);
      return self->delegate(it->second, atom::session_v, atom::attach_v,
                            std::move(req), sink, stream);
    },
    [=](atom::status) {
      daemon_status s;
      s.version = BANGER_VERSION;
      s.pid = ::getpid();
      s.socket = self->state.config->paths.socket();
      s.state_dir = self->state.config->paths.state_dir;
      s.accel = self->state.driver->accel_description();
      s.network = self->state.config->network_note;
      s.uid = static_cast<std::int64_t>(::getuid());
      for (auto& [name, info] : self->state.views) {
        ++s.vms_total;
        if (info.state == to_string(vm_state::running))
          ++s.vms_running;
      }
      return s;
    },
    [=](atom::updated, vm_info& info) {
      if (self->state.vms.count(info.name) != 0)
        self->state.views[info.name] = std::move(info);
    },
    [=](atom::removed, const std::string& name) {
      self->state.vms.erase(name);
      self->state.views.erase(name);
    },
  };
}

} // namespace

vm_manager_actor spawn_vm_manager(caf::actor_system& sys,
                                  std::shared_ptr<const daemon_config> config,
                                  std::shared_ptr<vmm_driver> driver,
                                  store_actor store,
                                  std::vector<vm_record> existing,
                                  vm_network net) {
  return sys.spawn(manager_impl, std::move(config), std::move(driver),
                   std::move(store), std::move(existing), std::move(net));
}

} // namespace banger
